"""The torch state-vector simulator: every kernel against ``qml.matrix`` on random states."""

import numpy as np
import pennylane as qml
import pytest
import torch

from qnn_torch.engines.statevector import KERNEL_GATES, StateVector, UnsupportedOperation

N = 3
BATCH = 4

# one instance of every kernel gate, on wires chosen to exercise bit positions
GATES = {
    "RX": lambda a: qml.RX(a, wires=1),
    "RY": lambda a: qml.RY(a, wires=0),
    "RZ": lambda a: qml.RZ(a, wires=2),
    "PhaseShift": lambda a: qml.PhaseShift(a, wires=1),
    "Hadamard": lambda a: qml.Hadamard(wires=2),
    "CNOT": lambda a: qml.CNOT(wires=[2, 0]),
    "CZ": lambda a: qml.CZ(wires=[0, 1]),
    "SWAP": lambda a: qml.SWAP(wires=[0, 2]),
    "PauliX": lambda a: qml.X(0),
    "PauliY": lambda a: qml.Y(1),
    "PauliZ": lambda a: qml.Z(2),
    "S": lambda a: qml.S(wires=1),
    "T": lambda a: qml.T(wires=0),
    "SX": lambda a: qml.SX(wires=2),
    "Identity": lambda a: qml.Identity(wires=1),
}


def random_states(rng, batch=BATCH, n=N):
    state = rng.normal(size=(batch, 2**n)) + 1j * rng.normal(size=(batch, 2**n))
    return torch.tensor(state / np.linalg.norm(state, axis=1, keepdims=True))


def expected(op, state):
    """``U |psi>`` for every row, from PennyLane's matrix (wire 0 the most significant bit)."""
    matrix = qml.matrix(op, wire_order=range(N))
    return state @ torch.as_tensor(matrix).to(torch.complex128).T


def test_every_kernel_gate_is_tested():
    assert set(GATES) == set(KERNEL_GATES)


@pytest.mark.parametrize("name", sorted(KERNEL_GATES))
def test_kernel_gate_equals_qml_matrix(name, rng):
    state = random_states(rng)
    angle = torch.tensor(rng.uniform(-np.pi, np.pi))
    op = GATES[name](angle)
    got = StateVector(N).apply(op, state)
    assert torch.allclose(got, expected(op, state), atol=1e-12)


@pytest.mark.parametrize("name", ["RX", "RY", "RZ", "PhaseShift"])
def test_batched_angles(name, rng):
    state = random_states(rng)
    angles = torch.tensor(rng.uniform(-np.pi, np.pi, BATCH))
    got = StateVector(N).apply(GATES[name](angles), state)
    for b in range(BATCH):
        assert torch.allclose(got[b], expected(GATES[name](angles[b]), state[b:b + 1])[0], atol=1e-12)


@pytest.mark.parametrize("op", [qml.CRY(0.3, wires=[2, 1]), qml.IsingXX(-1.1, wires=[0, 2]),
                                qml.Rot(0.1, 0.2, 0.3, wires=1), qml.Toffoli(wires=[0, 1, 2])],
                         ids=lambda op: op.name)
def test_other_gates_go_dense(op, rng):
    state = random_states(rng)
    assert torch.allclose(StateVector(N).apply(op, state), expected(op, state), atol=1e-12)


def test_run_fuses_without_changing_the_result(rng):
    """Phase runs, the CNOT-PhaseShift-CNOT pattern and fixed-gate products, against gate by gate."""
    ops = [qml.Hadamard(0), qml.Hadamard(1), qml.PhaseShift(0.4, 0), qml.RZ(-0.7, 2), qml.CNOT([0, 1]),
           qml.PhaseShift(1.3, 1), qml.CNOT([0, 1]), qml.S(2), qml.CZ([1, 2]), qml.RY(0.2, 1), qml.SX(0)]
    state = random_states(rng)
    reference = state
    for op in ops:
        reference = expected(op, reference)
    assert torch.allclose(StateVector(N).run(ops, state), reference, atol=1e-12)


@pytest.mark.parametrize("obs", [qml.Z(0), qml.X(1) @ qml.Y(2), 0.5 * qml.Y(0) - 2.0 * qml.Z(1) @ qml.X(2),
                                 qml.Hermitian(np.diag([1.0, -2.0, 0.5, 3.0]), wires=[0, 2])],
                         ids=["Z", "XY", "sum", "hermitian"])
def test_expectation_values(obs, rng):
    state = random_states(rng)
    matrix = torch.tensor(qml.matrix(obs, wire_order=range(N)), dtype=torch.complex128)
    reference = torch.einsum("bi,ij,bj->b", state.conj(), matrix, state).real
    got = StateVector(N).measure(qml.expval(obs), state)
    assert torch.allclose(got, reference, atol=1e-12)


@pytest.mark.parametrize("wires", [[0, 1, 2], [2, 1, 0], [1], [2, 0]])
def test_probabilities(wires, rng):
    state = random_states(rng)
    full = (state.abs() ** 2).reshape(BATCH, *[2] * N)
    others = tuple(1 + w for w in range(N) if w not in wires)
    marginal = full.sum(dim=others) if others else full
    kept = sorted(wires)
    reference = marginal.permute(0, *[1 + kept.index(w) for w in wires]).reshape(BATCH, -1)
    got = StateVector(N).measure(qml.probs(wires=wires), state)
    assert torch.allclose(got, reference, atol=1e-12)


def test_unsupported_measurement_hands_over():
    with pytest.raises(UnsupportedOperation, match="not supported"):
        StateVector(N).measure(qml.var(qml.Z(0)), random_states(np.random.default_rng(0)))
