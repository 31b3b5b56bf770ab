#!/usr/bin/env bash
#! Side-by-side: auditlake ingest vs DuckDB converting the same NDJSON of Teleport events to
#! partitioned Snappy Parquet, both with 2 threads, on this machine. Prints wall time, events/s
#! and peak RSS for each, and their ratio.
#! Usage: benches/compare_ingest.sh [EVENTS] [ORDER]   (default 1000000, both)
#! ORDER: `time` (the generator's time-ordered stream), `shuffled` (the same events in arbitrary
#! order across the 30 days, as an export of several sources or a backfill is), or `both`.
#! AUDITLAKE_BENCH_ROUNDS=N runs N interleaved rounds and prints medians; AUDITLAKE_BENCH_VIEWS
#! lists the `ingest --views` values to measure (default `reports`, as ingest ships).
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-1000000}"
order="${2:-both}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/auditlake-target}"
py="$(bash scripts/python-env.sh)"
cargo build --profile bench --bin auditlake >&2
bin="$CARGO_TARGET_DIR/release/auditlake"
[ -x "$bin" ] || bin="$CARGO_TARGET_DIR/bench/auditlake"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
days=30
"$bin" demo --teleport-only --seed 1 --start 2024-05-01 --days "$days" --events-per-day $(( n / days )) --out "$work/events.ndjson" >&2
n=$(wc -l < "$work/events.ndjson")
ls -l "$work/events.ndjson" >&2
# A fixed random source: the same arbitrary order on every run.
shuf --random-source=<(yes) "$work/events.ndjson" > "$work/shuffled.ndjson"

measure() { # label, command...
  local label="$1"; shift
  /usr/bin/time -f "%e %M" -o "$work/time" "$@" >/dev/null
  read -r secs kb < "$work/time"
  echo "$label $secs $kb"
}

case "$order" in both) orders="time shuffled" ;; *) orders="$order" ;; esac
# AUDITLAKE_BENCH_ROUNDS (default 1): rounds, each running every configuration once in turn,
# so a drift of this VM over minutes hits all sides alike; the figures are per-configuration
# medians. AUDITLAKE_BENCH_VIEWS (default `reports`, what ingest does by default): the
# `--views` values to measure, e.g. "none reports".
rounds="${AUDITLAKE_BENCH_ROUNDS:-1}"
views="${AUDITLAKE_BENCH_VIEWS:-reports}"
for o in $orders; do
input="$work/events.ndjson"
[ "$o" = shuffled ] && input="$work/shuffled.ndjson"
cat > "$work/duck.py" <<PY
import duckdb, sys
con = duckdb.connect()
con.execute("SET threads = 2")
# The same row auditlake writes for a Teleport event (docs/sources.md), sorted the same way
# (event_type, event_time) inside each partition file.
con.execute("""
COPY (
  WITH j AS (SELECT json FROM read_json_objects('$input'))
  SELECT 'teleport' AS event_source,
         coalesce(json_extract_string(json, '\$.user'), json_extract_string(json, '\$.identity.user'), json_extract_string(json, '\$.bot_name')) AS identity,
         CASE WHEN json_extract(json, '\$.user_kind')::INT = 2 THEN 'bot' ELSE 'user' END AS identity_kind,
         NULL::VARCHAR AS identity_id,
         json_extract_string(json, '\$.token_name') AS token,
         json_extract_string(json, '\$.event') AS action,
         json_extract_string(json, '\$.cluster_name') AS origin,
         CASE WHEN json_extract(json, '\$.success')::BOOLEAN = false OR right(json_extract_string(json, '\$.code'), 1) IN ('W','E') THEN 'failure' ELSE 'success' END AS status,
         regexp_extract(coalesce(json_extract_string(json, '\$."addr.remote"'), json_extract_string(json, '\$.identity.client_ip')), '^\\[?([0-9a-fA-F:.]+?)\\]?(:[0-9]+)?\$', 1) AS ip,
         NULL::VARCHAR AS city, NULL::VARCHAR AS country, NULL::VARCHAR AS region, NULL::DOUBLE AS latitude, NULL::DOUBLE AS longitude,
         json_extract_string(json, '\$.server_hostname') AS target_resource,
         CASE WHEN json_extract_string(json, '\$.server_hostname') IS NOT NULL THEN 'node' END AS target_kind,
         json_extract_string(json, '\$.server_addr') AS target_location,
         json_extract_string(json, '\$.server_id') AS target_id,
         json_extract_string(json, '\$.user_agent') AS user_agent,
         json_extract_string(json, '\$.event') AS event_type,
         CAST(json_extract_string(json, '\$.time') AS TIMESTAMPTZ) AS event_time,
         json_extract_string(json, '\$.uid') AS uid,
         json AS event_data,
         NULL::VARCHAR AS aws_account_id, NULL::VARCHAR AS aws_service, NULL::VARCHAR AS github_organization,
         NULL::VARCHAR AS github_repo, NULL::VARCHAR AS okta_org,
         json_extract_string(json, '\$.cluster_name') AS teleport_cluster,
         'bench' AS tenant_id,
         CAST(CAST(json_extract_string(json, '\$.time') AS TIMESTAMPTZ) AS DATE) AS event_date
  FROM j
  ORDER BY event_type, event_time
) TO '$work/duck-$o' (FORMAT parquet, COMPRESSION snappy, PARTITION_BY (tenant_id, event_date))
""")
PY
: > "$work/runs"
for _ in $(seq "$rounds"); do
  for v in $views; do
    rm -rf "$work/lake-$o"
    measure "auditlake --views $v" "$bin" ingest --lake "$work/lake-$o" --tenant bench --views "$v" --geoip fixtures/geoip/auditlake-test-city.mmdb "$input" >> "$work/runs" || true
  done
  rm -rf "$work/duck-$o"
  measure duckdb "$py" "$work/duck.py" >> "$work/runs"
done
echo "== order: $o, events: $n, rounds: $rounds (medians; peak RSS the largest)"
fa=$(find "$work/lake-$o/data" -name '*.parquet' | wc -l); fb=$(find "$work/duck-$o" -name '*.parquet' | wc -l)
"$py" - "$work/runs" "$n" "$fa" "$fb" <<'PY'
import statistics, sys
runs, n, fa, fb = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
by = {}
for line in open(runs):
    *label, secs, kb = line.split()
    by.setdefault(" ".join(label), []).append((float(secs), int(kb)))
duck = statistics.median(t for t, _ in by["duckdb"])
for label, xs in by.items():
    t = statistics.median(x for x, _ in xs)
    rss = max(k for _, k in xs) / 1024
    files = fb if label == "duckdb" else fa
    ratio = "" if label == "duckdb" else f"  ratio {t / duck:.2f} (speed {duck / t:.2f}x)"
    print(f"{label:26} {t:6.2f} s  {n / t:9.0f} events/s  peak RSS {rss:5.0f} MiB  {files} files{ratio}")
PY
done
