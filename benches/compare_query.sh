#!/usr/bin/env bash
#! Builds a lake of N demo Teleport events (default 1 M) and runs benches/compare_query.py.
#! Usage: benches/compare_query.sh [EVENTS] [ORDER]; ORDER `shuffled` (default: the events in
#! arbitrary order across the 30 days, ingested as they come, no compaction) or `time`.
#! AUDITLAKE_BENCH_INGEST_ARGS adds flags to that ingest (`--views none`: no view sidecars).
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-1000000}"
order="${2:-shuffled}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/auditlake-target}"
py="$(bash scripts/python-env.sh)"
cargo build --profile bench --bin auditlake >&2
bin="$CARGO_TARGET_DIR/release/auditlake"
[ -x "$bin" ] || bin="$CARGO_TARGET_DIR/bench/auditlake"
work="${AUDITLAKE_BENCH_DIR:-$(mktemp -d)}"
if [ ! -d "$work/lake/data" ]; then
  "$bin" demo --teleport-only --seed 1 --start 2024-05-01 --days 30 --events-per-day $(( n / 30 )) --out "$work/events.ndjson" >&2
  input="$work/events.ndjson"
  if [ "$order" = shuffled ]; then
    shuf --random-source=<(yes) "$work/events.ndjson" > "$work/shuffled.ndjson"
    input="$work/shuffled.ndjson"
  fi
  # AUDITLAKE_BENCH_INGEST_ARGS: e.g. `--views none` (the first pass then builds the views'
  # sidecars) or `--views all`; by default ingest builds what the report reads, as it ships.
  # shellcheck disable=SC2086
  "$bin" ingest --lake "$work/lake" --tenant bench ${AUDITLAKE_BENCH_INGEST_ARGS:-} "$input" >&2
fi
"$py" benches/compare_query.py "$bin" "$work/lake" bench
