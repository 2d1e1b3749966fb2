"""Basis-state bits in PennyLane's order, and the outcome of qml.probs for each basis state."""

import numpy as np
import pennylane as qml
import pytest

from qnn_torch.engines.bit_order import probability_index, wire_bits


def test_wire_zero_is_the_most_significant_bit():
    assert wire_bits(3, 0).tolist() == [0, 0, 0, 0, 1, 1, 1, 1]
    assert wire_bits(3, 2).tolist() == [0, 1, 0, 1, 0, 1, 0, 1]


@pytest.mark.parametrize("wires", [[0, 1, 2], [2, 1, 0], [1], [2, 0]])
def test_probability_index_is_what_qml_probs_reports(wires, rng):
    state = rng.normal(size=8) + 1j * rng.normal(size=8)
    state /= np.linalg.norm(state)
    probabilities = np.abs(state) ** 2
    dev = qml.device("default.qubit", wires=3)

    @qml.qnode(dev)
    def probs():
        qml.StatePrep(state, wires=range(3))
        return qml.probs(wires=wires)

    index = probability_index(3, wires)
    assert np.allclose(np.bincount(index, weights=probabilities, minlength=2 ** len(wires)), probs())
