"""The probability outputs as a map: its three products against the dense one-hot table, and its
outputs against ``qml.probs`` on PennyLane's ``default.qubit``."""

import numpy as np
import pennylane as qml
import pytest
import torch

from qnn_torch.engines.probabilities import ProbabilityMap

MEASUREMENTS = {
    "all-reversed": [[3, 2, 1, 0]],  # Qiskit's order: a permutation of the basis states
    "all-in-order": [[0, 1, 2, 3]],
    "all-rotated": [[1, 2, 3, 0]],  # a permutation that is not its own inverse
    "some-wires": [[2, 0]],
    "several": [[1], [3, 0], [0, 1, 2, 3]],
}


def _dense(measured, head, n=4):
    """The one-hot ``(2**n, outcomes)`` table through the head, built by counting."""
    blocks = []
    for wires in measured:
        block = np.zeros((2**n, 2 ** len(wires)))
        for state in range(2**n):
            bits = [(state >> (n - 1 - w)) & 1 for w in wires]
            block[state, int("".join(map(str, bits)), 2)] = 1.0
        blocks.append(block)
    table = np.concatenate(blocks, axis=1)
    return table if head is None else table @ head


@pytest.mark.parametrize("measured", list(MEASUREMENTS))
@pytest.mark.parametrize("with_head", [False, True])
def test_the_products_equal_the_dense_table(measured, with_head, rng):
    wires = MEASUREMENTS[measured]
    size = sum(2 ** len(w) for w in wires)
    head = rng.normal(size=(size, 3)) if with_head else None
    m = ProbabilityMap(4, wires, head)
    dense = _dense(wires, head)
    p = torch.tensor(rng.uniform(0, 1, (5, 16)))
    g = torch.tensor(rng.normal(size=(5, dense.shape[1])))
    assert m.size == dense.shape[1]
    assert np.allclose(m.table(), dense.T, atol=1e-14)
    assert torch.allclose(m.values(p), p @ torch.tensor(dense), atol=1e-13, rtol=0)
    assert torch.allclose(m.weights(g), g @ torch.tensor(dense.T), atol=1e-13, rtol=0)
    # batches of tangents (C, B, 2**n) go through as they are (to round-off: with a head, BLAS may
    # round a product of another shape otherwise, as MKL does on an AMD EPYC with AVX-512)
    assert torch.allclose(m.values(p[None].expand(2, -1, -1))[1], m.values(p), atol=1e-13, rtol=0)


@pytest.mark.parametrize("measured", list(MEASUREMENTS))
def test_outputs_equal_default_qubit(measured, rng):
    wires = MEASUREMENTS[measured]
    angles = rng.uniform(-np.pi, np.pi, (4, 2))

    def gates():
        for i in range(4):
            qml.RY(angles[i, 0], i)
            qml.RZ(angles[i, 1], i)
        qml.CNOT([0, 2])
        qml.CNOT([3, 1])

    @qml.qnode(qml.device("default.qubit", wires=4))
    def circuit():
        gates()
        return [qml.probs(wires=w) for w in wires]

    @qml.qnode(qml.device("default.qubit", wires=4))
    def state():
        gates()
        return qml.state()

    amplitudes = torch.tensor(np.asarray(state()))
    expected = np.concatenate([np.asarray(r) for r in circuit()])
    got = ProbabilityMap(4, wires, None).values(amplitudes.abs() ** 2)
    assert np.allclose(got.numpy(), expected, atol=1e-14)


def test_a_head_of_the_wrong_height_is_refused():
    message = r"head must have 16 rows \(the measured outcomes\); got shape \(8, 2\)"
    with pytest.raises(ValueError, match=message):
        ProbabilityMap(4, [[0, 1, 2, 3]], np.zeros((8, 2)))
