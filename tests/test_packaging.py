"""Building and installing the package leaves a clone of the repository as it was."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SKIP = shutil.ignore_patterns(".git", "__pycache__", ".pytest_cache", "*.egg-info", "build", "dist",
                              "qnn-torch-out")


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@pytest.mark.slow
def test_building_the_wheel_writes_nothing_into_the_clone(tmp_path):
    clone = tmp_path / "clone"
    shutil.copytree(ROOT, clone, ignore=SKIP)
    before = _files(clone)
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(tmp_path / "wheels"), str(clone)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert _files(clone) == before  # no build/, no *.egg-info
    wheel = next((tmp_path / "wheels").glob("qnn_torch-*.whl"))
    listing = subprocess.run([sys.executable, "-m", "zipfile", "-l", str(wheel)], capture_output=True,
                             text=True, check=True).stdout
    assert "qnn_torch/data/mnist01.npz" in listing and "entry_points.txt" in listing
    assert "licenses/LICENSE" in listing or "LICENSE" in listing
