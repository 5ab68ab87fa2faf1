"""The JAX gradient engine: `jax.value_and_grad` under one `jax.jit`.

JAX gives zeros, not `None`, for weights the loss does not reach; which
weights it reaches is read from the traced computation instead (`reached`).
Gradients of intermediate tensors (the recurrent layers' input sequences)
would need the model rewired with zero perturbation inputs, which the probe
does not do: on JAX the recurrent early/late comparison is not measured.
"""

from __future__ import annotations

import contextlib

import jax

try:
    from jax.extend.core import Literal
except ImportError:  # JAX before 0.4.36
    from jax.core import Literal

from keras_trainwatch.probe.backends.functional import FunctionalProbe
from keras_trainwatch.probe.statistics import ProbeStatistics


class JaxEngine:
    """`GradientEngine` for Keras's JAX backend."""

    compiles = True

    def reached(self, loss_of_weights, weights) -> list[bool]:
        closed = jax.make_jaxpr(loss_of_weights)(weights)
        jaxpr = closed.jaxpr
        needed = _inputs_reaching(jaxpr, set(_variables(jaxpr.outvars)))
        leaves = jaxpr.invars
        return [v in needed for v in leaves]

    def value_and_gradients(self, function, weights):
        (value, aux), grads = jax.value_and_grad(function, has_aux=True)(
            weights
        )
        return value, aux, list(grads), None

    def no_gradient_recording(self):
        return contextlib.nullcontext()

    def random_state_kept(self):
        # JAX has no global random state: Keras's seeds are variables,
        # handed over and never written back.
        return contextlib.nullcontext()

    def compile(self, function):
        return jax.jit(function)

    def read(self, statistics: ProbeStatistics) -> ProbeStatistics:
        return ProbeStatistics(*jax.device_get(tuple(statistics)))


# Primitives through which no gradient flows: their inputs do not count as
# reaching their outputs.
_BLOCKING = {"stop_gradient"}


def _variables(atoms):
    return [a for a in atoms if not _is_literal(a)]


def _is_literal(atom) -> bool:
    return isinstance(atom, Literal)


def _inputs_reaching(jaxpr, needed: set) -> set:
    """The variables of `jaxpr` that the `needed` ones depend on (through
    any equation but a gradient-blocking one; a nested computation counts
    as depending on all its inputs)."""
    for eqn in reversed(jaxpr.eqns):
        if eqn.primitive.name in _BLOCKING:
            continue
        if any(out in needed for out in eqn.outvars):
            needed.update(_variables(eqn.invars))
    return needed


class JaxProbe(FunctionalProbe):
    """The gradient probe on Keras's JAX backend (see `FunctionalProbe`)."""

    engine_class = JaxEngine
