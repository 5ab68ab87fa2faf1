"""Argument checks for the whole package.

Every check raises at construction time with the Keras message format: the
argument's name, what is allowed, and the received value
(`Invalid value received for argument `rate`. Expected ... Received: rate=2`).
"""

from __future__ import annotations

import contextlib
import math
import numbers
import os
from collections.abc import Iterable, Iterator, Mapping


class InvalidArgument(ValueError):
    """A `ValueError` that knows which argument it is about."""

    def __init__(self, name: str, expected: str, value):
        super().__init__(
            f"Invalid value received for argument `{name}`. Expected "
            f"{expected}. Received: {name}={value!r}"
        )
        self.name, self.expected, self.value = name, expected, value


def invalid(name: str, expected: str, value) -> ValueError:
    """The error for argument `name`, saying what is allowed and what came."""
    return InvalidArgument(name, expected, value)


@contextlib.contextmanager
def as_arguments(names: Mapping[str, str]) -> Iterator[None]:
    """Reports an invalid argument of a part under the name the caller
    passed it as (`GradientWatch(dead_fraction=...)` rather than the
    detector's `max_dead_fraction`)."""
    try:
        yield
    except InvalidArgument as error:
        if error.name not in names:
            raise
        raise invalid(names[error.name], error.expected, error.value) from None


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


def finite_real(name, value):
    """Any finite real number."""
    return real_in_range(
        name, value, -math.inf, math.inf, low_open=True, high_open=True
    )


def open_range(name, value, low, high):
    """Returns `value` as a float if it is a real number in `(low, high)`."""
    return real_in_range(name, value, low, high, low_open=True, high_open=True)


def integer_at_least(name, value, minimum):
    """Returns `value` if it is an integer >= `minimum`."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or value < minimum
    ):
        raise invalid(name, f"an integer >= {minimum}", value)
    return int(value)


def positive_int(name, value):
    """Returns `value` if it is an integer >= 1."""
    return integer_at_least(name, value, 1)


def optional_positive_int(name, value):
    """Returns `value` if it is `None` or an integer >= 1."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise invalid(name, "None or an integer >= 1", value)
    if value < 1:
        raise invalid(name, "None or an integer >= 1", value)
    return int(value)


def boolean(name, value):
    """Returns `value` if it is a bool."""
    if not isinstance(value, bool):
        raise invalid(name, "True or False", value)
    return value


def bool_or_auto(name, value):
    """Returns `value` if it is a bool or `"auto"`."""
    if not (
        isinstance(value, bool) or (isinstance(value, str) and value == "auto")
    ):
        raise invalid(name, 'True, False or "auto"', value)
    return value


def one_of(name, value, allowed):
    """Returns `value` if it is among `allowed`."""
    if value not in allowed:
        raise invalid(name, f"one of {tuple(allowed)}", value)
    return value


def all_among(name, values: Iterable, allowed) -> tuple:
    """Returns `values` as a tuple if each of them is among `allowed` (a
    single string is not a collection of values here)."""
    if isinstance(values, str):
        raise invalid(
            name, f"a list or tuple of values among {tuple(allowed)}", values
        )
    values = tuple(values)
    if any(value not in allowed for value in values):
        raise invalid(name, f"values among {tuple(allowed)}", values)
    return values


def instance_of(name, value, types, expected: str):
    """Returns `value` if it is an instance of `types` (or `None` when
    `None` is named in `expected`), else raises `TypeError`."""
    if value is None and "None" in expected:
        return value
    if not isinstance(value, types):
        raise TypeError(
            f"Invalid type received for argument `{name}`. Expected "
            f"{expected}. Received: {name} of type {type(value).__name__}"
        )
    return value


def optional_path(name, value):
    """Returns `value` as a `str` path, or `None` for `None`; anything else
    but a `str` or `os.PathLike` raises `TypeError` naming the argument."""
    if value is None:
        return None
    return os.fspath(
        instance_of(name, value, (str, os.PathLike), "a path (str) or None")
    )
