#!/usr/bin/env bash
#! Runs every fuzz target (or the ones named) for SECONDS each, two at a time, and reports
#! executions, speed, coverage and crashes per target. New crashes are copied to
#! fuzz/regressions/<target>/, which the stable suite replays (tests/it/fuzz.rs).
#!
#! usage: scripts/fuzz.sh [SECONDS] [TARGET...]      (default 60 s, every target)
#! env:   FUZZ_JOBS (parallel targets, default: cores), FUZZ_RUNS (stop a target after this
#!        many executions, before SECONDS if it gets there), FUZZ_MAX_LEN (longest input,
#!        default 8192 bytes), FUZZ_WORK (corpora and logs, default ~/.cache/auditlake-fuzz),
#!        CARGO_TARGET_DIR (default ~/.cache/auditlake-fuzz-target)
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH="${1:-60}"
shift || true
ALL=(decode split sqs_message trino_udf sql_plan flight_handle flight_put config)
if [ "$#" -gt 0 ]; then TARGETS=("$@"); else TARGETS=("${ALL[@]}"); fi
WORK="${FUZZ_WORK:-$HOME/.cache/auditlake-fuzz}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/auditlake-fuzz-target}"
JOBS="${FUZZ_JOBS:-$(nproc)}"
MAX_LEN="${FUZZ_MAX_LEN:-8192}"
RUNS="${FUZZ_RUNS:-}"

if ! rustup toolchain list | grep -q '^nightly'; then
  echo "== installing the nightly toolchain (cargo fuzz needs it)"
  rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

# Release with debug assertions and overflow checks (cargo fuzz's default), no sanitizer: the
# code is safe Rust, and what we look for are panics, overflows, aborts, hangs and broken
# invariants. 16 codegen units: a 2-core build of DataFusion with coverage takes long enough.
echo "== building the fuzz targets (first build: DataFusion with coverage, tens of minutes)"
cargo +nightly fuzz build --fuzz-dir fuzz -s none --codegen-units 16 2>&1 | tail -3
# Run copies, so a rebuild while targets run (another invocation) cannot touch a running binary.
BIN="$WORK/bin/$$"
mkdir -p "$BIN"
for t in "${TARGETS[@]}"; do
  cp "$CARGO_TARGET_DIR/x86_64-unknown-linux-gnu/release/$t" "$BIN/$t"
done
trap 'rm -rf "$BIN"' EXIT

dict_of() {
  case "$1" in
    sql_plan|trino_udf) echo fuzz/dict/sql.dict ;;
    config) echo "" ;;
    *) echo fuzz/dict/json.dict ;;
  esac
}

run_one() {
  local t="$1"
  local corpus="$WORK/corpus/$t" art="$WORK/artifacts/$t/" log="$WORK/logs/$t.log"
  rm -rf "$art"
  mkdir -p "$corpus" "$art" "$WORK/logs"
  cp -n fuzz/seeds/"$t"/* "$corpus"/ 2>/dev/null || true
  local dict
  dict="$(dict_of "$t")"
  # -timeout: one input may take at most 20 s (a hang is a finding); -rss_limit_mb: 2 GiB.
  # libFuzzer's own timeout handler can deadlock on malloc and sleep forever: a target still
  # running 2 minutes past its budget is stopped.
  timeout --kill-after=10 $((SECONDS_EACH + 120)) "$BIN/$t" "$corpus" ${dict:+-dict="$dict"} -max_total_time="$SECONDS_EACH" -timeout=20 \
    -rss_limit_mb=2048 -max_len="$MAX_LEN" ${RUNS:+-runs="$RUNS"} -print_final_stats=1 \
    -artifact_prefix="$art" \
    >"$log" 2>&1 || true
}

echo "== fuzzing ${#TARGETS[@]} target(s) for ${SECONDS_EACH}s each, $JOBS at a time"
running=0
for t in "${TARGETS[@]}"; do
  run_one "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$JOBS" ]; then
    wait -n
    running=$((running - 1))
  fi
done
wait

crashes=0
printf '%-14s %14s %10s %8s %8s %8s %8s\n' target execs execs/s cov ft corpus crashes
for t in "${TARGETS[@]}"; do
  log="$WORK/logs/$t.log"
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  speed=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | grep -o '[0-9]*' || echo 0)
  ft=$(grep -oE 'ft: [0-9]+' "$log" | tail -1 | grep -o '[0-9]*' || echo 0)
  n=$(ls "$WORK/corpus/$t" | wc -l)
  found=0
  for f in "$WORK/artifacts/$t"/*; do
    [ -f "$f" ] || continue
    found=$((found + 1))
    if [ ! -s "$f" ]; then
      # The deadlocked timeout handler writes the file before the unit: read the unit from
      # the hung process next time (gdb -p PID, frame fuzzer::WriteToFile).
      echo "== $t: $(basename "$f") is empty (libFuzzer's handler hung while writing it); see $log"
    fi
    mkdir -p "fuzz/regressions/$t"
    cp "$f" "fuzz/regressions/$t/$(basename "$f")"
  done
  crashes=$((crashes + found))
  printf '%-14s %14s %10s %8s %8s %8s %8s\n' "$t" "${execs:-0}" "${speed:-0}" "${cov:-0}" "${ft:-0}" "$n" "$found"
done
if [ "$crashes" -gt 0 ]; then
  echo "== $crashes crash(es): copied to fuzz/regressions/<target>/; logs in $WORK/logs/"
  exit 1
fi
echo "== no crash"
