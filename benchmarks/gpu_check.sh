#!/usr/bin/env bash
# The GPU check (issue 28), ready to run on a machine with an NVIDIA GPU,
# JAX and PyTorch, and neither TensorFlow nor network: installs Keras and
# TensorBoard's writer from wheelhouse/ (made here by
# scripts/make_wheelhouse.sh and carried with the working tree) into a
# folder of its own, then runs benchmarks/gpu_check.py under JAX and under
# PyTorch. Under 8 minutes of GPU time (each backend stops at
# GPU_CHECK_TIMEOUT seconds, default 220).
#
#   benchmarks/gpu_check.sh            # both backends
#   benchmarks/gpu_check.sh jax        # one
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
site=${GPU_CHECK_SITE:-/tmp/keras_trainwatch_gpu_site}
if [[ ! -d "$site/keras" ]]; then
  "$python" -m pip install --quiet --no-index --find-links wheelhouse \
    --no-deps --target "$site" keras tensorboard namex absl-py rich \
    markdown-it-py mdurl pygments optree h5py protobuf six packaging
  # JAX's own ml_dtypes and numpy stay the ones JAX was built with.
fi
export PYTHONPATH="$site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
export XLA_PYTHON_CLIENT_PREALLOCATE=false  # peak memory as used, not reserved
"$python" -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("tensorflow") is not None)' \
  || echo "note: TensorFlow is installed here; the check does not use it."
for backend in "${@:-jax torch}"; do
  for one in $backend; do
    echo "=== $one"
    start=$(date +%s)
    KERAS_BACKEND=$one timeout "${GPU_CHECK_TIMEOUT:-220}" "$python" benchmarks/gpu_check.py \
      || echo "$one: failed ($?)"
    echo "$one: $(( $(date +%s) - start )) s"
  done
done
