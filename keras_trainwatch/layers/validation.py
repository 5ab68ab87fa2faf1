"""Argument checks shared by the layer factories, raising early with the
received value in the message (the Keras convention)."""

from __future__ import annotations

import math
import numbers


def invalid(name: str, expected: str, value) -> ValueError:
    """The error for argument `name`, saying what is allowed and what came."""
    return ValueError(
        f"Invalid value received for argument `{name}`. Expected {expected}. "
        f"Received: {name}={value!r}"
    )


def real_in_range(name, value, low, high, *, low_open=False, high_open=False):
    """Returns `value` as a float if it is a real number in the range."""
    lo, hi = ("(" if low_open else "["), (")" if high_open else "]")
    expected = f"a number in {lo}{low:g}, {high:g}{hi}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise invalid(name, expected, value)
    value = float(value)
    above = value >= high if high_open else value > high
    below = value <= low if low_open else value < low
    if math.isnan(value) or above or below:
        raise invalid(name, expected, value)
    return value


def positive_int(name, value):
    """Returns `value` if it is an integer >= 1."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or value < 1
    ):
        raise invalid(name, "an integer >= 1", value)
    return int(value)


def boolean(name, value):
    """Returns `value` if it is a bool."""
    if not isinstance(value, bool):
        raise invalid(name, "True or False", value)
    return value


def one_of(name, value, allowed):
    """Returns `value` if it is among `allowed`."""
    if value not in allowed:
        raise invalid(name, f"one of {tuple(allowed)}", value)
    return value
