"""Produces docs/dashboard.png, the README's picture of the trainwatch
dashboard on a deep model: trains keras.applications.ResNet50V2
(weights=None, 64x64 generated images, 2 epochs, probed every 4 steps),
serves the logs with a real TensorBoard and screenshots the dashboard in
headless Chromium.

Needs: apt-get install chromium (Playwright comes with the test extras).

    .venv/bin/python scripts/dashboard_screenshot.py [--out docs/dashboard.png]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
sys.path.insert(0, os.path.join(HERE, "..", "benchmarks"))

from keras_trainwatch._quiet import import_tensorflow

import_tensorflow()  # without its start-up noise on stderr
import keras
from dashboard_browser import open_dashboard
from real_models import images
from tensorboard_server import serve_tensorboard

import keras_trainwatch as ktw


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join("docs", "dashboard.png"))
    args = parser.parse_args()
    keras.utils.set_random_seed(0)
    x, y = images(64, keras.applications.resnet_v2.preprocess_input)(256, 0)
    model = keras.applications.ResNet50V2(
        weights=None, input_shape=(64, 64, 3), classes=10
    )
    model.compile("adam", "sparse_categorical_crossentropy")
    with tempfile.TemporaryDirectory() as log_dir:
        run_dir = os.path.join(log_dir, "resnet50v2")
        watch = ktw.GradientWatch(
            (x[:32], y[:32]), every_n_steps=4, log_dir=run_dir
        )
        model.fit(x, y, epochs=2, batch_size=32, verbose=0, callbacks=[watch])
        print(
            f"{len(watch.records[0].layers)} layers, {len(watch.records)} probes"
        )
        with serve_tensorboard(
            log_dir, expected_runs=["resnet50v2/gradient_watch"]
        ) as base:
            with open_dashboard(base, width=1500, height=1300) as (page, _):
                os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
                page.screenshot(path=args.out, full_page=True)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
