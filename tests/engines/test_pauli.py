"""Pauli words as bit flips and phases, against their matrices."""

import numpy as np
import pennylane as qml
import pytest

from qnn_torch.engines.pauli import LETTER_PHASES, flipped_wires, word_grid, word_permutation

WORDS = [{0: "X"}, {1: "Y"}, {2: "Z"}, {0: "Y", 2: "X"}, {0: "Z", 1: "Y", 2: "X"}, {}]


@pytest.mark.parametrize("word", WORDS)
def test_flips_and_phases_apply_the_word(word, rng):
    n = 3
    psi = rng.normal(size=8) + 1j * rng.normal(size=8)
    phase = (np.ones([2] * n, dtype=np.complex128) * word_grid(word, n)).reshape(-1)
    perm = word_permutation(word, n)
    applied = phase * (psi if perm is None else psi[perm])
    matrix = qml.matrix(qml.pauli.PauliWord(word).operation(), wire_order=range(n)) if word else np.eye(8)
    assert np.allclose(applied, matrix @ psi)
    assert flipped_wires(word) == [w for w, letter in word.items() if letter != "Z"]


def test_letter_phases():
    assert LETTER_PHASES == {"X": (1.0, 1.0), "Y": (-1j, 1j), "Z": (1.0, -1.0)}
    assert word_grid({1: "Y"}, 2).shape == (1, 2) and word_permutation({0: "Z"}, 2) is None
