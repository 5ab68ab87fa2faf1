#!/usr/bin/env bash
# Runs the Keras compatibility tests and a set of watched fits against the
# oldest Keras of the supported range (setup.cfg pins keras>=3.8.0,<3.16), on
# top of the .venv that scripts/setup_env.sh made (which holds the newest).
set -euo pipefail
cd "$(dirname "$0")/.."
oldest=$(sed -n 's/^ *keras>=\([0-9.]*\),.*/\1/p' setup.cfg)
target=".venv/keras-$oldest"
if [[ ! -f "$target/keras/__init__.py" ]]; then
  .venv/bin/python -m pip install --quiet --no-deps --target "$target" "keras==$oldest"
fi
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}
PYTHONPATH="$target" .venv/bin/python -c "from keras_trainwatch._quiet import import_tensorflow; import_tensorflow(); import keras; assert keras.__version__ == '$oldest', keras.__version__; print('oldest supported Keras:', keras.__version__)"
PYTHONPATH="$target" .venv/bin/python -m pytest -q -p no:cacheprovider \
  tests/test_keras_compat.py tests/test_probe.py tests/test_model_layout.py \
  tests/test_watch.py -k "not tensorboard"
