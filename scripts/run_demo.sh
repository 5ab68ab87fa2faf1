#!/usr/bin/env bash
# The main job: sets up .venv (with the plot extra, so that the
# `trainwatch report --plot` the demo prints works), then runs `trainwatch
# demo` (arguments are passed on, e.g. --log-dir).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup_env.sh tensorflow,plot
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}
exec .venv/bin/trainwatch demo "$@"
