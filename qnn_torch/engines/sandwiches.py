"""Sandwiches: three consecutive gates ``F, A(theta), F^-1`` that act as one diagonal angle gate.

``ZZFeatureMap`` writes each entangling term as ``CNOT(a, b) P(theta) on b CNOT(a, b)``: a phase
``theta`` on the basis states where the bits of ``a`` and ``b`` differ. Applied as one diagonal
gate, the sandwich costs one pass over the state instead of three. :func:`merge_sandwiches` scans
a gate sequence for them; the simulators say what a sandwich is for their gates:
:func:`cnot_phase_cnot` for PennyLane operations (the torch state-vector simulator), and
:func:`diagonal_sandwich` for the matrices of fused gates (the torch adjoint engine), which also
finds ``CNOT``-``RZ``-``CNOT`` and any other ``F, A(theta), F^-1`` whose product is diagonal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from .fusion import Gate, embed, is_diagonal

__all__ = ["ParityPhase", "cnot_phase_cnot", "diagonal_sandwich", "merge_sandwiches"]

_TOL = 1e-10
_CACHE_SIZE = 256
_moved: dict = {}  # a sandwich's matrices and layout -> its moved generator (read-only) or None
T = TypeVar("T")


def merge_sandwiches(gates: Sequence[T], merge: Callable[[T, T, T], Any]) -> Iterator:
    """``gates`` in order, every run of three that ``merge(first, middle, last)`` turns into one
    gate replaced by it (the runs are found left to right and do not overlap)."""
    i = 0
    while i < len(gates):
        merged = merge(*gates[i:i + 3]) if i + 2 < len(gates) else None
        if merged is not None:
            yield merged
            i += 3
        else:
            yield gates[i]
            i += 1


@dataclass(frozen=True)
class ParityPhase:
    """``CNOT(control, target) PhaseShift(angle) CNOT(control, target)``: the phase ``angle`` on the
    basis states where the bits of ``control`` and ``target`` differ."""

    phase_shift: Any  # the PhaseShift operation, whose angle (a tensor or a number) the phase takes
    control: int
    target: int


def cnot_phase_cnot(first, middle, last) -> ParityPhase | None:
    """The :class:`ParityPhase` of three PennyLane operations ``CNOT(a, b) PhaseShift(b)
    CNOT(a, b)``, else None."""
    if first.name != "CNOT" or middle.name != "PhaseShift" or last.name != "CNOT":
        return None
    if last.wires != first.wires or middle.wires[0] != first.wires[1]:
        return None
    return ParityPhase(middle, int(first.wires[0]), int(first.wires[1]))


def diagonal_sandwich(first: Gate, middle: Gate, last: Gate) -> Gate | None:
    """``last . middle(theta) . first`` as one diagonal angle gate when ``last . first = 1`` and
    ``first^dagger H first`` is diagonal (``CNOT``-``RZ``-``CNOT`` is ``exp(i theta Z Z / 2)``);
    else None."""
    if first.matrix is None or last.matrix is None or middle.generator is None:
        return None
    wires = first.wires
    if last.wires != wires or not set(middle.wires) <= set(wires):
        return None
    key = (first.matrix.tobytes(), last.matrix.tobytes(), middle.generator.tobytes(), first.matrix.shape,
           middle.generator.shape, tuple(wires.index(w) for w in middle.wires))
    moved = _moved.get(key, False)
    if moved is False:  # a pure function of the key: made once per process
        moved = _moved_generator(first.matrix, middle.generator, last.matrix, middle.wires, wires)
        if len(_moved) >= _CACHE_SIZE:
            _moved.clear()
        _moved[key] = moved
    return None if moved is None else Gate(wires, angle=middle.angle, generator=moved)


def _moved_generator(first: np.ndarray, generator: np.ndarray, last: np.ndarray, middle_wires: tuple,
                     wires: tuple) -> np.ndarray | None:
    """``first^dagger H first`` (read-only) if ``last . first = 1`` and it is diagonal, else None."""
    if not np.allclose(last @ first, np.eye(first.shape[0]), atol=_TOL):
        return None
    moved = first.conj().T @ embed(generator, middle_wires, wires) @ first
    if not is_diagonal(moved):
        return None
    moved.setflags(write=False)  # shared by every sandwich of these matrices
    return moved
