"""Calls one Flight action with pyarrow's Flight client (a client we did not write).

Usage: flight_actions.py URI TOKEN ACTION [BODY]
Prints {"result": <the JSON the action returned>}, {"actions": [...]} for ACTION=list, or
{"error": "..."}.
"""
import json
import sys

import pyarrow.flight as fl

uri, token, action = sys.argv[1], sys.argv[2], sys.argv[3]
body = sys.argv[4].encode() if len(sys.argv) > 4 else b""
client = fl.FlightClient(uri)
opts = fl.FlightCallOptions(headers=[(b"authorization", f"Bearer {token}".encode())])
try:
    if action == "list":
        print(json.dumps({"actions": sorted(a.type for a in client.list_actions(opts))}))
    else:
        results = list(client.do_action(fl.Action(action, body), opts))
        print(json.dumps({"result": json.loads(results[0].body.to_pybytes())}))
except Exception as e:  # pyarrow raises ArrowInvalid for INVALID_ARGUMENT, not a FlightError
    print(json.dumps({"error": f"{type(e).__name__}: {e}"}))
