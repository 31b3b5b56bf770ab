#!/usr/bin/env bash
#! Side-by-side: auditlake ingest vs DuckDB converting the same NDJSON of Teleport events to
#! partitioned Snappy Parquet, both with 2 threads, on this machine. Prints wall time, events/s
#! and peak RSS for each, and their ratio. Usage: benches/compare_ingest.sh [EVENTS] (default 1000000)
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-1000000}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/auditlake-target}"
py="$(bash scripts/python-env.sh)"
cargo build --profile bench --bin auditlake >&2
bin="$CARGO_TARGET_DIR/release/auditlake"
[ -x "$bin" ] || bin="$CARGO_TARGET_DIR/bench/auditlake"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
days=30
"$bin" demo --teleport-only --seed 1 --start 2024-05-01 --days "$days" --events-per-day $(( n / days )) --out "$work/events.ndjson" >&2
ls -l "$work/events.ndjson" >&2

measure() { # label, command...
  local label="$1"; shift
  /usr/bin/time -f "%e %M" -o "$work/time" "$@" >/dev/null
  read -r secs kb < "$work/time"
  echo "$label $secs $kb"
}

a=$(measure auditlake "$bin" ingest --lake "$work/lake" --tenant bench --geoip fixtures/geoip/auditlake-test-city.mmdb "$work/events.ndjson" || true)
cat > "$work/duck.py" <<PY
import duckdb, sys
con = duckdb.connect()
con.execute("SET threads = 2")
con.execute("""
COPY (
  SELECT 'teleport' AS event_source,
         json_extract_string(json, '\$.user') AS identity,
         json_extract_string(json, '\$.event') AS event_type,
         CAST(json_extract_string(json, '\$.time') AS TIMESTAMP) AS event_time,
         json_extract_string(json, '\$.uid') AS uid,
         json AS event_data,
         'bench' AS tenant_id,
         CAST(CAST(json_extract_string(json, '\$.time') AS TIMESTAMP) AS DATE) AS event_date
  FROM read_json_objects('$work/events.ndjson')
) TO '$work/duck' (FORMAT parquet, COMPRESSION snappy, PARTITION_BY (tenant_id, event_date))
""")
PY
b=$(measure duckdb "$py" "$work/duck.py")
echo "events: $n"
echo "$a" | awk -v n="$n" '{printf "auditlake: %6.2f s  %9.0f events/s  peak RSS %5.0f MiB\n", $2, n/$2, $3/1024}'
echo "$b" | awk -v n="$n" '{printf "duckdb:    %6.2f s  %9.0f events/s  peak RSS %5.0f MiB\n", $2, n/$2, $3/1024}'
ta=$(echo "$a" | awk '{print $2}'); tb=$(echo "$b" | awk '{print $2}')
echo "speed ratio (duckdb time / auditlake time): $(awk -v a="$ta" -v b="$tb" 'BEGIN{printf "%.2f", b/a}')"
