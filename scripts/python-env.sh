#!/usr/bin/env bash
#! Creates (once) the project's Python virtualenv for tests and prints its python path.
# Why a venv outside the clone: CI clones fresh each time; a venv keyed by the requirements'
# hash under $HOME/.cache survives between runs and is rebuilt when the list changes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
req="$here/requirements-test.txt"
hash=$(sha256sum "$req" | cut -c1-12)
venv="${AUDITLAKE_VENV:-$HOME/.cache/auditlake-venv-$hash}"
if [ ! -x "$venv/bin/python" ] || [ ! -f "$venv/.complete" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req" >&2
  touch "$venv/.complete"
fi
echo "$venv/bin/python"
