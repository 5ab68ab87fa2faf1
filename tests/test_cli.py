"""The `trainwatch` command line: demo and report, run for real."""

import subprocess
import sys

import pytest

import keras_trainwatch as ktw
from keras_trainwatch.cli.demo import SCENARIOS, RunResult, run_demo, summary
from keras_trainwatch.cli.main import main
from keras_trainwatch.findings import Finding


@pytest.fixture(scope="module")
def demo_logs(tmp_path_factory):
    log_dir = tmp_path_factory.mktemp("demo")
    with open(log_dir / "report.txt", "w") as out:
        results = run_demo(log_dir=str(log_dir), epochs=2, out=out)
    return log_dir, results


def test_demo_catches_each_broken_network_and_prints_a_summary(demo_logs):
    log_dir, results = demo_logs
    expected = {
        "vanishing": "vanishing_gradients",
        "exploding": "exploding_gradients",
        "learning_rate": "dead_relu",
    }
    assert [(r.scenario, r.variant) for r in results] == [
        (s.name, v) for s in SCENARIOS for v in ("broken", "fixed")
    ]
    for result in results:
        kinds = {f.kind for f in result.findings}
        if result.variant == "broken":
            assert expected[result.scenario] in kinds
    assert {
        f.kind
        for r in results
        if r.scenario != "learning_rate" and r.variant == "fixed"
        for f in r.findings
    } == set()
    report = (log_dir / "report.txt").read_text()
    assert "Summary (test set):" in report
    assert f"tensorboard --logdir {log_dir}" in report
    for scenario in ("vanishing", "exploding", "learning_rate"):
        for variant in ("broken", "fixed"):
            assert {
                p.name for p in (log_dir / scenario / variant).iterdir()
            } >= {"train", "validation", "gradient_watch"}


def test_the_summary_spells_out_every_kind_found():
    kinds = ("dead_relu", "loss_not_improving", "vanishing_gradients")
    findings = tuple(
        Finding(kind, "dense", 0, 0, 1.0, 0.5, "message") for kind in kinds
    )
    results = [
        RunResult("learning_rate", "broken", findings, 2.309, 0.098, "a"),
        RunResult("learning_rate", "fixed", (), 0.298, 0.894, "b"),
    ]
    lines = summary(results).splitlines()
    assert lines[3].split() == [
        "learning_rate",
        "broken",
        "3:",
        "dead_relu,",
        "loss_not_improving,",
        "vanishing_gradients",
        "2.309",
        "9.8%",
    ]
    # The loss column ends where its header ends.
    assert lines[2].index("loss") + len("loss") == (
        lines[3].index("2.309") + len("2.309")
    )


def test_report_prints_findings_per_run_and_plots(demo_logs, capsys, tmp_path):
    log_dir, _results = demo_logs
    plot = tmp_path / "flow.png"
    assert main(["report", str(log_dir), "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    assert "vanishing/broken      vanishing_gradients  hidden_0_dense" in out
    assert "vanishing/fixed       none" in out
    assert "remedy for dead_relu: Lower the learning rate (now " in out
    assert (
        plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        and plot.stat().st_size > 20_000
    )


def test_report_on_a_missing_directory_fails_cleanly(tmp_path, capsys):
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert "No such log directory" in capsys.readouterr().err


def test_console_script_and_module_entry_point():
    result = subprocess.run(
        [sys.executable, "-m", "keras_trainwatch", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "demo" in result.stdout and "report" in result.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "keras_trainwatch", "demo", "--epochs", "0"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "expected an integer >= 1" in bad.stderr


def test_version_is_the_packages():
    result = subprocess.run(
        [sys.executable, "-m", "keras_trainwatch", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout == f"trainwatch {ktw.__version__}\n"
    assert "tensorflow" not in result.stderr.lower()
