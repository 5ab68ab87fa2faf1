"""What a user sees: a real TensorBoard server, asked through its HTTP data
API, serves the runs, tags and values written during a real fit."""

import os
import sys
import urllib.parse

import keras
import pytest
from helpers import compiled, mlp

import keras_trainwatch as ktw

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tools"))
from tensorboard_server import get_json, serve_tensorboard


@pytest.fixture(scope="module")
def served_run(tmp_path_factory, digits):
    log_dir = tmp_path_factory.mktemp("tb")
    keras.utils.set_random_seed(0)
    x, y = digits
    model = compiled(
        mlp(depth=3, bias={2: -20.0}),
        optimizer=keras.optimizers.Adam(1e-3, name="adam"),
    )
    watch = ktw.GradientWatch(
        (x[:64], y[:64]),
        every_n_steps=10,
        log_dir=log_dir,
        on_finding=lambda f: None,
    )
    # A plateau at the second epoch's end (no change of 10 counts as one);
    # hidden_2 is dead from the start, which no lower rate helps.
    reducer = ktw.AutoLRReducer(
        monitor="loss", patience=0, min_delta=10, watch=watch
    )
    model.fit(
        x[:640],
        y[:640],
        validation_data=(x[640:800], y[640:800]),
        epochs=2,
        verbose=0,
        callbacks=[
            watch,
            reducer,
            keras.callbacks.TensorBoard(log_dir, histogram_freq=1),
        ],
    )
    with serve_tensorboard(
        log_dir, expected_runs=("train", "validation", "gradient_watch")
    ) as base:
        yield base, watch


def query(base, path, **params):
    return get_json(
        f"{base}{path}?{urllib.parse.urlencode(params)}"
        if params
        else f"{base}{path}"
    )


def test_runs_sit_next_to_keras_tensorboard_runs(served_run):
    base, _ = served_run
    assert {"train", "validation", "gradient_watch"} <= set(
        query(base, "/data/runs")
    )


def test_per_layer_scalars_are_served_with_the_probed_values(served_run):
    base, watch = served_run
    tags = set(query(base, "/data/plugin/scalars/tags")["gradient_watch"])
    for layer in ["hidden_0", "hidden_1", "hidden_2", "out"]:
        assert {
            f"grad_norm/{layer}",
            f"relative_grad/{layer}",
            f"weight_norm/{layer}",
        } <= tags
    assert {
        "dead_fraction/hidden_2",
        "probe/loss",
        "probe/grad_norm",
        "learning_rate/Adam",
    } <= tags
    served = query(
        base,
        "/data/plugin/scalars/scalars",
        run="gradient_watch",
        tag="grad_norm/hidden_1",
    )
    assert [
        (step, pytest.approx(value, rel=1e-6)) for _, step, value in served
    ] == [(r.step, r.layer("hidden_1").grad_norm) for r in watch.records]
    dead = query(
        base,
        "/data/plugin/scalars/scalars",
        run="gradient_watch",
        tag="dead_fraction/hidden_2",
    )
    assert dead[0][1:] == [0, 1.0]
    rates = query(
        base,
        "/data/plugin/scalars/scalars",
        run="gradient_watch",
        tag="learning_rate/Adam",
    )
    assert rates[-1][2] == pytest.approx(1e-4)


def test_gradient_histograms_are_served(served_run):
    base, watch = served_run
    tags = query(base, "/data/plugin/histograms/tags")["gradient_watch"]
    assert "gradients/hidden_0/kernel" in tags
    histograms = query(
        base,
        "/data/plugin/histograms/histograms",
        run="gradient_watch",
        tag="gradients/hidden_0/kernel",
    )
    assert [h[1] for h in histograms] == [r.step for r in watch.records]


def test_findings_are_served_as_a_table_with_remedies(served_run):
    base, _ = served_run
    assert "findings" in query(base, "/data/plugin/text/tags")["gradient_watch"]
    [entry] = query(
        base, "/data/plugin/text/text", run="gradient_watch", tag="findings"
    )
    html = entry["text"]
    assert "<table>" in html and "dead_relu" in html and "hidden_2" in html
    assert "Lower the learning rate." in html
    reductions = query(
        base,
        "/data/plugin/text/text",
        run="gradient_watch",
        tag="learning_rate/reductions",
    )
    assert (
        "Adam 0.001 -&gt; 0.0001 (no improvement of loss for 1 epochs)"
        in (reductions[0]["text"])
    )


def test_custom_scalars_layout_groups_layers_into_multiline_charts(served_run):
    base, _ = served_run
    layout = query(base, "/data/plugin/custom_scalars/layout")
    [category] = [
        c for c in layout["category"] if c["title"] == "keras_trainwatch"
    ]
    charts = {
        chart["title"]: chart["multiline"]["tag"] for chart in category["chart"]
    }
    assert charts["Gradient norm per layer |g|"] == ["^grad_norm/"]
    assert charts["Dead ReLU fraction per layer"] == ["^dead_fraction/"]
    assert charts["Learning rate"] == ["^learning_rate/"]


def test_without_a_reducer_the_layout_has_no_empty_learning_rate_chart(
    tmp_path, digits
):
    model = compiled(mlp(depth=2))
    watch = ktw.GradientWatch(
        (digits[0][:64], digits[1][:64]),
        log_dir=tmp_path,
        on_finding=lambda f: None,
    )
    model.fit(
        digits[0][:256], digits[1][:256], epochs=1, verbose=0, callbacks=[watch]
    )
    with serve_tensorboard(tmp_path, expected_runs=("gradient_watch",)) as base:
        layout = query(base, "/data/plugin/custom_scalars/layout")
    [category] = layout["category"]
    titles = [chart["title"] for chart in category["chart"]]
    assert "Learning rate" not in titles
    assert "Gradient norm per layer |g|" in titles
