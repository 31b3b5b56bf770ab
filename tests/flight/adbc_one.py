"""One query through the ADBC Flight SQL driver; prints {"rows": [...]} or {"error": "..."}.

Usage: adbc_one.py URI TOKEN SQL [ROOT_CERT_PEM_FILE]
With a root certificate the connection verifies the server's TLS certificate against it.
"""
import json
import sys

import adbc_driver_flightsql.dbapi as flightsql
from adbc_driver_flightsql import DatabaseOptions

uri, token, sql = sys.argv[1], sys.argv[2], sys.argv[3]
kwargs = {DatabaseOptions.AUTHORIZATION_HEADER.value: f"Bearer {token}"}
if len(sys.argv) > 4:
    kwargs[DatabaseOptions.TLS_ROOT_CERTS.value] = open(sys.argv[4]).read()
try:
    with flightsql.connect(uri, db_kwargs=kwargs) as conn:
        cur = conn.cursor()
        cur.execute(sql)
        rows = [[None if v is None else str(v) for v in r] for r in cur.fetchall()]
    print(json.dumps({"rows": rows}))
except Exception as e:  # the driver raises its own error classes
    print(json.dumps({"error": f"{type(e).__name__}: {e}"}))
