"""The private interfaces of other packages that qnn_torch uses, each in one place.

Every entry names the versions it is tested on; ``tests/test_compat.py`` fails loudly when one of
them changes.
"""

from __future__ import annotations

import ctypes
import sys
from pathlib import Path

__all__ = ["mkl_cbwr_branch"]

_MKL_CBWR_BRANCH = 1  # mkl_cbwr.h: ask mkl_cbwr_get for the branch in use


def _torch_mkl_symbol(name: str):
    """A C function of the Intel MKL linked into torch's CPU library, or None where there is none.

    torch's x86-64 Linux wheels (tested: torch 2.2 to 2.14.1, MKL 2024.0) link MKL statically into
    ``libtorch_cpu.so`` and export its service functions under their internal ``mkl_serv_`` names;
    other builds (macOS, aarch64, OpenBLAS builds) have no MKL.
    """
    import torch

    if not sys.platform.startswith("linux") or not torch.backends.mkl.is_available():
        return None
    library = Path(torch.__file__).parent / "lib" / "libtorch_cpu.so"
    try:
        return getattr(ctypes.CDLL(str(library)), name)
    except (OSError, AttributeError):
        return None


def mkl_cbwr_branch() -> int | None:
    """MKL's conditional numerical reproducibility branch in this process (``mkl_cbwr_get``).

    The first call fixes the branch for the life of the process, from the ``MKL_CBWR``
    environment variable as it is then (unless an MKL computation fixed it before).

    Returns:
        int or None: a ``MKL_CBWR_*`` constant of ``mkl_cbwr.h`` (1: off, MKL chooses its code per
        CPU; 2: AUTO; 3: COMPATIBLE; 10: AVX2; 12: AVX512; ...), or None without MKL.
    """
    get = _torch_mkl_symbol("mkl_serv_cbwr_get")
    if get is None:
        return None
    get.restype, get.argtypes = ctypes.c_int, [ctypes.c_int]
    return int(get(_MKL_CBWR_BRANCH)) & 0xFFFF  # without the STRICT flag
