"""Memory: what a device has available, a call's budget, and the chunks a batch is split into.

A local simulation of ``n`` qubits holds ``2**n`` amplitudes per state vector and per sample,
and an engine keeps several such states per sample at once (one per gate while an autograd
graph is kept; see :meth:`qnn_torch.engines.Engine.bytes_per_sample`). An engine chain runs
a batch in chunks of at most ``budget // bytes_per_sample`` samples, and refuses a register of
which not even one sample fits before anything is allocated.
"""

from __future__ import annotations

import os
from numbers import Real

import torch

from .glibc_malloc import free_heap_bytes

__all__ = ["DEFAULT_BUDGET_FRACTION", "SMALL_CALL_BYTES", "available_memory", "check_budget",
           "check_state_fits", "chunk_size", "format_bytes"]

DEFAULT_BUDGET_FRACTION = 0.5
"""float: without ``memory_budget=``, a call may use this fraction of the memory available (at the
time of the call) on the device it computes on."""

SMALL_CALL_BYTES = 64 * 2**20
"""int: a call estimated below this many bytes runs in one piece without asking the system how much
memory is available (which costs more than a small circuit)."""


def _meminfo_available() -> int | None:
    """``MemAvailable`` of ``/proc/meminfo`` in bytes (free memory plus reclaimable caches), or None."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def available_memory(device: torch.device | str | None = None) -> int | None:
    """Bytes of memory available now on ``device``, or None when unknown.

    On the CPU (the default): ``MemAvailable`` of ``/proc/meminfo`` (Linux), else ``psutil`` if
    installed, else ``os.sysconf``'s free pages, plus the freed memory this process's C
    library keeps for reuse (:func:`~qnn_torch.engines.glibc_malloc.free_heap_bytes`). On a CUDA
    device: the free memory ``torch.cuda.mem_get_info`` reports. Other devices (``"meta"``, which
    holds no data): None.

    Args:
        device (torch.device or str or None): the device; None for the CPU.

    Returns:
        int or None: the available bytes.
    """
    device = torch.device("cpu" if device is None else device)
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    if device.type != "cpu":
        return None
    system = _system_available()
    return None if system is None else system + free_heap_bytes()


def _system_available() -> int | None:
    # /proc/meminfo first: it is what psutil reads on Linux, without psutil's import (about 10 ms
    # of a network's first call)
    available = _meminfo_available()
    if available:
        return available
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # not a POSIX system
        return None


def format_bytes(size: float) -> str:
    """``size`` bytes in binary units, e.g. ``"1.5 GiB"``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if size < 1024 or unit == "PiB":
            return f"{size:.4g} {unit}"
        size /= 1024
    raise AssertionError  # pragma: no cover


def check_state_fits(num_qubits: int) -> None:
    """Refuse a register whose state vector cannot fit in memory, before anything is built.

    A local simulation holds at least one complex128 state vector, ``16 * 2**num_qubits``
    bytes; when that exceeds the memory available now, a ValueError names ``num_qubits`` and
    both sizes (instead of a ``MemoryError`` deep inside a simulator, or swapping).
    """
    needed = 16 * 2**num_qubits
    available = available_memory()
    if available is not None and needed > available:
        raise ValueError(
            f"num_qubits={num_qubits} is too large to simulate here: one complex128 state vector of "
            f"2**{num_qubits} amplitudes takes {format_bytes(needed)}, but only "
            f"{format_bytes(available)} of memory is available."
        )


def check_budget(memory_budget) -> int | None:
    """``memory_budget`` as a positive int of bytes, or None (the default budget).

    Raises:
        TypeError: if it is not a real number or None.
        ValueError: if it is not positive.
    """
    if memory_budget is None:
        return None
    if isinstance(memory_budget, bool) or not isinstance(memory_budget, Real):
        raise TypeError(f"memory_budget must be a number of bytes or None; got {memory_budget!r} "
                        f"({type(memory_budget).__name__}).")
    if not memory_budget > 0 or memory_budget == float("inf"):
        raise ValueError(f"memory_budget must be a positive, finite number of bytes (or None for "
                         f"{DEFAULT_BUDGET_FRACTION:g} of the available memory); got {memory_budget!r}.")
    return max(1, int(memory_budget))


def chunk_size(batch: int, per_sample: int, memory_budget: int | None, device: torch.device,
               num_qubits: int, engine: str, cached: int = 0) -> int:
    """The most samples of a batch one engine call may take within the memory budget.

    Args:
        batch (int): the samples of the call.
        per_sample (int): the bytes one sample needs (0: nothing simulated here).
        memory_budget (int or None): the budget in bytes; None for
            :data:`DEFAULT_BUDGET_FRACTION` of the memory available on ``device``.
        device (torch.device): where the engine computes.
        num_qubits (int): the register, for the message.
        engine (str): the engine's ``engine=`` value, for the message.
        cached (int): bytes of ``memory_budget`` the engine's caches already hold (compiled
            programs and traced graphs kept per input shape): the samples share the rest.

    Returns:
        int: between 1 and ``batch``.

    Raises:
        ValueError: if not even one sample fits; the message names ``num_qubits``, the batch and
            the memory it would need.
    """
    if per_sample <= 0:
        return batch
    if memory_budget is None:
        if per_sample * batch <= SMALL_CALL_BYTES:
            return batch
        available = available_memory(device)
        if available is None:
            return batch
        budget, origin = int(available * DEFAULT_BUDGET_FRACTION), (
            f"{DEFAULT_BUDGET_FRACTION:g} of the {format_bytes(available)} available on {device.type}")
    else:
        budget, origin = max(0, memory_budget - cached), "memory_budget"
        if cached:
            origin += f" less the {format_bytes(cached)} of the engine's cached programs"
    if per_sample > budget:
        raise ValueError(
            f"num_qubits={num_qubits} with a batch of {batch} would need {format_bytes(per_sample * batch)} "
            f"({format_bytes(per_sample)} per sample on the {engine!r} engine), but the memory budget is "
            f"{format_bytes(budget)} ({origin}): not even one sample fits. Raise memory_budget, use "
            "precision='single' (half the memory on the compiled engine), or fewer qubits."
        )
    return min(batch, budget // per_sample)
