"""Drives `auditlake serve` with the ADBC Flight SQL driver (a client we did not write).

Usage: adbc_client.py URI TOKEN_A TOKEN_B QUERIES_JSON
Prints one JSON object with what the client saw; tests/it/flight.rs checks it.
"""
import json
import sys

import adbc_driver_flightsql.dbapi as flightsql
from adbc_driver_flightsql import DatabaseOptions

uri, tok_a, tok_b, queries = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])


def connect(token):
    return flightsql.connect(uri, db_kwargs={DatabaseOptions.AUTHORIZATION_HEADER.value: f"Bearer {token}"})


def cells(table):
    return [[None if v is None else str(v) for v in row.values()] for row in table.to_pylist()]


def error_of(fn):
    try:
        fn()
        return "allowed"
    except Exception as e:  # the driver raises its own error classes
        return f"{type(e).__name__}: {e}"


out = {}
with connect(tok_a) as conn:
    cur = conn.cursor()
    out["answers"] = []
    for q in queries:
        cur.execute(q)
        out["answers"].append(cells(cur.fetch_arrow_table()))
    # A prepared statement with a bound parameter.
    cur.execute("SELECT count(*) AS n FROM cert_create WHERE identity_user = $1", parameters=("alice",))
    out["prepared"] = cells(cur.fetch_arrow_table())
    objs = conn.adbc_get_objects(depth="tables").read_all().to_pylist()
    out["tables"] = sorted(
        t["table_name"]
        for c in objs
        for s in (c["catalog_db_schemas"] or [])
        for t in (s["db_schema_tables"] or [])
    )
    # Table-type filters as other clients send them (Grafana's plugin asks for "BASE TABLE").
    out["tables_by_type"] = {}
    for types in (["BASE TABLE"], ["TABLE"], ["VIEW"], ["table", "view"], ["SYSTEM TABLE"]):
        objs = conn.adbc_get_objects(depth="tables", table_types_filter=types).read_all().to_pylist()
        out["tables_by_type"][",".join(types)] = sorted(
            [t["table_name"], t["table_type"]]
            for c in objs
            for s in (c["catalog_db_schemas"] or [])
            for t in (s["db_schema_tables"] or [])
        )
    cur.execute("SELECT count(*) FROM events WHERE tenant_id = 'globex'")
    out["other_tenant_rows"] = cells(cur.fetch_arrow_table())
    out["write"] = error_of(lambda: cur.execute("CREATE TABLE x AS SELECT 1"))
    out["bad_sql"] = error_of(lambda: cur.execute("SELECT nope FROM cert_create"))


def bad_token():
    with connect("not-a-token") as c:
        cu = c.cursor()
        cu.execute("SELECT 1")
        cu.fetchall()


out["bad_token"] = error_of(bad_token)


# Basic auth handshake: user = the token's name, password = the token; the server answers with
# the bearer the driver then uses.
def basic(user, password):
    with flightsql.connect(
        uri,
        db_kwargs={"username": user, "password": password},
    ) as c:
        cu = c.cursor()
        cu.execute("SELECT DISTINCT tenant_id FROM events")
        return sorted(r[0] for r in cu.fetchall())


out["basic"] = basic("alice", tok_a)
out["basic_wrong_user"] = error_of(lambda: basic("mallory", tok_a))
with connect(tok_b) as conn:
    cur = conn.cursor()
    cur.execute("SELECT DISTINCT tenant_id FROM events")
    out["b_tenants"] = sorted(r[0] for r in cur.fetchall())


# Many clients at once, half per tenant: each sees only its own tenant.
def tenants_seen(token):
    with connect(token) as c:
        cu = c.cursor()
        cu.execute("SELECT DISTINCT tenant_id FROM events")
        return sorted(r[0] for r in cu.fetchall())


from concurrent.futures import ThreadPoolExecutor

tokens = [tok_a if i % 2 == 0 else tok_b for i in range(50)]
with ThreadPoolExecutor(max_workers=16) as pool:
    seen = list(pool.map(tenants_seen, tokens))
out["concurrent"] = [[t == tok_a, s] for t, s in zip(tokens, seen)]
print(json.dumps(out))
