"""The `trainwatch` TensorBoard dashboard, served by a real `tensorboard`
on logs from a real `fit` and opened in headless Chromium: its cells and
findings rows match the records, and a click highlights the finding."""

import math
import os
import sys

import keras
import pytest
from helpers import compiled, mlp

import keras_trainwatch as ktw
from keras_trainwatch.tensorboard.flow import run_view
from keras_trainwatch.tensorboard.reader import read_runs

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tools"))
from dashboard_browser import CHROMIUM, open_dashboard
from tensorboard_server import get_json, serve_tensorboard


@pytest.fixture(scope="module")
def watched_run(tmp_path_factory, digits):
    """A dead-ReLU network with a reducer: findings, resolved findings and
    reductions, probed every 5 steps."""
    log_dir = tmp_path_factory.mktemp("dashboard")
    keras.utils.set_random_seed(0)
    model = compiled(
        mlp(depth=6, bias={2: -20.0}), optimizer=keras.optimizers.SGD(0.1)
    )
    x, y = digits[0][:640], digits[1][:640]
    watch = ktw.GradientWatch(
        (x[:128], y[:128]),
        every_n_steps=5,
        log_dir=log_dir,
        on_finding=lambda f: None,
        keep_records=None,
    )
    reducer = ktw.AutoLRReducer(monitor=None, watch=watch, factor=0.5)
    model.fit(
        x, y, epochs=2, batch_size=64, verbose=0, callbacks=[watch, reducer]
    )
    return log_dir, watch, reducer


def test_the_dashboard_data_follows_the_records(watched_run):
    log_dir, watch, reducer = watched_run
    [run] = read_runs(log_dir)
    view = run_view(run)
    assert view["layers"] == [layer.name for layer in watch.records[0].layers]
    assert view["steps"] == [record.step for record in watch.records]
    for column, record in enumerate(watch.records):
        for row, layer in enumerate(record.layers):
            cell = view["relative_grad"][row][column]
            expected = layer.relative_grad
            if math.isfinite(expected):
                assert cell == pytest.approx(expected, rel=1e-6)
            else:
                assert cell in ("nan", "inf")
    assert [f["layer"] for f in view["findings"]] == [
        f.layer for f in watch.findings
    ]
    assert [r["step"] for r in view["reductions"]] == [
        r.step for r in reducer.reductions
    ]


@pytest.mark.skipif(
    CHROMIUM is None,
    reason="needs Chromium (apt-get install chromium); .ci/run installs it",
)
def test_the_dashboard_in_a_real_browser(watched_run, tmp_path):
    log_dir, watch, reducer = watched_run
    screenshot = tmp_path / "dashboard.png"
    with serve_tensorboard(log_dir, expected_runs=["gradient_watch"]) as base:
        listing = get_json(f"{base}/data/plugins_listing")
        assert listing["trainwatch"]["enabled"]
        assert get_json(f"{base}/data/plugin/trainwatch/runs") == ["."]
        with open_dashboard(base) as (page, frame):
            cells = frame.locator("#gradient-flow .cell[data-layer]")
            first = watch.records[0]
            assert cells.count() == len(watch.records) * len(first.layers)
            cell = frame.locator(
                f'#gradient-flow .cell[data-layer="{first.layers[0].name}"]'
                f'[data-step="{first.step}"]'
            )
            assert float(cell.get_attribute("data-value")) == pytest.approx(
                first.layers[0].relative_grad, rel=1e-6
            )
            # The findings are on the heatmap before any click.
            found = frame.locator("#gradient-flow .cell.found")
            assert found.count() > 0
            finding_layers = {f.layer for f in watch.findings}
            assert {
                found.nth(i).get_attribute("data-layer")
                for i in range(found.count())
            } <= finding_layers
            rows = frame.locator("#findings tr.finding")
            assert rows.count() == len(watch.findings)
            assert [
                rows.nth(i).get_attribute("data-layer")
                for i in range(rows.count())
            ] == [f.layer or "" for f in watch.findings]
            rows.nth(0).click()
            finding = watch.findings[0]
            highlighted = frame.locator(
                f'#gradient-flow .cell.highlight[data-layer="{finding.layer}"]'
            )
            assert highlighted.count() == len(watch.records)
            reductions = frame.locator("#reductions li")
            assert reductions.count() == len(reducer.reductions)
            page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 20_000


@pytest.mark.skipif(
    CHROMIUM is None,
    reason="needs Chromium (apt-get install chromium); .ci/run installs it",
)
def test_one_colour_scale_for_every_run(tmp_path):
    # Two runs whose ranges differ by five orders of magnitude share a cell
    # value: on a fixed scale it gets the same colour in both, and the
    # healthy run's cells are not painted like the vanishing run's.
    from records import make_record

    from keras_trainwatch.tensorboard.writer import ProbeSummaryWriter

    runs = {
        "healthy": [("a", 1e-2, 1.0), ("b", 3e-2, 1.0)],
        "vanishing": [("a", 1e-7, 1.0), ("b", 1e-2, 1.0)],
    }
    for name, layers in runs.items():
        writer = ProbeSummaryWriter(tmp_path / name)
        writer.write_record(make_record(layers, step=0))
        writer.close()
    runs_served = ["healthy/gradient_watch", "vanishing/gradient_watch"]
    with serve_tensorboard(tmp_path, expected_runs=runs_served) as base:
        with open_dashboard(base) as (_, frame):
            colours = {}
            for run in ("healthy", "vanishing"):
                frame.locator("#run").select_option(run)
                frame.locator(f'body[data-loaded="{run}"]').wait_for()
                legend = frame.locator(".legend").first.inner_text()
                assert "1e-8" in legend and "1e1" in legend, legend
                assert frame.locator('.mark[data-at="-4"]').count() == 1
                for layer in ("a", "b"):
                    cell = frame.locator(
                        f'#gradient-flow .cell[data-layer="{layer}"]'
                    )
                    colours[run, layer] = cell.evaluate(
                        "node => getComputedStyle(node).backgroundColor"
                    )
    assert colours["healthy", "a"] == colours["vanishing", "b"]  # both 1e-2
    assert colours["healthy", "a"] != colours["vanishing", "a"]


@pytest.mark.skipif(
    CHROMIUM is None,
    reason="needs Chromium (apt-get install chromium); .ci/run installs it",
)
def test_a_run_is_selected_by_url(tmp_path):
    from records import make_record

    from keras_trainwatch.tensorboard.writer import ProbeSummaryWriter

    for name in ("first", "second"):
        writer = ProbeSummaryWriter(tmp_path / name)
        writer.write_record(make_record([("a", 1.0, 1.0)]))
        writer.close()
    served = ["first/gradient_watch", "second/gradient_watch"]
    with serve_tensorboard(tmp_path, expected_runs=served) as base:
        query = "trainwatch_run=second"
        with open_dashboard(base, query=query) as (page, frame):
            frame.locator('body[data-loaded="second"]').wait_for()
            frame.locator("#run").select_option("first")
            frame.locator('body[data-loaded="first"]').wait_for()
            assert "trainwatch_run=first" in page.url
