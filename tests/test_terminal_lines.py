"""What the watch prints starts on a line of its own under Keras's default
progress bar, in a real pseudo-terminal."""

import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parent / "scripts" / "fit_in_a_terminal.py"
POISONED = Path(__file__).parent / "scripts" / "fit_with_a_poisoned_batch.py"


def run_in_a_terminal(script):
    """The bytes `script` writes to a pseudo-terminal (stdout and stderr)."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, str(script)],
        stdin=subprocess.DEVNULL,
        stdout=terminal,
        stderr=terminal,
    )
    os.close(terminal)
    chunks = []
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the terminal closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(controller)
    assert process.wait(timeout=120) == 0, b"".join(chunks).decode()[-2000:]
    return b"".join(chunks).decode(errors="replace")


def run_into_a_file(script, path):
    """What `script` writes with stdout and stderr redirected to a file."""
    with open(path, "wb") as out:
        subprocess.run(
            [sys.executable, str(script)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=120,
            check=True,
        )
    return Path(path).read_text(errors="replace")


def run_script(script, where, tmp_path):
    """What `script` writes in a terminal, or into a file. Keras redraws its
    bar with '\\r' into a file too (on POSIX), leaving its line open between
    steps as in a terminal."""
    if where == "terminal":
        return run_in_a_terminal(script)
    return run_into_a_file(script, tmp_path / "fit.log")


def screen_of(output):
    """Each line as the last redraw (after '\\r') leaves it on screen (a
    terminal turns each '\\n' into '\\r\\n')."""
    lines = output.replace("\r\n", "\n").split("\n")
    return [line.split("\r")[-1] for line in lines]


@pytest.mark.parametrize("where", ["terminal", "file"])
def test_findings_start_on_a_line_of_their_own_under_the_default_progress_bar(
    where, tmp_path
):
    output = run_script(SCRIPT, where, tmp_path)
    assert "dead_relu" in output.splitlines()[-1], output[-2000:]
    screen = screen_of(output)
    findings = [line for line in screen if "Dead ReLU units" in line]
    assert findings, output[-2000:]
    for line in findings:
        # The line starts with the finding, not with the progress bar.
        assert re.match(r"^\[epoch \d+, step \d+\] Dead ReLU", line), line
    # One line break before what the watch and the reducer print at one
    # step, not one each: no empty line between them.
    first = screen.index(findings[0])
    assert screen[first + 1].startswith("AutoLRReducer: reduced"), screen
    reductions = [line for line in screen if "reduced learning rate" in line]
    assert len(reductions) >= 2, output[-2000:]  # a finding's, a plateau's
    for line in reductions:
        assert line.startswith("AutoLRReducer: reduced learning rate"), line


@pytest.mark.parametrize("where", ["terminal", "file"])
def test_a_spike_its_rollback_and_its_resolution_each_on_a_line(
    where, tmp_path
):
    screen = screen_of(run_script(POISONED, where, tmp_path))
    [spike] = [line for line in screen if "Loss spike at step 41" in line]
    assert spike.startswith("[epoch 1, step 41] Loss spike"), spike
    following = screen[screen.index(spike) + 1]
    assert following.startswith("AutoLRReducer: reduced learning rate"), screen
    assert "rollback 1 after a loss spike at step 41" in following
    [resolved] = [line for line in screen if "Resolved:" in line]
    assert resolved.startswith(
        "[epoch 1, step 48] Resolved: loss spike (found at step 41, seen at"
    ), resolved
