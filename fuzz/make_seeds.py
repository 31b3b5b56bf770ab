#!/usr/bin/env python3
"""Writes the fuzz seeds (fuzz/seeds/<target>/) from the repository's own inputs: the four
sources' real records (tests/sigma/events), the fixture lake, the SQL of sql/ and tests/slt,
the config examples. Re-run after those change; the output is committed so the stable replay
test (tests/it/fuzz.rs) runs every seed through every target on CI.

Each target's input format is described atop its function in fuzz/harness.rs.
"""
import gzip
import hashlib
import json
import pathlib
import re
import shutil

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "fuzz" / "seeds"


def put(target, data):
    if isinstance(data, str):
        data = data.encode()
    d = OUT / target
    d.mkdir(parents=True, exist_ok=True)
    (d / hashlib.sha1(data).hexdigest()[:16]).write_bytes(data)


def lines(path, n):
    with open(ROOT / path) as f:
        return [l.rstrip("\n") for l in f if l.strip()][:n]


def records():
    out = []
    for src in ("teleport", "cloudtrail", "github", "okta"):
        out += lines(f"tests/sigma/events/{src}.ndjson", 6)
    out += lines("fixtures/lake/acme.ndjson", 6)
    return out


def main():
    if OUT.exists():
        shutil.rmtree(OUT)
    recs = records()
    ct = [json.loads(l) for l in lines("tests/sigma/events/cloudtrail.ndjson", 3)]

    # decode: mode byte (source forced or not, window, structure-aware), then the text.
    for i, r in enumerate(recs):
        put("decode", bytes([i % 5]) + r.encode())
    put("decode", b"\x00" + json.dumps({"Records": ct}).encode())
    put("decode", b"\x00" + json.dumps(ct).encode())
    put("decode", b"\x00" + json.dumps([{"Records": ct}]).encode())
    put("decode", b"\x40" + recs[0].encode())
    for t in range(4):
        put("decode", bytes([0x80, t, 3, 0]) + b"2024-13-45T99:00:00Z")
        put("decode", bytes([0x80, t, 7, 2]) + b"\xff\xff\xff\xff\xff\xff\xff\x7f")
        put("decode", bytes([0x80, t, 1, 9]) + b"x")

    # split: mode byte (bit 0 gzip, bits 1-2 limits), then the file.
    ndjson = "\n".join(recs[:6]) + "\n"
    pretty = json.dumps({"Records": ct}, indent=2)
    for mode in range(8):
        put("split", bytes([mode]) + ndjson.encode())
    put("split", b"\x06" + pretty.encode())
    put("split", b"\x07" + pretty.encode())
    put("split", b"\x06" + json.dumps(ct, indent=1).encode())
    put("split", b"\x06\n\n" + recs[0].encode() + b"\r\n\r\n" + recs[1].encode())
    put("split", b"\x00" + b"x" * 300 + b"\n" + recs[2].encode() + b"\n")
    put("split", b"\x04" + recs[0].encode() + b"\n\xff\xfe\n" + recs[1].encode())
    put("split", b"\x06" + gzip.compress(ndjson.encode()) + b"garbage")
    put("split", b"\x06" + gzip.compress(ndjson.encode())[:40])

    # sqs_message: body NUL attributes NUL payload.
    def sqs(body, attrs="", payload=b""):
        put("sqs_message", body.encode() + b"\0" + attrs.encode() + b"\0" + payload)

    sqs(recs[0])
    sqs(recs[0], "tenant_id=globex")
    sqs(recs[0], "tenant_id=initech")
    sqs(recs[6], "event_source=cloudtrail")
    sqs(json.dumps([json.loads(r) for r in recs[:3]]))
    sqs(json.dumps({"Records": ct}))
    sqs(json.dumps({"Type": "Notification", "Message": recs[0]}))
    sqs(json.dumps({"path": "big/one.json"}), "payload_type=s3_event", recs[0].encode())
    sqs(json.dumps({"path": "../../etc/passwd"}), "payload_type=s3_event", b"{}")
    sqs(
        json.dumps({"s3Bucket": "trail-bucket", "s3ObjectKey": ["AWSLogs/1/CloudTrail/a.json.gz"]}),
        "gz=1",
        json.dumps({"Records": ct}).encode(),
    )
    sqs(
        json.dumps({"s3Bucket": "bound-bucket", "s3ObjectKey": ["AWSLogs/2/x.json"]}),
        "tenant_id=acme",
        json.dumps({"Records": ct}).encode(),
    )
    sqs(json.dumps({"s3Bucket": "evil-bucket", "s3ObjectKey": ["AWSLogs/a"]}))

    # trino_udf: function index, then NUL-separated arguments (order of UDFS in harness.rs).
    udfs = [
        ("json_extract_scalar", [recs[0], "$.user"]),
        ("json_extract_scalar", ['{"a":{"b":[1,"x"]}}', '$["a"].b[1]']),
        ("json_extract", [recs[0], "$"]),
        ("json_parse", ['[1,{"a":null}]']),
        ("json_format", ['{"a":1}']),
        ("json_array_length", ["[1,2,3]"]),
        ("json_size", ['{"a":[1,2]}', "$.a"]),
        ("json_array_contains", ['["x","y"]', "y"]),
        ("from_iso8601_timestamp", ["2024-05-01T10:20:30.123+02:00"]),
        ("from_iso8601_date", ["2024-05-01"]),
        ("to_iso8601", ["1714558830123"]),
        ("date_diff", ["day", "0", "1714558830123"]),
        ("date_add", ["day", "3", "1714558830123"]),
        ("date_add", ["month", "-14", "1714558830123"]),
        ("date_format", ["1714558830123", "%Y-%m-%d %H:%i:%s"]),
        ("format_datetime", ["1714558830123", "yyyy-MM-dd'T'HH:mm:ss.SSS"]),
        ("date_parse", ["2024-05-01 10:20:30", "%Y-%m-%d %H:%i:%s"]),
        ("parse_datetime", ["2024-05-01T10:20", "yyyy-MM-dd'T'HH:mm"]),
        ("from_unixtime", ["1714558830.5"]),
        ("to_unixtime", ["1714558830123"]),
        ("regexp_extract", ["user alice logged in", "user (\\w+)"]),
        ("regexp_extract", ["a1b22c333", "([a-z])(\\d+)", "2"]),
        ("url_extract_host", ["https://user@example.com:8443/p/a?x=1#f"]),
        ("url_extract_path", ["https://example.com/p/a?x=1"]),
        ("url_extract_protocol", ["https://example.com"]),
        ("url_extract_query", ["https://example.com/?x=1&y=2"]),
        ("url_extract_fragment", ["https://example.com/#frag"]),
        ("url_extract_port", ["https://example.com:8443/"]),
        ("url_extract_parameter", ["https://example.com/?x=1&y=2", "y"]),
        ("great_circle_distance", ["52.5", "13.4", "40.7", "-74.0"]),
    ]
    order = [
        "json_extract_scalar", "json_extract", "json_parse", "json_format", "json_array_length",
        "json_size", "json_array_contains", "from_iso8601_timestamp", "from_iso8601_date",
        "to_iso8601", "date_diff", "date_add", "date_format", "format_datetime", "date_parse",
        "parse_datetime", "from_unixtime", "to_unixtime", "regexp_extract", "regexp_extract3",
        "url_extract_host", "url_extract_path", "url_extract_protocol", "url_extract_query",
        "url_extract_fragment", "url_extract_port", "url_extract_parameter",
        "great_circle_distance",
    ]
    for name, args in udfs:
        key = "regexp_extract3" if name == "regexp_extract" and len(args) == 3 else name
        put("trino_udf", bytes([order.index(key)]) + "\0".join(args).encode())

    # sql_plan: scripts.
    for f in sorted((ROOT / "sql" / "views").glob("*.sql"))[:12]:
        body = f.read_text()
        put("sql_plan", f"SELECT * FROM ({body}) v LIMIT 5")
    for f in sorted((ROOT / "sql" / "detections").glob("*.sql")):
        put("sql_plan", f.read_text())
    for f in sorted((ROOT / "sql" / "reports").glob("*.yaml")):
        for m in re.finditer(r"^\s*sql: (.*)$", f.read_text(), re.M):
            put("sql_plan", m.group(1))
    for f in sorted((ROOT / "tests" / "slt").glob("*.slt")):
        blocks = f.read_text().split("\n\n")
        for b in blocks[:40]:
            ls = b.strip().splitlines()
            if ls and ls[0].startswith("query"):
                q = []
                for l in ls[1:]:
                    if l.strip() == "----":
                        break
                    q.append(l)
                if q:
                    put("sql_plan", "\n".join(q))
    put("sql_plan", "SELECT 1; SELECT 'a;b' AS \"c;d\" -- ; \n; /* ; */ SELECT 2")
    put("sql_plan", "CREATE TABLE t AS SELECT 1; COPY (SELECT 1) TO '/tmp/x'; SET x = 1")
    put("sql_plan", "WITH a AS (SELECT * FROM events) SELECT count(*) FROM a WHERE uid LIKE '%x%'")

    # flight_handle: mode, then bytes.
    def any_msg(type_name, payload):
        def ld(field, b):
            return bytes([field << 3 | 2]) + varint(len(b)) + b

        return ld(1, f"type.googleapis.com/arrow.flight.protocol.sql.{type_name}".encode()) + ld(
            2, payload
        )

    def varint(n):
        out = b""
        while True:
            b = n & 0x7F
            n >>= 7
            if n:
                out += bytes([b | 0x80])
            else:
                return out + bytes([b])

    put("flight_handle", b"\x00alh1" + b"\x00" * 32 + b'{"sql":"SELECT 1","tenant":"acme"}')
    put("flight_handle", b'\x01{"sql":"SELECT 1","tenant":"acme"}')
    put("flight_handle", b'\x01{"sql":"SELECT $1","tenant":"acme","params_ipc_hex":"ffff"}')
    put("flight_handle", b'\x01{"sql":"SELECT 1","tenant":"globex"}')
    sql = b"SELECT count(*) FROM events"
    put("flight_handle", b"\x02" + any_msg("TicketStatementQuery", b"\x0a" + varint(len(sql)) + sql))
    put("flight_handle", b"\x02" + any_msg("CommandPreparedStatementQuery", b"\x0a\x04alh1"))

    # flight_put: mode 1 = a valid stream (string NUL number NUL flips).
    put("flight_put", b"\x01alice\x0042\x00")
    put("flight_put", b"\x01\x00-1\x00\x80\x00\x10\xff\x01\x00\x00\x01")
    put("flight_put", b"\x00\x05\x0a\x03abc")

    # config: the README's example and variations.
    base = """identity_activity_center:
  s3: s3://lake-bucket/data/
  sqs_queue_url: https://sqs.us-east-1.amazonaws.com/123/q
  tenant: acme
  tenants: [globex]
  batch_max_items: 20000
  batch_max_interval: 60s
  cloudtrail_buckets:
    - s3://trail/AWSLogs/
    - {url: s3://bound/AWSLogs/, tenant: globex}
"""
    put("config", base)
    put("config", base + "  visibility_timeout: 12h\n  lease_ttl: 30s\n")
    put("config", base.replace("60s", "100000000000000h"))
    put("config", base + "  event_time_min: 2020-01-01\n  event_time_max: 2030-01-01\n")
    put("config", "identity_activity_center:\n  s3: /tmp/x\n  tenant: ../etc\n")
    put("config", "other: 1\n")
    put("config", "a: &a [*a]\n")


if __name__ == "__main__":
    main()
