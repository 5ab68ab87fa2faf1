import pytest

import keras_trainwatch as ktw
from keras_trainwatch.reducer.reactions import FindingReactions, reason_for

pytestmark = pytest.mark.fast


def finding(kind, value, step, layer="dense", first_step=0, episodes=1):
    return ktw.Finding(
        kind,
        layer,
        0,
        first_step,
        value,
        1.0,
        "msg",
        last_step=step,
        last_value=value,
        episodes=episodes,
    )


def test_new_findings_are_due_then_only_when_worse():
    reactions = FindingReactions(("exploding_gradients", "dead_relu"))
    first = [
        finding("exploding_gradients", 2e3, 0),
        finding("dead_relu", 0.6, 0),
    ]
    assert reactions.due(first) == first
    reactions.acted_on(first)
    same = [
        finding("exploding_gradients", 2e3, 5),
        finding("dead_relu", 0.6, 5),
    ]
    assert reactions.due(same) == []
    worse = [
        finding("exploding_gradients", 3e3, 10),
        finding("dead_relu", 0.6, 10),
    ]
    assert reactions.due(worse) == worse[:1]
    assert reactions.due([finding("vanishing_gradients", 1e-7, 10)]) == []


def test_spikes_are_due_once_per_episode_unless_a_rollback_undid_them():
    reactions = FindingReactions(("loss_spike",))
    spike = finding("loss_spike", 9.0, 41, layer=None, first_step=41)
    assert reactions.due([spike]) == [spike]
    reactions.acted_on([spike])
    assert reactions.due([spike]) == []
    # More spikes before the next probe, larger ones too: the same blow-up.
    same = finding("loss_spike", 90.0, 44, layer=None, first_step=41)
    assert reactions.due([same]) == []
    later = finding(
        "loss_spike", 7.0, 90, layer=None, first_step=41, episodes=2
    )
    assert reactions.due([later]) == [later]
    assert reactions.due([later], rolled_back_at=95) == []


def test_reset_forgets():
    reactions = FindingReactions(("dead_relu",))
    dead = [finding("dead_relu", 0.6, 0)]
    reactions.acted_on(dead)
    reactions.reset()
    assert reactions.due(dead) == dead


def test_reason_names_the_first_finding_and_how_long_it_lasts():
    findings = [
        finding("exploding_gradients", 2e3, 8, first_step=0),
        finding("dead_relu", 0.7, 8, layer="d2", first_step=8),
    ]
    assert reason_for(findings, 8) == (
        "exploding gradients in layer dense, present since step 0 "
        "(and 1 more finding(s))"
    )
    assert reason_for(
        [finding("loss_spike", 9.0, 3, layer=None, first_step=3)], 3
    ) == ("loss spike in the loss")
