#!/usr/bin/env bash
#! The project's test command: sets up the test Python (moto, duckdb, trino-query-parser …),
#! gates the shared SQL with Trino's strict grammar, then runs every Rust test.
set -euo pipefail
cd "$(dirname "$0")/.."
# No CARGO_TARGET_DIR of our own: the tests reuse the build `cargo run -- demo` made in
# ./target (CI sets its own, outside the clone, in .ci/run).
AUDITLAKE_PYTHON="$(bash scripts/python-env.sh)"
export AUDITLAKE_PYTHON
# Tests talk to servers on loopback only and must never reach a real AWS endpoint.
export AWS_EC2_METADATA_DISABLED=true
# The shell tests drive the real binary through tmux, as a person would.
if ! command -v tmux >/dev/null 2>&1; then
  echo "== installing tmux (the REPL tests drive the shell through it)"
  (apt-get update -qq && apt-get install -y -qq tmux) >/dev/null || sudo -n apt-get install -y -qq tmux >/dev/null
fi
# The HTML report is checked in a real browser: Debian's headless Chromium.
if ! command -v chromium >/dev/null 2>&1; then
  echo "== installing chromium (the HTML report test renders the page headless)"
  (apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium) >/dev/null \
    || sudo -n apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
echo "== Trino grammar gate over sql/"
"$AUDITLAKE_PYTHON" scripts/check_sql.py sql/views sql/detections
echo "== Rust tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --no-fail-fast "$@"
else
  cargo test --no-fail-fast "$@"
fi
