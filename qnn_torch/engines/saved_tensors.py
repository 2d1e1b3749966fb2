"""What a vector-Jacobian engine keeps for the backward pass, split into its tensors and the rest.

``torch.autograd.Function`` sees only the tensors given to ``ctx.save_for_backward``: saved-tensor
hooks (``torch.autograd.graph.saved_tensors_hooks``, offloading, checkpointing) act on those and on
nothing kept elsewhere. An engine's saved state is a nest of tuples and lists holding tensors,
NumPy arrays (as tensors sharing their memory) and other values; :func:`take_tensors` lifts the
tensors out and :func:`put_tensors` puts them (or what the hooks give back) into place again.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["put_tensors", "take_tensors"]


@dataclass(frozen=True)
class _Slot:
    """Where a tensor was: its index in the list, and whether it was a NumPy array."""

    index: int
    array: bool


def take_tensors(state, tensors: list[torch.Tensor]):
    """``state`` with every tensor and NumPy array replaced by a slot; the tensors (arrays as tensors
    sharing their memory) are appended to ``tensors``."""
    if isinstance(state, torch.Tensor):
        tensors.append(state)
        return _Slot(len(tensors) - 1, False)
    if isinstance(state, np.ndarray) and state.dtype != object:
        try:
            tensors.append(torch.from_numpy(state))
        except (TypeError, ValueError):  # a dtype or strides torch cannot share: kept as it is
            return state
        return _Slot(len(tensors) - 1, True)
    if isinstance(state, tuple) and hasattr(state, "_fields"):  # a NamedTuple
        return type(state)(*(take_tensors(item, tensors) for item in state))
    if isinstance(state, (tuple, list)):
        return type(state)(take_tensors(item, tensors) for item in state)
    return state


def put_tensors(state, tensors):
    """The inverse of :func:`take_tensors`: ``state`` with every slot replaced by its tensor (or, for
    a NumPy array, the array of that tensor)."""
    if isinstance(state, _Slot):
        tensor = tensors[state.index]
        return tensor.numpy() if state.array else tensor
    if isinstance(state, tuple) and hasattr(state, "_fields"):
        return type(state)(*(put_tensors(item, tensors) for item in state))
    if isinstance(state, (tuple, list)):
        return type(state)(put_tensors(item, tensors) for item in state)
    return state
