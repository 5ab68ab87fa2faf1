#!/usr/bin/env bash
# The whole test suite: sets up .venv with the test extras, then runs pytest.
# Extra arguments go to pytest (e.g. -k detectors).
set -uo pipefail
cd "$(dirname "$0")/.."
./scripts/setup_env.sh test || exit 1

export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}
.venv/bin/python -m pytest "$@"
status=$?
if [[ $status -eq 5 ]]; then
  # pytest's 5 means "no tests collected": a suite that runs nothing is a failure.
  echo "run_tests.sh: pytest collected no tests; treating this as a failure." >&2
  exit 1
fi
if [[ $status -eq 0 && $# -eq 0 ]]; then
  # The whole suite passed on the newest Keras: check the oldest one too.
  ./scripts/check_oldest_keras.sh || exit 1
fi
exit $status
