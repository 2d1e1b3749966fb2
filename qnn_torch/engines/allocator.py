"""Freed memory kept for reuse: large state vectors without a page fault per pass.

A simulation of a large register allocates a state vector (megabytes to gigabytes) at every
block and frees it soon after. glibc's ``malloc`` by default maps every allocation above 32 MiB
afresh with ``mmap`` and returns freed memory to the system, so each new state pays a page fault
for every 4 KiB it touches: at 20 qubits, batch 8, that was half of a training step's time
(600 ms per sample; 280 ms when the memory is reused). PyTorch's CPU tensors use ``malloc``.

:func:`keep_freed_memory`, called by the engines when they first run a large register on the CPU,
asks glibc (``mallopt``) to serve allocations up to :data:`MMAP_THRESHOLD` from its heap and to
keep up to :data:`TRIM_THRESHOLD` of freed memory there for the next allocation, as jemalloc or
tcmalloc do by default. The process then keeps the memory of its largest step until it exits
(what a training loop needs again at every step; :func:`~qnn_torch.qnn.memory.available_memory`
counts it as available). It is a setting of the whole process: set the environment variable
:data:`ENV_VARIABLE` to ``0`` to leave ``malloc`` as it is. Elsewhere than Linux with glibc it
does nothing.
"""

from __future__ import annotations

import ctypes
import os
import platform
import sys
import threading

__all__ = ["ENV_VARIABLE", "MMAP_THRESHOLD", "TRIM_THRESHOLD", "free_heap_bytes", "keep_freed_memory"]

ENV_VARIABLE = "QNN_TORCH_KEEP_FREED_MEMORY"
"""str: the environment variable that, set to ``0`` (or ``false``, ``no``, ``off``), stops
:func:`keep_freed_memory` from changing ``malloc``'s settings."""

MMAP_THRESHOLD = 2**30
"""int: allocations below this many bytes come from glibc's heap (``M_MMAP_THRESHOLD``)."""

TRIM_THRESHOLD = 2**31 - 1
"""int: glibc keeps up to this many freed bytes at the top of its heap (``M_TRIM_THRESHOLD``)."""

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_LOCK = threading.Lock()
_state: dict = {}


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

    >>> from qnn_torch.engines.allocator import keep_freed_memory
    >>> isinstance(keep_freed_memory(), bool)
    True
    """
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
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]


def free_heap_bytes() -> int:
    """Bytes that glibc's heap holds freed, ready for the next allocations (0 where unknown).

    **Example**

    >>> from qnn_torch.engines.allocator import free_heap_bytes
    >>> free_heap_bytes() >= 0
    True
    """
    mallinfo2 = getattr(_libc(), "mallinfo2", None)  # glibc >= 2.33
    if mallinfo2 is None:
        return 0
    mallinfo2.argtypes, mallinfo2.restype = [], _MallInfo2
    return int(mallinfo2().fordblks)
