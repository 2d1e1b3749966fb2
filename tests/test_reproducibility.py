"""use_reproducible_blas and blas_mode: MKL's compatible path, asked for while it can be had.

Each case runs in a fresh interpreter: MKL fixes its code path once per process.
"""

import json
import os
import platform
import subprocess
import sys

import numpy as np
import pytest
import torch

MKL_TORCH = (sys.platform.startswith("linux") and platform.machine() == "x86_64"
             and torch.backends.mkl.is_available())
pytestmark = pytest.mark.skipif(not MKL_TORCH, reason="torch without MKL: nothing to choose")

REPORT = ("import json, os, qnn_torch\n"
          "print(json.dumps([qnn_torch.use_reproducible_blas(), qnn_torch.blas_mode(),\n"
          "                  os.environ.get('MKL_CBWR')]))")


def _fresh(code: str, **env) -> list:
    clean = {k: v for k, v in os.environ.items() if k != "MKL_CBWR"}
    proc = subprocess.run([sys.executable, "-c", code], env={**clean, **env}, capture_output=True, text=True,
                          check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_before_any_computation_it_takes_the_compatible_path():
    assert _fresh(REPORT) == [True, "COMPATIBLE", "COMPATIBLE"]  # children (workers, torchrun) inherit it


@pytest.mark.slow
def test_after_a_computation_it_is_too_late_and_changes_nothing():
    code = "import torch\ntorch.ones(4).dot(torch.ones(4))\n" + REPORT
    assert _fresh(code) == [False, "default", None]


@pytest.mark.slow
def test_the_users_own_choice_wins():
    assert _fresh(REPORT, MKL_CBWR="AUTO") == [False, "AUTO", "AUTO"]


@pytest.mark.slow
def test_the_compatible_path_adds_a_dot_product_as_on_any_cpu():
    """The arithmetic itself: MKL's compatible sdot of 4 floats adds lanes (0, 2) and (1, 3), the order
    of a CPU without AVX2 (the seed tutorial's machine), on this CPU too."""
    code = (
        "import json, numpy as np, torch, qnn_torch\n"
        "qnn_torch.use_reproducible_blas()\n"
        "rng = np.random.default_rng(0)\n"
        "a, b = (torch.tensor(rng.standard_normal((2000, 4)), dtype=torch.float32) for _ in range(2))\n"
        "print(json.dumps([float(a[i].dot(b[i])) for i in range(len(a))]))\n"
    )
    dots = np.array(_fresh(code), dtype=np.float32)
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((2000, 4)).astype(np.float32) for _ in range(2))
    p = a * b
    assert np.array_equal(dots, (p[:, 0] + p[:, 2]) + (p[:, 1] + p[:, 3]))


@pytest.mark.slow
def test_the_library_leaves_mkl_alone_on_import():
    code = ("import json, torch, qnn_torch\n"
            "qnn_torch.TorchConnector(qnn_torch.EstimatorQNN(2))(torch.rand(3, 2)).sum().backward()\n"
            "print(json.dumps([qnn_torch.blas_mode()]))")
    assert _fresh(code) == ["default"]
