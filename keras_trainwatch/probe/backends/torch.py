"""The PyTorch gradient engine: `torch.autograd.grad`, run eagerly on the
model's device.

`allow_unused=True` gives `None` for weights the loss does not reach, and
intermediate tensors (the recurrent layers' input sequences) can be
differentiated directly. The statistics are read to the host as one
flattened tensor: one wait for the device per probe.
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch

from keras_trainwatch.probe.backends.functional import FunctionalProbe
from keras_trainwatch.probe.statistics import ProbeStatistics


class TorchEngine:
    """`GradientEngine` for Keras's PyTorch backend."""

    compiles = False

    def reached(self, loss_of_weights, weights) -> list[bool]:
        sources = _sources(weights)
        loss = loss_of_weights(sources)
        grads = torch.autograd.grad(loss, sources, allow_unused=True)
        return [g is not None for g in grads]

    def value_and_gradients(self, function, weights):
        sources = _sources(weights)
        value, aux = function(sources)
        sequences = [s for s in aux[-1] if s.requires_grad]
        grads = torch.autograd.grad(
            value, sources + sequences, allow_unused=True
        )
        by_sequence = dict(zip(map(id, sequences), grads[len(sources) :]))
        sequence_grads = [by_sequence.get(id(s)) for s in aux[-1]]
        aux = tuple(
            [_detached(t) for t in part]
            if isinstance(part, list)
            else _detached(part)
            for part in aux
        )
        return value.detach(), aux, list(grads[: len(sources)]), sequence_grads

    def no_gradient_recording(self):
        return torch.no_grad()

    @contextlib.contextmanager
    def random_state_kept(self):
        # Keras's PyTorch dropout without a seed draws from PyTorch's global
        # generator: put back, training draws the same masks as unwatched.
        cpu = torch.get_rng_state()
        cuda = (
            torch.cuda.get_rng_state_all()
            if torch.cuda.is_initialized()
            else None
        )
        try:
            yield
        finally:
            torch.set_rng_state(cpu)
            if cuda is not None:
                torch.cuda.set_rng_state_all(cuda)

    def compile(self, function):
        # Eager: `torch.compile` would pay its compilation at the first
        # probe, before training starts (not measured against eager).
        return function

    def read(self, statistics: ProbeStatistics) -> ProbeStatistics:
        parts = [torch.as_tensor(t) for t in statistics]
        flat = (
            torch.cat([p.detach().reshape(-1).to(torch.float64) for p in parts])
            .cpu()
            .numpy()
        )
        values, start = [], 0
        for part in parts:
            size = part.numel()
            value = flat[start : start + size].reshape(tuple(part.shape))
            values.append(value.astype(_numpy_dtype(part.dtype)))
            start += size
        return ProbeStatistics(*values)


def _sources(weights):
    """Leaves to differentiate, sharing the weights' memory."""
    return [w.detach().requires_grad_(True) for w in weights]


def _detached(value):
    return value.detach() if isinstance(value, torch.Tensor) else value


def _numpy_dtype(dtype: torch.dtype):
    return np.bool_ if dtype == torch.bool else np.float32


class TorchProbe(FunctionalProbe):
    """The gradient probe on Keras's PyTorch backend (see `FunctionalProbe`)."""

    engine_class = TorchEngine
