"""examples/qiskit_ml_primitives.py, a qiskit-machine-learning script passing an Aer and an IBM Runtime
estimator, runs on qiskit-machine-learning and, with its imports changed, on qnn_torch."""

import os
import subprocess
import sys
from pathlib import Path

import pytest


ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}


def run_example(library: str) -> list[str]:
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "qiskit_ml_primitives.py"), "--library",
                           library], env=ENV, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return [line for line in proc.stdout.splitlines() if "losses:" in line]


@pytest.mark.slow
@pytest.mark.parametrize("library", ["qiskit-ml", "qnn_torch"])
def test_the_example_runs(library):
    lines = run_example(library)
    names = [line.split(",")[0] for line in lines]
    assert names == ["Aer EstimatorV2", "IBM Runtime EstimatorV2 on FakeManilaV2"]
