"""Basis-state indices and the bits of wires, in PennyLane's order, shared by every simulator here.

A state of ``n`` wires is a vector of ``2**n`` amplitudes; in the index of an amplitude wire 0 is
the most significant bit, as in PennyLane (Qiskit reads the same bits the other way round, which
the networks handle by measuring ``qml.probs(wires=reversed(wires))``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["probability_index", "wire_bits"]


def wire_bits(num_wires: int, wire: int) -> np.ndarray:
    """The bit of ``wire`` in every basis-state index ``0 .. 2**num_wires - 1`` (int64).

    **Example**

    >>> wire_bits(2, 0).tolist(), wire_bits(2, 1).tolist()
    ([0, 0, 1, 1], [0, 1, 0, 1])
    """
    return (np.arange(2**num_wires) >> (num_wires - 1 - wire)) & 1


def probability_index(num_wires: int, wires: Sequence[int]) -> np.ndarray:
    """The outcome of ``qml.probs(wires=wires)`` that every basis state counts for: the bits of
    ``wires`` read in their order, the first the most significant (int64, ``(2**num_wires,)``).

    **Example**

    >>> probability_index(2, [1, 0]).tolist()  # the reversed wires: Qiskit's order
    [0, 2, 1, 3]
    """
    index = np.zeros(2**num_wires, dtype=np.int64)
    for j, wire in enumerate(wires):
        index |= wire_bits(num_wires, int(wire)) << (len(wires) - 1 - j)
    return index
