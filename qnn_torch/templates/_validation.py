"""Argument checks shared by the templates: each error names the argument, what was
expected and what was given."""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from numbers import Integral, Real

from pennylane import math

__all__ = ["check_finite", "check_last_dim", "check_real_number", "check_reps", "skip_value_checks"]

_VALUE_CHECKS = ContextVar("qnn_torch_value_checks", default=True)


@contextmanager
def skip_value_checks():
    """Skip checks that read tensor values (finiteness) while a circuit is being traced; the
    caller validates the values itself."""
    token = _VALUE_CHECKS.set(False)
    try:
        yield
    finally:
        _VALUE_CHECKS.reset(token)


def check_reps(reps, minimum: int) -> int:
    """Return ``reps`` as an int, or raise if it is not an integer ``>= minimum``."""
    if isinstance(reps, bool) or not isinstance(reps, Integral):
        raise TypeError(f"reps must be an integer >= {minimum}; got {reps!r} ({type(reps).__name__}).")
    if reps < minimum:
        raise ValueError(f"reps must be an integer >= {minimum}; got {reps}.")
    return int(reps)


def check_last_dim(tensor, name: str, expected: int, what: str) -> None:
    """Raise unless ``tensor`` is 1-D (or 2-D with a batch) with ``expected`` entries."""
    shape = tuple(math.shape(tensor))
    if len(shape) not in (1, 2):
        raise ValueError(
            f"{name} must be a 1-D tensor of length {expected} ({what}), or 2-D with a leading "
            f"batch dimension; got shape {shape}."
        )
    if shape[-1] != expected:
        raise ValueError(f"{name} must have length {expected} ({what}); got length {shape[-1]}.")


def check_finite(tensor, name: str) -> None:
    """Raise if a concrete ``tensor`` holds NaN or infinite values."""
    if math.is_abstract(tensor) or not _VALUE_CHECKS.get():
        return
    if not bool(math.all(math.isfinite(math.real(tensor)))):
        raise ValueError(f"{name} must be finite; got a tensor holding NaN or infinite values.")


def check_real_number(value, name: str) -> float:
    """Return ``value`` as a float, or raise if it is not a finite real number."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number; got {value!r} ({type(value).__name__}).")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite real number; got {value!r}.")
    return float(value)
