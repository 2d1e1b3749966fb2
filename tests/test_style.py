"""The code stays within the style the team set (setup.cfg's flake8 section: lines of at most 110
characters, no unused names)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ["qnn_torch", "tests", "benchmarks", "examples", "scripts"]


def test_flake8_is_clean():
    """flake8 comes with the [test] extra; a missing one fails here rather than skipping."""
    proc = subprocess.run([sys.executable, "-m", "flake8", *FOLDERS], cwd=ROOT, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
