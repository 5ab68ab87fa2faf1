#!/usr/bin/env bash
# Creates .venv (Python 3.10+) and installs keras_trainwatch into it with the
# extras given as the argument (e.g. "test" or "test,bench"), on top of those
# installed before. Re-running skips the install when nothing new is asked
# for and the package metadata has not changed since the last one.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
  echo "keras_trainwatch needs Python 3.10 or newer; '$python' is $("$python" --version 2>&1 || echo missing)." >&2
  echo "Set PYTHON=/path/to/python3.x and run again." >&2
  exit 1
fi

# The extras installed so far are kept, and the ones asked for added: the
# demo's and the tests' set-ups do not undo each other (and reinstall) when
# they alternate.
stamp=.venv/.keras_trainwatch-installed
metadata=$(cat setup.cfg pyproject.toml | cksum)
[[ -x .venv/bin/python ]] || "$python" -m venv .venv
installed=""
if [[ -f "$stamp" ]] && [[ $(wc -l < "$stamp") -eq 2 ]]; then
  installed=$(sed -n 1p "$stamp")
fi
wanted=$(echo "${installed},${1:-}" | tr ',' '\n' | sed '/^$/d' | sort -u | paste -sd, -)
if [[ ! -f "$stamp" ]] || [[ "$installed" != "$wanted" ]] \
    || [[ "$(sed -n 2p "$stamp")" != "$metadata" ]]; then
  spec="."
  [[ -n "$wanted" ]] && spec=".[$wanted]"
  # pip's and the build backend's chatter goes to a log, shown on failure.
  log=$(mktemp)
  # PyTorch's CPU build (about 200 MB) from PyTorch's own index, before pip
  # resolves the extras: PyPI's default build brings 3 GB of CUDA libraries.
  torch_cpu=true
  if [[ ",$wanted," == *,test,* || ",$wanted," == *,torch,* ]] \
      && ! .venv/bin/python -c 'import torch' >/dev/null 2>&1; then
    torch_cpu=".venv/bin/python -m pip install --quiet torch --index-url https://download.pytorch.org/whl/cpu"
  fi
  if ! { .venv/bin/python -m pip install --quiet --upgrade pip \
      && $torch_cpu \
      && .venv/bin/python -m pip install --quiet -e "$spec"; } >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    exit 1
  fi
  rm -f "$log"
  printf '%s\n%s\n' "$wanted" "$metadata" > "$stamp"
fi
