"""Every `trainwatch` and `tensorboard` command that the README and the demo
print works as printed, from the checkout's root, after the set-up
commands (here: in a folder holding a link to this checkout's `.venv`)."""

import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
COMMAND = re.compile(
    r"^\s*(\.venv/bin/(?:trainwatch|tensorboard)\b.*)$"  # a code-block line
    r"|`(\.venv/bin/(?:trainwatch|tensorboard)\b[^`]*)`",  # inline code
    re.MULTILINE,
)

pytestmark = pytest.mark.skipif(
    not (VENV / "bin" / "trainwatch").exists(),
    reason="needs the .venv that scripts/setup_env.sh makes",
)


def commands_in(text):
    return [(m.group(1) or m.group(2)).strip() for m in COMMAND.finditer(text)]


@pytest.fixture(scope="module")
def checkout_root(tmp_path_factory):
    """A folder laid out like the checkout's root after the demo ran: the
    `.venv` and the demo's `trainwatch_logs` (a short demo, run as the
    README's set-up runs it)."""
    root = tmp_path_factory.mktemp("root")
    (root / ".venv").symlink_to(VENV)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    demo = subprocess.run(
        [".venv/bin/trainwatch", "demo", "--epochs", "1"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert demo.returncode == 0, demo.stderr[-2000:]
    return root, demo.stdout


def run_as_printed(command, root):
    args = shlex.split(command)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    if args[0].endswith("tensorboard"):
        # A server: it works when it says where it serves; then stop it.
        args += ["--port", "0"] if "--port" not in args else []
        server = subprocess.Popen(
            args,
            cwd=root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            deadline, seen = time.time() + 120, ""
            while time.time() < deadline and "http://" not in seen:
                line = server.stdout.readline()
                if not line and server.poll() is not None:
                    break
                seen += line
            assert "http://" in seen, seen[-2000:]
        finally:
            server.terminate()
            server.wait(timeout=30)
        return
    result = subprocess.run(
        args, cwd=root, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, (command, result.stderr[-2000:])
    assert "Traceback" not in result.stderr


def test_the_demo_prints_commands_that_work_as_printed(checkout_root):
    root, printed = checkout_root
    # Paths of the commands beside the Python that ran the demo: relative
    # from the checkout's root, absolute from elsewhere (as here).
    commands = re.findall(
        r"^  (\S*bin/(?:tensorboard|trainwatch) .*)$", printed, re.M
    )
    assert [c.split()[0].rsplit("/", 1)[-1] for c in commands] == [
        "tensorboard",
        "trainwatch",
    ]
    for command in commands:
        run_as_printed(command, root)
    assert (root / "flow.png").stat().st_size > 10_000


def test_the_readme_commands_work_as_printed(checkout_root):
    root, _ = checkout_root
    commands = commands_in((ROOT / "README.md").read_text())
    assert len(commands) >= 3
    for command in commands:
        run_as_printed(command, root)


def test_help_answers_without_loading_tensorflow():
    snippet = (
        "import sys\n"
        "from keras_trainwatch.cli.main import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print('tensorflow loaded:', 'tensorflow' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", snippet],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "usage: trainwatch" in result.stdout
    assert "tensorflow loaded: False" in result.stdout
    assert result.stderr == ""
