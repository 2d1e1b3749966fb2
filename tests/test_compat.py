"""The private interfaces of other packages in ``qnn_torch._compat`` still answer as we use them.

Each test fails loudly when a new release of the package behind an entry changes it.
"""

import os
import platform
import subprocess
import sys

import pytest
import torch

from qnn_torch import _compat

MKL_TORCH = (sys.platform.startswith("linux") and platform.machine() == "x86_64"
             and torch.backends.mkl.is_available())


def _branch_in_a_fresh_process(env: dict) -> str:
    code = "from qnn_torch._compat import mkl_cbwr_branch; print(mkl_cbwr_branch())"
    proc = subprocess.run([sys.executable, "-c", code], env={**os.environ, **env}, capture_output=True,
                          text=True, check=True)
    return proc.stdout.strip()


@pytest.mark.skipif(not MKL_TORCH, reason="torch without MKL (only x86-64 Linux wheels link it)")
@pytest.mark.parametrize("setting, branch", [("COMPATIBLE", "3"), pytest.param("AUTO", "2", marks=pytest.mark.slow),
                                             pytest.param("SSE4_2", "8", marks=pytest.mark.slow)])
def test_torch_exports_the_mkl_reproducibility_switch(setting, branch):
    """``mkl_serv_cbwr_get`` answers from torch's library with the branch MKL_CBWR asks for
    (tested with torch 2.14.1, MKL 2024.0)."""
    assert _compat._torch_mkl_symbol("mkl_serv_cbwr_get") is not None
    assert _branch_in_a_fresh_process({"MKL_CBWR": setting}) == branch


@pytest.mark.skipif(MKL_TORCH, reason="torch with MKL")
def test_without_mkl_there_is_no_branch():
    assert _compat.mkl_cbwr_branch() is None
