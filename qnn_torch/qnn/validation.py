"""Checks of what users pass to a network: real dtypes, weight shapes, and NumPy-API arrays
(qiskit-machine-learning's shapes). Each error names the argument, what was expected and what was
given."""

from __future__ import annotations

import numpy as np
import torch

from ..exceptions import machine_learning_error

__all__ = ["check_real_dtype", "check_weight_shape", "input_rows", "weight_vector"]


def check_real_dtype(value, name: str):
    """Return ``value`` (a tensor or array_like, or None), or raise if it holds complex or bool values.

    Raises:
        TypeError: naming ``name`` and the dtype found.
    """
    if value is None:  # absent (a network without weights); nothing to check
        return value
    dtype = value.dtype if isinstance(value, (torch.Tensor, np.ndarray)) else np.asarray(value).dtype
    if isinstance(dtype, torch.dtype):
        complex_ = dtype.is_complex
    else:
        complex_ = np.issubdtype(dtype, np.complexfloating)
    if complex_ or dtype in (torch.bool, np.bool_):
        raise TypeError(f"{name} must hold real numbers; got dtype {dtype}.")
    if not isinstance(dtype, torch.dtype) and not np.issubdtype(dtype, np.number):
        raise TypeError(f"{name} must hold real numbers; got dtype {dtype}.")
    return value


def check_weight_shape(weight, num_weights: int, name: str = "weight") -> None:
    """Raise a ValueError naming ``name`` unless ``weight`` has shape ``(num_weights,)``."""
    if tuple(weight.shape) != (num_weights,):
        raise ValueError(
            f"{name} must have shape ({num_weights},) (the QNN's num_weights); "
            f"got shape {tuple(weight.shape)}."
        )


def _finite_array(name: str, values, size: int) -> np.ndarray:
    """``values`` as a finite float64 array; ``None`` stands for an empty one when ``size`` is 0."""
    if values is None:
        if size:
            raise ValueError(f"{name} must be given: the network has {size}; got None.")
        return np.zeros(0)
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    array = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite; got NaN or infinite values.")
    return array


def input_rows(input_data, num_inputs: int) -> tuple[torch.Tensor, tuple[int, ...]]:
    """``input_data`` as float64 rows ``(B, num_inputs)`` and the batch shape of the outputs
    (qiskit-machine-learning's: ``(1,)`` for one sample, the leading dimensions otherwise)."""
    raw = _finite_array("input_data", input_data, num_inputs)
    if raw.ndim == 0 and num_inputs == 1:  # one number for the one input
        raw = raw.reshape(1)
    if raw.ndim == 0 or raw.shape[-1] != num_inputs:
        raise machine_learning_error(
            f"input_data must have shape (num_inputs,) or (..., num_inputs) with num_inputs={num_inputs}; "
            f"got shape {raw.shape}.")
    batch = raw.shape[:-1] if raw.ndim >= 2 else (1,)
    x = torch.as_tensor(raw.reshape(int(np.prod(batch, dtype=np.int64)), num_inputs))
    return x, batch


def weight_vector(weights, num_weights: int) -> torch.Tensor:
    """``weights`` as a finite float64 vector ``(num_weights,)``."""
    w = torch.as_tensor(_finite_array("weights", weights, num_weights).reshape(-1))
    if w.shape != (num_weights,):
        raise ValueError(f"weights must have shape ({num_weights},) (the network's num_weights); "
                         f"got shape {tuple(w.shape)}.")
    return w
