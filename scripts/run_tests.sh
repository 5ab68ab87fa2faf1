#!/usr/bin/env bash
# The whole test suite: sets up .venv with the test extras, then runs pytest
# on TensorFlow (and, when the whole suite passed, its backend-neutral part,
# marked `backends`, under JAX and under PyTorch, then the oldest-Keras
# check), and ends with one line that sums up everything it ran. Extra
# arguments go to pytest (e.g. -k detectors), on TensorFlow only.
set -uo pipefail
cd "$(dirname "$0")/.."
./scripts/setup_env.sh test || exit 1

export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
summary() {  # the last pytest result line in $log, without its frame
  grep -E "(passed|failed|error|no tests ran)" "$log" | tail -1 \
    | sed -E 's/^=+ //; s/ =+$//'
}

.venv/bin/python -m pytest "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
newest="Keras $(.venv/bin/python -c 'import importlib.metadata as m; print(m.version("keras"))') on TensorFlow: $(summary)"
if [[ $status -eq 5 ]]; then
  # pytest's 5 means "no tests collected": a suite that runs nothing is a failure.
  echo "run_tests.sh: pytest collected no tests; treating this as a failure." >&2
  status=1
fi
others=""
if [[ $status -eq 0 && $# -eq 0 ]]; then
  for backend in jax torch; do
    start=$(date +%s)
    KERAS_BACKEND=$backend .venv/bin/python -m pytest -m backends -p no:cacheprovider 2>&1 | tee "$log"
    status=${PIPESTATUS[0]}
    others="${others}; on ${backend}: $(summary) ($(( $(date +%s) - start )) s)"
    [[ $status -eq 0 ]] || break
  done
fi
oldest=""
if [[ $status -eq 0 && $# -eq 0 ]]; then
  # The whole suite passed on the newest Keras: check the oldest one too.
  ./scripts/check_oldest_keras.sh 2>&1 | tee "$log"
  status=${PIPESTATUS[0]}
  oldest="; $(grep -o 'oldest supported Keras: [0-9.]*' "$log" | sed 's/oldest supported Keras: /Keras /'): $(summary)"
fi
verdict=$([[ $status -eq 0 ]] && echo PASSED || echo FAILED)
echo
echo "run_tests.sh: ${verdict}. ${newest}${others}${oldest}."
exit $status
