"""Are VGG16's caffe-style inputs the cause of its dead units? The
real-model benchmark's `app/VGG16` row (from scratch, Adam 1e-3, 64x64
images, 0-255 through `vgg16.preprocess_input`) trained twice: with those
inputs, and with the same inputs standardized to mean 0 and RMS 1. If the
scale were the cause, the standardized run would keep its units alive.

    .venv/bin/python benchmarks/vgg16_input_scale.py
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(__file__))

import real_models as rm
from keras import applications as apps


def standardized(x):
    x = apps.vgg16.preprocess_input(x)
    return (x - x.mean()) / x.std()


def main():
    for name, preprocess in (
        ("caffe", apps.vgg16.preprocess_input),
        ("standardized", standardized),
    ):
        case = rm.Case(
            f"VGG16/{name}",
            rm.HEALTHY,
            rm.application(apps.VGG16, 64),
            rm.images(64, preprocess),
        )
        outcome = rm.run(case)
        print(
            f"{name:13} {outcome.evidence}   watch: "
            f"{rm.describe(outcome.held_out)}",
            flush=True,
        )


if __name__ == "__main__":
    main()
