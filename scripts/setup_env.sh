#!/usr/bin/env bash
# Creates .venv (Python 3.10+) and installs keras_trainwatch into it with the
# extras given as arguments (e.g. "test"). Re-running skips the install when
# the package metadata has not changed since the last one.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
  echo "keras_trainwatch needs Python 3.10 or newer; '$python' is $("$python" --version 2>&1 || echo missing)." >&2
  echo "Set PYTHON=/path/to/python3.x and run again." >&2
  exit 1
fi

extras=${1:-}
spec="."
[[ -n "$extras" ]] && spec=".[$extras]"

[[ -x .venv/bin/python ]] || "$python" -m venv .venv
stamp=.venv/.keras_trainwatch-installed
want="$extras $(cat setup.cfg pyproject.toml | cksum)"
if [[ ! -f "$stamp" ]] || [[ "$(cat "$stamp")" != "$want" ]]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e "$spec"
  echo "$want" > "$stamp"
fi
