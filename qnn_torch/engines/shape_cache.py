"""Generated programs and traced graphs kept per input shape, the least recently used dropped first."""

from __future__ import annotations

import threading
from collections.abc import Hashable

import numpy as np
import torch

__all__ = ["SHAPE_CACHE_SIZE", "ShapeCache"]

SHAPE_CACHE_SIZE = 4
"""int: the most input shapes (batch sizes) whose generated programs or traced graphs an engine
keeps; a new shape beyond them drops the least recently used (a program's tables grow with the
register and the batch: megabytes at 14 to 18 qubits)."""


class ShapeCache:
    """Programs or graphs by input shape: at most ``size``, the least recently used dropped first;
    safe to share between threads.

    Args:
        size (int): the most entries kept.
    """

    def __init__(self, size: int = SHAPE_CACHE_SIZE):
        self.size = size
        self._entries: dict = {}  # insertion order is recency: a hit moves its key to the end
        self._lock = threading.Lock()

    def get(self, key: Hashable):
        """The entry for ``key`` (now the most recently used), or None."""
        with self._lock:
            value = self._entries.pop(key, None)
            if value is not None:
                self._entries[key] = value
            return value

    def put(self, key: Hashable, value) -> None:
        """Keep ``value`` for ``key``, dropping the least recently used entry beyond :attr:`size`."""
        with self._lock:
            self._entries.pop(key, None)
            self._entries[key] = value
            while len(self._entries) > self.size:
                self._entries.pop(next(iter(self._entries)))

    def keys(self) -> list:
        """The keys kept, the least recently used first."""
        with self._lock:
            return list(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: Hashable) -> bool:  # a look that does not count as a use
        return key in self._entries

    def nbytes(self) -> int:
        """Bytes of the arrays and tensors the entries hold (a generated program's tables, a traced
        graph's constants)."""
        with self._lock:
            values = list(self._entries.values())
        return sum(_held_bytes(v) for v in values)


def _held_bytes(entry) -> int:
    """Bytes of the NumPy arrays in a generated function's namespace, or of the tensors a traced
    graph module holds."""
    if isinstance(entry, torch.nn.Module):
        tensors = [v for v in vars(entry).values() if isinstance(v, torch.Tensor)]
        tensors += list(entry.buffers()) + list(entry.parameters())
        return sum(t.numel() * t.element_size() for t in tensors)
    namespace = getattr(entry, "__globals__", None) or {}
    return sum(v.nbytes for v in namespace.values() if isinstance(v, np.ndarray))
