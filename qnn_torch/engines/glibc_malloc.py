"""glibc's ``malloc`` tuned to keep freed memory for reuse: large state vectors without a page
fault per pass.

A simulation of a large register allocates a state vector (megabytes to gigabytes) at every
gate it applies and frees it soon after. glibc's ``malloc`` by default maps every allocation
above 32 MiB afresh with ``mmap`` and returns freed memory to the system, so each new state pays
a page fault for every 4 KiB it touches, a large part of a training step's time at 20 qubits
(benchmarks/results/scaling.txt). PyTorch's CPU tensors use ``malloc``.

:func:`keep_freed_memory`, called by the engines when they first run a large register on the CPU,
asks glibc (``mallopt``) to serve allocations below :data:`MMAP_THRESHOLD` from its heap (or below
32 MiB, where a glibc refuses more) and to give freed memory at the top of its heap back to the
system only beyond :data:`TRIM_THRESHOLD`. A training loop's next step then reuses the memory of
the last one, and the process holds up to about that much freed memory between steps
(:func:`~qnn_torch.engines.memory.available_memory` counts it as available). The settings concern the
main heap, which the thread calling the model uses in a plain training loop; allocations of other
threads above 64 MiB are still mapped afresh. It is a setting of the whole process: set the
environment variable :data:`ENV_VARIABLE` to ``0`` to leave ``malloc`` as it is. Elsewhere than
Linux with glibc it does nothing.
"""

from __future__ import annotations

import ctypes
import functools
import os
import platform
import sys
import threading

__all__ = ["ENV_VARIABLE", "FALLBACK_MMAP_THRESHOLD", "MMAP_THRESHOLD", "TRIM_THRESHOLD", "free_heap_bytes",
           "keep_freed_memory"]

ENV_VARIABLE = "QNN_TORCH_KEEP_FREED_MEMORY"
"""str: the environment variable that, set to ``0`` (or ``false``, ``no``, ``off``), stops
:func:`keep_freed_memory` from changing ``malloc``'s settings."""

MMAP_THRESHOLD = 2**30
"""int: allocations below this many bytes come from glibc's heap (``M_MMAP_THRESHOLD``; where a
glibc refuses it, :data:`FALLBACK_MMAP_THRESHOLD`)."""

FALLBACK_MMAP_THRESHOLD = 2**25
"""int: the largest ``M_MMAP_THRESHOLD`` that glibc's documentation promises on 64-bit systems."""

TRIM_THRESHOLD = 2**31 - 1
"""int: glibc keeps up to this many freed bytes at the top of its heap (``M_TRIM_THRESHOLD``)."""

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_LOCK = threading.Lock()
_state: dict = {}


@functools.lru_cache(maxsize=None)
def _libc():
    """The process's C library when it is glibc on Linux, else None."""
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL(None)
    except OSError:
        return None


def keep_freed_memory() -> bool:
    """Ask glibc to keep freed memory for reuse (once per process; later calls return the answer).

    Returns:
        bool: True when ``malloc``'s settings were changed (Linux with glibc, and the environment
        variable :data:`ENV_VARIABLE` is not ``0``), else False.

    **Example**

    >>> from qnn_torch.engines.glibc_malloc import keep_freed_memory
    >>> isinstance(keep_freed_memory(), bool)
    True
    """
    kept = _state.get("kept")  # every large call asks: no lock once answered
    if kept is not None:
        return kept
    with _LOCK:
        if "kept" not in _state:
            _state["kept"] = _tune()
        return _state["kept"]


def _tune() -> bool:
    if os.environ.get(ENV_VARIABLE, "1").strip().lower() in ("0", "false", "no", "off"):
        return False
    libc = _libc()
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is None:
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    trimmed = bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    mapped = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
                  or mallopt(_M_MMAP_THRESHOLD, FALLBACK_MMAP_THRESHOLD))
    return trimmed and mapped


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
                 "fordblks", "keepcost")]


def free_heap_bytes() -> int:
    """Bytes that glibc's heap holds freed, ready for the next allocations (0 where unknown).

    **Example**

    >>> from qnn_torch.engines.glibc_malloc import free_heap_bytes
    >>> free_heap_bytes() >= 0
    True
    """
    mallinfo2 = getattr(_libc(), "mallinfo2", None)  # glibc >= 2.33
    if mallinfo2 is None:
        return 0
    mallinfo2.argtypes, mallinfo2.restype = [], _MallInfo2
    return int(mallinfo2().fordblks)
