#!/usr/bin/env bash
# Downloads into wheelhouse/ (ignored by git) the wheels that
# benchmarks/gpu_check.sh installs on a machine without network that has
# JAX and PyTorch but no TensorFlow: Keras and its dependencies that JAX and
# PyTorch do not bring, and TensorBoard without its server's (its summary
# protos and event writer are all the package uses there). The binary ones
# for every Python from 3.10 to 3.13. About 20 MB; carry it to that
# machine with the working tree.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup_env.sh >/dev/null
out=wheelhouse
mkdir -p "$out"
keras=$(.venv/bin/python -c 'import importlib.metadata as m; print(m.version("keras"))')
tensorboard=$(.venv/bin/python -c 'import importlib.metadata as m; print(m.version("tensorboard"))')
protobuf=$(.venv/bin/python -c 'import importlib.metadata as m; print(m.version("protobuf"))')
pip=(.venv/bin/python -m pip download --quiet --no-deps --dest "$out")
"${pip[@]}" "keras==$keras" "tensorboard==$tensorboard" namex absl-py rich \
  markdown-it-py mdurl pygments packaging six
for version in 3.10 3.11 3.12 3.13; do
  "${pip[@]}" --only-binary=:all: --python-version "$version" \
    --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux_2_28_x86_64 optree h5py "protobuf==$protobuf"
done
du -sh "$out"
