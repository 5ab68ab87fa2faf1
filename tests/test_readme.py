"""The README's Python code blocks run as written, each in a fresh process
in an empty folder (what a new user does with them)."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
# A block that continues the one before it (it uses its names) starts with
# this comment; the two run together.
CONTINUES = "# continues the block above"


def programs():
    """The README's blocks, the continuing ones joined to their start."""
    joined = []
    for block in BLOCKS:
        if block.startswith(CONTINUES) and joined:
            joined[-1] += "\n" + block
        else:
            joined.append(block)
    return joined


def test_the_readme_has_code_to_run():
    assert len(programs()) >= 3


@pytest.mark.parametrize("index", range(len(programs())))
def test_a_readme_block_runs_as_written(index, tmp_path):
    program = programs()[index]
    result = subprocess.run(
        [sys.executable, "-c", program],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        env={"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, (program, result.stderr[-3000:])
