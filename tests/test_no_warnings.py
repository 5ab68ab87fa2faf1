import subprocess
import sys
from pathlib import Path


def test_a_watched_rescued_fit_and_its_report_raise_no_warning(tmp_path):
    """Under `python -W error` every warning is an exception: the watch, the
    reducer with rollback, TensorBoard writing and the report must cause
    none (NumPy 2's copy-keyword warning from converting tensors included)."""
    script = Path(__file__).parent / "scripts" / "warnings_check.py"
    result = subprocess.run(
        [sys.executable, "-W", "error", str(script), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "kinds: [" in result.stdout
