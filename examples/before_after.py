"""Shared by the examples: train a broken model and its remedied twin with a
GradientWatch each, and print what the watch found."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from keras_trainwatch._quiet import import_tensorflow

import_tensorflow()  # without its start-up noise on stderr
import keras

import keras_trainwatch as ktw


def train_watched(title, model, data, epochs, probe_size=256, **fit_kwargs):
    """Fits `model` on `data` = (x, y) with a GradientWatch; returns the watch."""
    x, y = data
    watch = ktw.GradientWatch(
        (x[:probe_size], y[:probe_size]),
        on_finding=lambda f: print(f"  ! step {f.step}: {f}"),
    )
    print(f"\n== {title}")
    history = model.fit(
        x, y, epochs=epochs, verbose=0, callbacks=[watch], **fit_kwargs
    )
    print(
        f"   final loss {history.history['loss'][-1]:.4g}, "
        f"{len(watch.findings)} finding(s)"
    )
    return watch


def before_after(broken, fixed, data, epochs, **fit_kwargs):
    """Trains both models; returns their watches (broken first)."""
    keras.utils.set_random_seed(0)
    before = train_watched(
        "broken: " + broken[0], broken[1](), data, epochs, **fit_kwargs
    )
    keras.utils.set_random_seed(0)
    after = train_watched(
        "remedy applied: " + fixed[0], fixed[1](), data, epochs, **fit_kwargs
    )
    return before, after
