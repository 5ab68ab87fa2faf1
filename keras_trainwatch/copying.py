"""Deep copies of callbacks (and their parts) that leave their model
bindings behind."""

from __future__ import annotations

import copy


def deepcopy_without(callback, memo: dict, unbound: tuple[str, ...]):
    """Deep-copies `callback`, setting the attributes named in `unbound` to
    `None` in the copy.

    Hyper-parameter tuners copy callbacks for every trial. What ties a
    callback to the model of an earlier trial (the model, compiled
    functions, file writers) cannot or should not be copied; it is rebuilt
    when the copy is attached to a model. Bound methods stored on the
    instance are rebound to the copy (the copy is in `memo` first).

    Args:
        callback: The object to copy.
        memo: The `copy.deepcopy` memo.
        unbound: Attribute names to leave out of the copy.

    Returns:
        The copy.
    """
    twin = copy.copy(callback)
    memo[id(callback)] = twin
    for name, value in vars(callback).items():
        setattr(
            twin, name, None if name in unbound else copy.deepcopy(value, memo)
        )
    return twin
