"""A hostile Flight SQL client (pyarrow.flight and the ADBC driver, clients we did not write):
each mode tries one way of hurting `auditlake serve` and prints one JSON object of what it
saw; tests/it/hostile_flight.rs checks it.

Usage: hostile.py MODE URI TOKEN [ARG]
  sql FILE        run the SQL in FILE through ADBC: {"rows": [...]} or {"error", "secs"}
  forged          forged/random prepared handles and tickets: {"results": [[what, error]...]}
  disconnect FILE start the SQL in FILE, read one batch, vanish: {"read_batches": n}
  flood MB        bind parameters to a real prepared statement with MB MiB of batches
  unauth          calls without a token, with a bad one, with bad Basic credentials
  soak SECS TENANT_TOKENS_JSON  50 threads for SECS seconds, hostile queries mixed in
"""
import json
import os
import sys
import time

import pyarrow as pa
import pyarrow.flight as fl

mode, uri = sys.argv[1], sys.argv[2]
token = sys.argv[3] if len(sys.argv) > 3 else ""
arg = sys.argv[4] if len(sys.argv) > 4 else ""


# --- a minimal protobuf writer/reader for the Flight SQL messages we send by hand ----------
def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field(num, data):
    return varint((num << 3) | 2) + varint(len(data)) + data


def any_pack(name, msg):
    url = ("type.googleapis.com/arrow.flight.protocol.sql." + name).encode()
    return field(1, url) + field(2, msg)


def fields(buf):
    """The length-delimited fields of a message, {number: bytes}."""
    out, i = {}, 0
    while i < len(buf):
        tag, i = read_varint(buf, i)
        num, wt = tag >> 3, tag & 7
        if wt == 2:
            n, i = read_varint(buf, i)
            out[num] = buf[i : i + n]
            i += n
        elif wt == 0:
            _, i = read_varint(buf, i)
        else:
            raise ValueError(f"wire type {wt}")
    return out


def read_varint(buf, i):
    shift = n = 0
    while True:
        b = buf[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, i


def opts(tok=None):
    tok = token if tok is None else tok
    return fl.FlightCallOptions(headers=[(b"authorization", f"Bearer {tok}".encode())], timeout=120)


def err(e):
    return f"{type(e).__name__}: {e}"


def prepared_cmd(handle):
    return any_pack("CommandPreparedStatementQuery", field(1, handle))


def prepare(client, sql):
    body = any_pack("ActionCreatePreparedStatementRequest", field(1, sql.encode()))
    res = list(client.do_action(fl.Action("CreatePreparedStatement", body), opts()))
    result = fields(fields(res[0].body.to_pybytes())[2])
    return result[1]


def adbc_rows(tok, sql):
    import adbc_driver_flightsql.dbapi as flightsql
    from adbc_driver_flightsql import DatabaseOptions

    kwargs = {DatabaseOptions.AUTHORIZATION_HEADER.value: f"Bearer {tok}"}
    with flightsql.connect(uri, db_kwargs=kwargs) as conn:
        cur = conn.cursor()
        cur.execute(sql)
        return [[None if v is None else str(v) for v in r] for r in cur.fetchall()]


def statement_reader(client, sql):
    desc = fl.FlightDescriptor.for_command(any_pack("CommandStatementQuery", field(1, sql.encode())))
    info = client.get_flight_info(desc, opts())
    return client.do_get(info.endpoints[0].ticket, opts())


if mode == "sql":
    sql = open(arg).read()
    t0 = time.monotonic()
    try:
        print(json.dumps({"rows": adbc_rows(token, sql), "secs": time.monotonic() - t0}))
    except Exception as e:  # the driver raises its own error classes
        print(json.dumps({"error": err(e), "secs": time.monotonic() - t0}))

elif mode == "forged":
    client = fl.FlightClient(uri)
    good = prepare(client, "SELECT count(*) FROM events WHERE tenant_id = $1")
    rnd = os.urandom
    flipped = bytearray(good)
    flipped[-2] ^= 1
    # The old unsigned JSON handle, with junk where Arrow IPC parameters would be.
    old = json.dumps({"sql": "SELECT 1", "tenant": "acme", "params_ipc_hex": "ff" * 64}).encode()
    cases = [
        ("random handle", rnd(64)),
        ("empty handle", b""),
        ("old json handle", old),
        ("flipped byte", bytes(flipped)),
        ("truncated", good[:-3]),
        ("huge handle", rnd(3 * 1024 * 1024)),
    ]
    results = []
    for what, h in cases:
        for call in ("do_get", "get_flight_info", "do_put"):
            try:
                if call == "do_get":
                    client.do_get(fl.Ticket(prepared_cmd(h)), opts()).read_all()
                elif call == "get_flight_info":
                    client.get_flight_info(fl.FlightDescriptor.for_command(prepared_cmd(h)), opts())
                else:
                    schema = pa.schema([("$1", pa.string())])
                    w, r = client.do_put(fl.FlightDescriptor.for_command(prepared_cmd(h)), schema, opts())
                    w.write_batch(pa.record_batch([pa.array(["acme"])], schema=schema))
                    w.done_writing()
                    r.read()
                    w.close()
                results.append([what, call, "allowed"])
            except Exception as e:
                results.append([what, call, err(e)])
    # Random bytes as tickets and as commands.
    for i in range(20):
        b = rnd(1 + i * 37)
        for call in ("ticket", "command"):
            try:
                if call == "ticket":
                    client.do_get(fl.Ticket(b), opts()).read_all()
                else:
                    client.get_flight_info(fl.FlightDescriptor.for_command(b), opts())
                results.append(["random bytes", call, "allowed"])
            except Exception as e:
                results.append(["random bytes", call, err(e)])
    print(json.dumps({"results": results}))

elif mode == "disconnect":
    sql = open(arg).read()
    client = fl.FlightClient(uri)
    reader = statement_reader(client, sql)
    n = 0
    for _chunk in reader:
        n += 1
        if n >= 1:
            break
    print(json.dumps({"read_batches": n}), flush=True)
    # Vanish without closing anything, as a crashed client would.
    os._exit(0)

elif mode == "flood":
    client = fl.FlightClient(uri)
    handle = prepare(client, "SELECT count(*) FROM events WHERE tenant_id = $1")
    schema = pa.schema([("$1", pa.string())])
    batch = pa.record_batch([pa.array(["x" * 1024] * 1024)], schema=schema)  # ~1 MiB
    sent = 0
    t0 = time.monotonic()
    try:
        w, r = client.do_put(fl.FlightDescriptor.for_command(prepared_cmd(handle)), schema, opts())
        for _ in range(int(arg)):
            w.write_batch(batch)
            sent += 1
        w.done_writing()
        r.read()
        w.close()
        print(json.dumps({"sent_mb": sent, "error": None}))
    except Exception as e:
        print(json.dumps({"sent_mb": sent, "error": err(e), "secs": time.monotonic() - t0}))

elif mode == "unauth":
    client = fl.FlightClient(uri)
    desc = fl.FlightDescriptor.for_command(any_pack("CommandStatementQuery", field(1, b"SELECT 1")))
    out = {}
    for what, o in [
        ("none", fl.FlightCallOptions()),
        ("bad", opts("not-a-token")),
        ("expired", opts(arg)),
        ("basic", fl.FlightCallOptions(headers=[(b"authorization", b"Basic bm9ib2R5Om5vcGU=")])),
    ]:
        try:
            client.get_flight_info(desc, o)
            out[what] = "allowed"
        except Exception as e:
            out[what] = err(e)
    print(json.dumps(out))

elif mode == "soak":
    import threading

    secs = float(arg)
    tenants = json.loads(sys.argv[5])  # [[tenant, [token, ...]], ...]
    hostile = [
        "SELECT count(*) FROM generate_series(1, 9223372036854775807)",
        "SELECT array_agg(x) IS NULL FROM generate_series(1, 100000000) t(x)",
        "SELECT " + "(" * 300 + "1" + ")" * 300,
        "SELECT json_extract_scalar('" + "[" * 20000 + "]" * 20000 + "', '$" + ".a" * 20000 + "')",
    ]
    stats = {"good_ok": 0, "good_wrong": [], "good_refused": {}, "hostile": {}, "disconnects": 0}
    lock = threading.Lock()
    stop = time.monotonic() + secs

    def note(key, msg):
        code = msg.split(":")[0][:60]
        with lock:
            stats[key][code] = stats[key].get(code, 0) + 1

    def worker(i):
        tenant, toks = tenants[i % len(tenants)]
        tok = toks[(i // len(tenants)) % len(toks)]
        n = 0
        while time.monotonic() < stop:
            n += 1
            if n % 7 == 0:
                sql = hostile[(i + n) % len(hostile)]
                try:
                    adbc_rows(tok, sql)
                    note("hostile", "answered")
                except Exception as e:
                    note("hostile", err(e))
                continue
            if n % 11 == 0:
                try:
                    c = fl.FlightClient(uri)
                    o = fl.FlightCallOptions(headers=[(b"authorization", f"Bearer {tok}".encode())])
                    desc = fl.FlightDescriptor.for_command(
                        any_pack("CommandStatementQuery", field(1, b"SELECT * FROM generate_series(1, 100000000)"))
                    )
                    rd = c.do_get(c.get_flight_info(desc, o).endpoints[0].ticket, o)
                    next(iter(rd))
                    c.close()
                    with lock:
                        stats["disconnects"] += 1
                except Exception as e:
                    note("hostile", err(e))
                continue
            try:
                rows = adbc_rows(tok, "SELECT DISTINCT tenant_id FROM events")
                if rows == [[tenant]]:
                    with lock:
                        stats["good_ok"] += 1
                else:
                    with lock:
                        stats["good_wrong"].append([tenant, rows])
            except Exception as e:
                note("good_refused", err(e))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps(stats))
