"""Starts a real TensorBoard server on a free local port, for tests and for
the README screenshot script."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get_json(url: str):
    """GETs `url` and decodes its JSON body."""
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read().decode("utf-8"))


@contextlib.contextmanager
def serve_tensorboard(logdir, expected_runs=(), timeout=120):
    """Runs `tensorboard --logdir logdir` until the block ends.

    Waits until the server answers and lists every run in `expected_runs`.

    Args:
        logdir: The log directory to serve.
        expected_runs: Run names to wait for.
        timeout: Seconds to wait before giving up.

    Yields:
        The server's base URL, e.g. `http://127.0.0.1:6123`.
    """
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tensorboard.main",
            "--logdir",
            str(logdir),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--load_fast",
            "false",
            "--reload_interval",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"tensorboard exited: {process.stderr.read()[-2000:]}"
                )
            try:
                if set(expected_runs) <= set(get_json(f"{base}/data/runs")):
                    break
            except (
                urllib.error.URLError,
                ConnectionError,
                json.JSONDecodeError,
            ):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"tensorboard did not serve {expected_runs} in {timeout}s"
                )
            time.sleep(0.5)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
