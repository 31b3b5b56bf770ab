"""Independent oracle: computes seed 001's queries with DuckDB straight from raw Teleport JSON.

No auditlake code or view is used: each Access Monitoring view is re-derived here from the
event JSON with DuckDB's own JSON functions, so a bug in our views, functions or planner
rewrites shows up as a difference. Prints {"name": [[cells...], ...]} as JSON.
Usage: python seed_queries_duckdb.py EVENTS.ndjson
"""
import json
import sys

import duckdb

path = sys.argv[1]
con = duckdb.connect()
con.execute("SET threads = 2")
con.execute(
    "CREATE TABLE raw AS SELECT json AS j FROM read_ndjson_objects(?)", [path]
)
# Teleport events only; event_date is the UTC date of `time`.
con.execute(
    """
    CREATE TABLE ev AS
    SELECT j,
           json_extract_string(j, '$.event') AS event,
           CAST(CAST(json_extract_string(j, '$.time') AS TIMESTAMPTZ) AT TIME ZONE 'UTC' AS DATE) AS event_date
    FROM raw WHERE json_extract_string(j, '$.code') IS NOT NULL
    """
)

def s(path):
    return f"json_extract_string(j, '{path}')"

def arr_is_null(path):
    # Teleport omits empty arrays; a present [] has cardinality 0 (not NULL).
    return f"(json_extract(j, '{path}') IS NULL OR json_type(json_extract(j, '{path}')) = 'NULL')"

def ts(path):
    return f"CAST({s(path)} AS TIMESTAMPTZ)"

weak = f"{arr_is_null('$.access_requests')} AND {s('$.with_mfa')} IS NULL AND {s('$.impersonator')} IS NULL AND {s('$.trusted_device.device_id')} IS NULL"

Q = {
    "etc_passwd": f"SELECT DISTINCT {s('$.user')} FROM ev WHERE event='exec' AND {s('$.command')} LIKE '%/etc/passwd%'",
    "unique_ips": f"SELECT CAST(event_date AS VARCHAR), {s('$.identity.user')}, COUNT(DISTINCT {s('$.identity.client_ip')}) FROM ev WHERE event='cert.create' GROUP BY 1, 2",
    "multi_ip": f"SELECT * FROM (SELECT CAST(event_date AS VARCHAR) d, {s('$.identity.user')} u, COUNT(DISTINCT {s('$.identity.client_ip')}) c FROM ev WHERE event='cert.create' GROUP BY 1, 2) WHERE c > 1",
    "annie_ips": f"SELECT DISTINCT {s('$.identity.client_ip')} FROM ev WHERE event='cert.create' AND {s('$.identity.user')} = 'admin-annie'",
    "db_weak": f"SELECT CAST(event_date AS VARCHAR), count(*), {s('$.user')} FROM ev WHERE event='db.session.start' AND {weak} GROUP BY 1, 3",
    "ssh_weak": f"SELECT CAST(event_date AS VARCHAR), count(*), {s('$.user')} FROM ev WHERE event='session.start' AND {s('$.proto')}='ssh' AND {weak} GROUP BY 1, 3",
    "kube_weak": f"SELECT CAST(event_date AS VARCHAR), count(*), {s('$.user')} FROM ev WHERE event='kube.request' AND {weak} GROUP BY 1, 3",
    "db_postgres": f"SELECT CAST(event_date AS VARCHAR), count(*), {s('$.user')} FROM ev WHERE event='db.session.start' AND {s('$.db_protocol')}='postgres' AND {s('$.db_user')}='postgres' GROUP BY 1, 3",
    "kube_exec": f"SELECT CAST(event_date AS VARCHAR), count(*), {s('$.user')} FROM ev WHERE event='exec' AND {s('$.proto')}='kube' GROUP BY 1, 3",
    "long_certs": f"SELECT CAST(event_date AS VARCHAR), count(*), {s('$.identity.user')} FROM ev WHERE event='cert.create' AND {ts('$.identity.expires')} - {ts('$.time')} > INTERVAL 1 DAY GROUP BY 1, 3",
    "long_tokens": f"SELECT CAST(event_date AS VARCHAR), count(*), {s('$.node_name')}, {s('$.host_id')} FROM ev WHERE event='instance.join' AND {ts('$.token_expires')} - {ts('$.time')} > INTERVAL 1 DAY GROUP BY 1, 3, 4",
    "root_ssh": f"SELECT CAST(event_date AS VARCHAR), count(*), {s('$.user')} FROM ev WHERE event='session.start' AND {s('$.login')}='root' GROUP BY 1, 3",
    "kube_masters": f"SELECT CAST(event_date AS VARCHAR), count(*), {s('$.user')} FROM ev WHERE event='kube.request' AND list_contains(CAST(json_extract(j, '$.kubernetes_groups') AS VARCHAR[]), 'system:masters') GROUP BY 1, 3",
}

out = {}
for name, sql in Q.items():
    rows = con.execute(sql).fetchall()
    out[name] = sorted([[None if c is None else str(c) for c in r] for r in rows])
print(json.dumps(out))
