"""The same float32 results on every x86-64 CPU: MKL's conditional numerical reproducibility.

torch's x86-64 wheels compute their BLAS routines (``torch.dot``, matrix products) with Intel MKL,
which picks a code path per CPU: on a CPU with AVX2 or AVX-512 it adds the four products of a
length-4 ``torch.dot`` in another order than on a CPU where it takes its generic path. The
results differ in the last bit of a float32, and an optimizer that feeds on them can take
another way: ``torch.optim.LBFGS`` computes its curvature from such dot products, and the
tutorial's classification-sampler run (20 float32 evaluations) ends at a loss of 0.6179 on one
CPU and 0.7127 on another, for qiskit-machine-learning as for qnn_torch.

MKL's *conditional numerical reproducibility* fixes that: with the environment variable
``MKL_CBWR=COMPATIBLE`` set before MKL's first computation, MKL takes the same code path on every
Intel and AMD x86-64 CPU. :func:`use_reproducible_blas` sets it from inside Python while that is
still possible; ``qnn-torch tutorial`` and the tutorial notebooks call it first, and print the
seed tutorial's numbers on any such CPU. The library leaves MKL alone otherwise: the compatible
path makes large float32 products several times slower (``benchmarks/results/reproducible-blas.txt``),
which a quantum layer inside a larger model must not impose.

What stays CPU-specific even then: PyTorch's own vectorised kernels (sums, elementwise
functions) may round differently with AVX2 and AVX-512 (``ATEN_CPU_CAPABILITY``), and builds of
torch without MKL (aarch64, macOS) use other libraries. The tests run the tutorial under the
kernels of other CPUs and check that its numbers stay the seed's (``tests/test_reproducibility.py``,
``tests/tutorial``).
"""

from __future__ import annotations

import os

from ._compat import mkl_cbwr_branch

__all__ = ["MKL_CBWR", "blas_mode", "use_reproducible_blas"]

MKL_CBWR = "MKL_CBWR"
"""str: the environment variable that selects MKL's code path."""

_BRANCHES = {
    1: "default", 2: "AUTO", 3: "COMPATIBLE", 4: "SSE2", 6: "SSSE3", 7: "SSE4_1", 8: "SSE4_2", 9: "AVX",
    10: "AVX2", 11: "AVX512_MIC", 12: "AVX512", 13: "AVX512_MIC_E1", 14: "AVX512_E1",
}


def blas_mode() -> str | None:
    """The code path of torch's MKL in this process.

    Returns:
        str or None: ``"COMPATIBLE"`` (the same results on every x86-64 CPU), ``"default"``
        (MKL chooses per CPU: results may differ between CPUs in the last bits), another
        branch named by ``MKL_CBWR`` (``"AUTO"``, ``"AVX2"``, ``"AVX512"``, ...), or None when
        torch has no MKL.

    Asking fixes the path for the life of the process (to what ``MKL_CBWR`` says now, unless
    an MKL computation fixed it before).

    **Example**

    .. code-block:: python

        import qnn_torch

        qnn_torch.use_reproducible_blas()
        print(qnn_torch.blas_mode())   # 'COMPATIBLE' in a fresh process on x86-64 Linux
    """
    branch = mkl_cbwr_branch()
    return None if branch is None else _BRANCHES.get(branch, f"branch {branch}")


def use_reproducible_blas() -> bool:
    """Make MKL compute the same float32 results on every x86-64 CPU for the rest of this process.

    Sets ``MKL_CBWR=COMPATIBLE`` unless the environment already chooses a path (the user's
    ``MKL_CBWR`` wins), and fixes MKL's path. It takes effect only before the process's first
    MKL computation (any ``torch.dot`` or float matrix product on the CPU); after one it changes
    nothing and leaves the environment as it found it, so that child processes (DataLoader
    workers, ``torchrun``) compute as this one does. Call it first thing, before training.

    The compatible path makes large float32 matrix products slower; small products, such as
    those of the tutorial's networks, cost the same (``benchmarks/results/reproducible-blas.txt``).

    Returns:
        bool: whether MKL now takes its compatible path (False without MKL, after an earlier
        MKL computation, or when ``MKL_CBWR`` asks for another path).

    **Example**

    .. code-block:: python

        import qnn_torch

        qnn_torch.use_reproducible_blas()   # before any computation: the seed's numbers on any CPU
    """
    ours = os.environ.get(MKL_CBWR) is None
    if ours:
        os.environ[MKL_CBWR] = "COMPATIBLE"
    mode = blas_mode()
    if ours and mode != "COMPATIBLE":  # too late (or no MKL): children should compute as we do
        del os.environ[MKL_CBWR]
    return mode == "COMPATIBLE"
