"""Interpret heads for :class:`SamplerQNN`: map basis-state integers to classes."""

from __future__ import annotations

from numbers import Integral
from typing import Callable

import numpy as np

from ..exceptions import machine_learning_error

__all__ = ["interpret_matrix", "outcome_matrix", "parity"]


def parity(index: int) -> int:
    """The parity of the number of ones in ``index``'s binary form (0 even, 1 odd).

    Args:
        index (int): a basis-state index in Qiskit's convention.

    Returns:
        int: 0 or 1.

    **Example**

    >>> [parity(i) for i in range(4)]
    [0, 1, 1, 0]
    """
    return bin(index).count("1") % 2


def _normalize_shape(output_shape) -> tuple[int, ...]:
    shape = output_shape
    if isinstance(shape, Integral) and not isinstance(shape, bool):
        shape = (int(shape),)
    if not isinstance(shape, tuple) or not shape or not all(
        isinstance(s, Integral) and not isinstance(s, bool) and s > 0 for s in shape
    ):
        raise machine_learning_error(
            f"output_shape must be a positive integer or tuple of them; got {output_shape!r}.")
    return tuple(int(s) for s in shape)


def interpret_matrix(interpret: Callable[[int], int], output_shape, num_qubits: int, outcomes=None,
                     note: str | None = None):
    """The 0/1 matrix ``M`` with ``probs @ M`` summing the probabilities into classes.

    ``interpret`` is called once, here, on every outcome: by default the integers
    ``0 .. 2**n - 1`` in Qiskit's convention (qubit 0 is the least significant bit).

    Args:
        interpret (Callable[[int], int or tuple]): maps an outcome to a class index: a Python or
            NumPy integer, or a tuple, list or 1-D array of them.
        output_shape (int or tuple[int]): the shape of the classes.
        num_qubits (int): the number of qubits.
        outcomes (array_like or None): the outcome each basis state reports (e.g. the value of
            the classical bits of a Qiskit circuit, see
            :meth:`~qnn_torch.circuits.qiskit_circuit.QiskitCircuit.outcomes`), ``-1`` for a state
            that counts in no class; None for the basis-state index itself.
        note (str or None): said after the error when ``interpret`` fails on an outcome or places it
            outside ``output_shape`` (what the outcomes are and how to cover them all).

    Returns:
        tuple[numpy.ndarray, tuple[int]]: ``M`` of shape ``(2**n, prod(output_shape))`` and the
        normalized output shape.

    Raises:
        ValueError: if ``interpret`` returns a value outside ``output_shape``.
        TypeError: if ``interpret`` is not callable.
    """
    if not callable(interpret):
        raise TypeError(f"interpret must be a callable int -> int; got {interpret!r}.")
    shape = _normalize_shape(output_shape)
    size = int(np.prod(shape))
    outcomes = _outcomes(outcomes, num_qubits)
    matrix = np.zeros((2**num_qubits, size))
    columns: dict[int, int] = {}
    for index, outcome in enumerate(outcomes.tolist()):
        if outcome < 0:
            continue
        if outcome not in columns:
            columns[outcome] = _column(interpret, outcome, shape, note)
        matrix[index, columns[outcome]] = 1.0
    return matrix, shape


def _column(interpret: Callable, outcome: int, shape: tuple[int, ...], note: str | None) -> int:
    """The column of ``interpret(outcome)`` in the raveled ``shape``."""
    try:
        value = interpret(outcome)
    except Exception as err:
        if note:
            err.add_note(note)
        raise
    key = _class_index(value)
    if key is None or len(key) != len(shape) or not all(0 <= k < s for k, s in zip(key, shape)):
        raise ValueError(
            f"interpret must return an index within output_shape {shape}; interpret({outcome}) "
            f"returned {value!r} (an index is an integer, or a tuple, list or 1-D array of integers)."
            + (f" {note}" if note else "")
        )
    return int(np.ravel_multi_index(key, shape))


def outcome_matrix(outcomes, num_qubits: int, size: int) -> np.ndarray:
    """The 0/1 matrix ``M`` with ``probs @ M`` the probabilities of the outcomes ``0 .. size-1``.

    Args:
        outcomes (array_like): the outcome of each of the ``2**num_qubits`` basis states; states
            whose outcome is negative or at least ``size`` count nowhere.
        num_qubits (int): the number of qubits.
        size (int): the number of outcomes kept.

    Returns:
        numpy.ndarray: shape ``(2**num_qubits, size)``.
    """
    outcomes = _outcomes(outcomes, num_qubits)
    matrix = np.zeros((2**num_qubits, size))
    kept = (outcomes >= 0) & (outcomes < size)
    matrix[np.flatnonzero(kept), outcomes[kept]] = 1.0
    return matrix


def _outcomes(outcomes, num_qubits: int) -> np.ndarray:
    if outcomes is None:
        return np.arange(2**num_qubits, dtype=np.int64)
    outcomes = np.asarray(outcomes, dtype=np.int64)
    if outcomes.shape != (2**num_qubits,):
        raise ValueError(f"outcomes must have shape ({2**num_qubits},) (one per basis state); "
                         f"got shape {outcomes.shape}.")
    return outcomes


def _class_index(value) -> tuple[int, ...] | None:
    """``value`` (a Python or NumPy integer, or a tuple, list or array of them) as a tuple of
    ints, or None if it is not integral (bools and floats are not class indices)."""
    items = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    if isinstance(value, np.ndarray):
        if value.ndim > 1:
            return None
        items = tuple(value.reshape(-1))
    if not all(isinstance(k, (Integral, np.integer)) and not isinstance(k, (bool, np.bool_)) for k in items):
        return None
    return tuple(int(k) for k in items)
