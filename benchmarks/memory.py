"""Memory over a long run: does watching stay flat over 100,000 probes of a
50-layer model?

Training that long would take days here, so the probes are simulated: the
watch's compiled probe is replaced by one that returns a fresh record of a
50-layer model (random gradient norms, two variables a layer, a dead-unit
count and a unit spread for every layer) at every call, and everything else
is the real `GradientWatch`: detectors, the bounded window they read, the
epoch losses the loss-progress rule keeps (one fed per probe, as if every
probe ended an epoch), the ledger, `watch.records` with its default
`keep_records`. Python's own allocation
tracker (tracemalloc) reports the memory the watch holds after 1,000,
10,000 and 100,000 probes.

    .venv/bin/python benchmarks/memory.py
"""

from __future__ import annotations

import os
import time
import tracemalloc

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from keras_trainwatch._quiet import import_tensorflow

import_tensorflow()  # without its start-up noise on stderr
import keras
import numpy as np

import keras_trainwatch as ktw
from keras_trainwatch.records import (
    DeadUnitStats,
    LayerStats,
    ProbeRecord,
    UnitSpreadStats,
    WeightStats,
)

LAYERS = 50
PROBES = 100_000


class SimulatedProbe:
    """Stands in for the compiled probe: a new 50-layer record per call."""

    last_histograms = None
    watched_variable_names: tuple = ()

    def __init__(self):
        self.rng = np.random.default_rng(0)

    def __call__(self, epoch, step):
        norms = self.rng.uniform(0.05, 2.0, size=(LAYERS, 2))
        layers = tuple(
            LayerStats(
                f"dense_{i}",
                (
                    WeightStats(f"dense_{i}/kernel", norms[i, 0], 10.0, 0),
                    WeightStats(f"dense_{i}/bias", norms[i, 1], 1.0, 0),
                ),
                kind="Dense",
                activation="relu",
            )
            for i in range(LAYERS)
        )
        dead = tuple(
            DeadUnitStats(
                f"dense_{i}", int(self.rng.integers(0, 10)), 64, "activations"
            )
            for i in range(LAYERS)
        )
        spreads = tuple(
            UnitSpreadStats(f"dense_{i}", 64, 1.5, float(norms[i, 0]))
            for i in range(LAYERS)
        )
        return ProbeRecord(
            epoch,
            step,
            float(self.rng.uniform(0.5, 1.0)),
            layers,
            dead,
            unit_spread=spreads,
        )


def main():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.compile("sgd", "mse")
    x, y = np.zeros((8, 4), "float32"), np.zeros((8, 2), "float32")
    watch = ktw.GradientWatch((x, y), on_finding=lambda f: None)
    watch.set_model(model)
    watch._probe = SimulatedProbe()
    tracemalloc.start()
    baseline = tracemalloc.get_traced_memory()[0]
    started = time.perf_counter()
    print(
        f"{'probes':>8} {'held by the watch (MiB)':>24} {'records kept':>13} {'findings':>9}"
    )
    for probe in range(1, PROBES + 1):
        watch.schedule.step = probe * 10
        watch.detectors.observe_epoch_loss(1.0 / probe)
        watch._run_probe()
        if probe in (1_000, 10_000, 100_000):
            held = (tracemalloc.get_traced_memory()[0] - baseline) / 2**20
            print(
                f"{probe:>8} {held:>24.2f} {len(watch.records):>13} "
                f"{len(watch.findings):>9}",
                flush=True,
            )
    print(f"{PROBES} simulated probes in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
