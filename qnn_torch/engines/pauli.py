"""Pauli words on a state vector: which bits a word flips and which phases it puts on the amplitudes.

A Pauli word ``P`` (a letter ``X``, ``Y`` or ``Z`` on each of some wires) maps a basis state to one
basis state times a phase: ``(P psi)[r] = phase[r] * psi[r ^ flips]``, where ``X`` and ``Y`` flip
their wire's bit and each letter multiplies by the phase of :data:`LETTER_PHASES` for its wire's
bit of ``r``. The simulators apply it by indexing (:mod:`~qnn_torch.engines.statevector`) or by
flipping the axes of the state seen as a ``[2] * n`` grid (:mod:`~qnn_torch.engines.torch_adjoint`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

__all__ = ["LETTER_PHASES", "flipped_wires", "word_grid", "word_permutation"]

LETTER_PHASES: dict[str, tuple[complex, complex]] = {"X": (1.0, 1.0), "Y": (-1j, 1j), "Z": (1.0, -1.0)}
"""dict: a Pauli letter -> its phase on the amplitudes whose bit on its wire is 0, and 1 (after the
flip of ``X`` and ``Y``: ``Y|0> = i|1>`` puts ``i`` on the amplitude of ``|1>``)."""


def flipped_wires(word: Mapping[int, str]) -> list[int]:
    """The wires whose bit ``word`` flips (its ``X`` and ``Y`` letters), in the word's order."""
    return [int(wire) for wire, letter in word.items() if letter in "XY"]


def word_grid(word: Mapping[int, str], num_wires: int) -> np.ndarray:
    """The phases of ``word`` as a complex grid that broadcasts against a ``[2] * num_wires`` state:
    axis ``q`` has length 2 where the word has a letter on wire ``q``, else 1.

    **Example**

    >>> word_grid({1: "Y"}, 2).tolist()
    [[-1j, 1j]]
    """
    grid = np.ones([1] * num_wires, dtype=np.complex128)
    for wire, letter in word.items():
        shape = [1] * num_wires
        shape[int(wire)] = 2
        grid = grid * np.asarray(LETTER_PHASES[letter], dtype=np.complex128).reshape(shape)
    return grid


def word_permutation(word: Mapping[int, str], num_wires: int) -> np.ndarray | None:
    """The basis-state permutation of ``word``: ``r ^ flips`` for every ``r`` (None when the word
    flips no bit, a diagonal word)."""
    flips = flipped_wires(word)
    if not flips:
        return None
    return np.arange(2**num_wires) ^ sum(1 << (num_wires - 1 - wire) for wire in set(flips))
