"""ZZFeatureMap: Qiskit's zz_feature_map gate for gate, and its input checks."""

import numpy as np
import pennylane as qml
import pytest
import torch
from qiskit.circuit.library import zz_feature_map

from qnn_torch import ENTANGLEMENT_PATTERNS, RealAmplitudes, ZZFeatureMap

from .qiskit_parity import QUBITS, assert_same_as_qiskit


@pytest.mark.parametrize("n", QUBITS)
@pytest.mark.parametrize("reps", [1, 2, 3])
@pytest.mark.parametrize("entanglement", ENTANGLEMENT_PATTERNS)
def test_zz_feature_map_equals_qiskit(n, reps, entanglement, rng):
    x = rng.uniform(-np.pi, np.pi, n)
    assert_same_as_qiskit(
        lambda: ZZFeatureMap(x, wires=range(n), reps=reps, entanglement=entanglement),
        lambda: zz_feature_map(n, reps=reps, entanglement=entanglement),
        x,
        n,
    )


def test_zz_decomposition_gate_by_gate():
    x = np.array([0.3, -0.7])
    ops = ZZFeatureMap(x, wires=["a", "b"], reps=1).decomposition()
    angle = 2 * (np.pi - 0.3) * (np.pi + 0.7)
    expected = [
        qml.Hadamard("a"), qml.Hadamard("b"),
        qml.PhaseShift(0.6, "a"), qml.PhaseShift(-1.4, "b"),
        qml.CNOT(["a", "b"]), qml.PhaseShift(angle, "b"), qml.CNOT(["a", "b"]),
    ]
    assert len(ops) == len(expected)
    for got, want in zip(ops, expected):
        qml.assert_equal(got, want)


def test_qiskit_defaults():
    """Qiskit's defaults: reps=2, full entanglement, alpha 2."""
    zz = ZZFeatureMap(np.zeros(3), wires=range(3))
    assert zz.hyperparameters == {"reps": 2, "paulis": ("Z", "ZZ"), "entanglement": "full", "alpha": 2.0}


def test_torch_gradient_matches_hand_written_circuit():
    """Gradient of the template through torch equals a hand-written ZZ map + RY/CNOT circuit."""
    dev = qml.device("default.qubit", wires=2)
    x0 = torch.tensor([0.4, -0.2], dtype=torch.float64, requires_grad=True)
    w0 = torch.tensor([0.1, 0.5, -0.3, 0.7], dtype=torch.float64, requires_grad=True)

    @qml.qnode(dev, interface="torch")
    def template(x, w):
        ZZFeatureMap(x, wires=[0, 1], reps=1)
        RealAmplitudes(w, wires=[0, 1], reps=1)
        return qml.expval(qml.Z(0) @ qml.Z(1))

    @qml.qnode(dev, interface="torch")
    def by_hand(x, w):
        for i in range(2):
            qml.Hadamard(i)
            qml.PhaseShift(2 * x[i], i)
        qml.CNOT([0, 1])
        qml.PhaseShift(2 * (np.pi - x[0]) * (np.pi - x[1]), 1)
        qml.CNOT([0, 1])
        qml.RY(w[0], 0)
        qml.RY(w[1], 1)
        qml.CNOT([0, 1])
        qml.RY(w[2], 0)
        qml.RY(w[3], 1)
        return qml.expval(qml.Z(0) @ qml.Z(1))

    grads = torch.autograd.grad(template(x0, w0), (x0, w0))
    grads_ref = torch.autograd.grad(by_hand(x0, w0), (x0, w0))
    for g, r in zip(grads, grads_ref):
        assert torch.allclose(g, r, atol=1e-12)


@pytest.mark.parametrize("build, error, match", [
    (lambda: ZZFeatureMap(np.zeros(3), wires=[0, 1]), ValueError,
     "features must have length 2.*got length 3"),
    (lambda: ZZFeatureMap(np.zeros((2, 2, 2)), wires=[0, 1]), ValueError,
     "features must be a 1-D.*got shape"),
    (lambda: ZZFeatureMap(np.array([0.1, np.nan]), wires=[0, 1]), ValueError, "features must be finite"),
    (lambda: ZZFeatureMap(np.array([0.1, np.inf]), wires=[0, 1]), ValueError, "features must be finite"),
    (lambda: ZZFeatureMap(np.zeros(2), wires=[0, 1], reps=0), ValueError,
     "reps must be an integer >= 1; got 0"),
    (lambda: ZZFeatureMap(np.zeros(2), wires=[0, 1], reps=1.5), TypeError, "reps must be an integer"),
    (lambda: ZZFeatureMap(np.zeros(2), wires=[0, 1], alpha=3.0), TypeError, "use PauliFeatureMap"),
])
def test_bad_input(build, error, match):
    with pytest.raises(error, match=match):
        build()
