"""Parity of the templates with Qiskit's circuit library, and their input checks."""

from functools import partial

import numpy as np
import pennylane as qml
import pytest
import torch
from qiskit.circuit.library import pauli_feature_map, real_amplitudes, zz_feature_map
from qiskit.exceptions import QiskitError
from qiskit.quantum_info import Operator

from qnn_torch import ENTANGLEMENT_PATTERNS, PauliFeatureMap, RealAmplitudes, ZZFeatureMap

from ..conftest import qiskit_order_matrix

QUBITS = [1, 2, 3, 4, 5]
ATOL = 1e-10


def _qiskit_operator(build, values):
    """Bind ``values`` (in the circuit's parameter-vector order) and return the matrix."""
    try:
        circuit = build()
    except (QiskitError, ValueError) as err:  # Qiskit refuses this combination
        return err
    # bind by vector index: a parameter the circuit does not use is absent from it
    binding = {p: values[p.index] for p in circuit.parameters}
    return Operator(circuit.assign_parameters(binding)).data


def _assert_same(pl_build, qk_build, values, n):
    expected = _qiskit_operator(qk_build, values)
    if isinstance(expected, Exception):
        with pytest.raises(ValueError):
            qiskit_order_matrix(pl_build(), n)
        return
    got = qiskit_order_matrix(pl_build(), n)
    assert np.allclose(got, expected, atol=ATOL)


@pytest.mark.parametrize("n", QUBITS)
@pytest.mark.parametrize("reps", [1, 2, 3])
@pytest.mark.parametrize("entanglement", ENTANGLEMENT_PATTERNS)
def test_zz_feature_map_equals_qiskit(n, reps, entanglement, rng):
    x = rng.uniform(-np.pi, np.pi, n)
    _assert_same(
        lambda: ZZFeatureMap(x, wires=range(n), reps=reps, entanglement=entanglement),
        lambda: zz_feature_map(n, reps=reps, entanglement=entanglement),
        x,
        n,
    )


PAULI_SETS = [("Z", "ZZ"), ("X", "YY", "ZXZ"), ("Y", "XZ"), ("IZ", "XIY", "YX")]


@pytest.mark.parametrize("n", QUBITS)
@pytest.mark.parametrize("reps", [1, 2, 3])
@pytest.mark.parametrize("entanglement", ENTANGLEMENT_PATTERNS)
@pytest.mark.parametrize("paulis", PAULI_SETS)
def test_pauli_feature_map_equals_qiskit(n, reps, entanglement, paulis, rng):
    paulis = tuple(p for p in paulis if len(p) <= n) or ("X",)
    x = rng.uniform(-np.pi, np.pi, n)
    _assert_same(
        lambda: PauliFeatureMap(x, range(n), reps=reps, paulis=paulis, entanglement=entanglement, alpha=1.3),
        lambda: pauli_feature_map(n, reps=reps, paulis=list(paulis), entanglement=entanglement, alpha=1.3),
        x,
        n,
    )


@pytest.mark.parametrize(
    "blocks", [[(0, 2), (1,), (2, 1)], [(2,), (0, 1, 2), (1, 0)], [(1, 2)]]
)
def test_pauli_feature_map_explicit_blocks_equal_qiskit(blocks, rng):
    n, paulis = 3, ("Z", "XY", "ZZZ")
    by_size = {k: [b for b in blocks if len(b) == k] for k in (1, 2, 3)}
    x = rng.uniform(-np.pi, np.pi, n)
    _assert_same(
        lambda: PauliFeatureMap(x, range(n), reps=2, paulis=paulis, entanglement=blocks),
        lambda: pauli_feature_map(n, reps=2, paulis=list(paulis), entanglement=by_size),
        x,
        n,
    )


@pytest.mark.parametrize("n", QUBITS)
@pytest.mark.parametrize("reps", [0, 1, 2, 3])
@pytest.mark.parametrize("entanglement", ENTANGLEMENT_PATTERNS)
@pytest.mark.parametrize("skip", [False, True])
def test_real_amplitudes_equals_qiskit(n, reps, entanglement, skip, rng):
    (num,) = RealAmplitudes.shape(n, reps=reps, skip_final_rotation_layer=skip)
    w = rng.uniform(-np.pi, np.pi, num)
    if num == 0:  # Qiskit's circuit is empty: the identity
        op = RealAmplitudes(w, wires=range(n), reps=reps, entanglement=entanglement,
                            skip_final_rotation_layer=skip)
        assert op.decomposition() == []
        return
    _assert_same(
        lambda: RealAmplitudes(w, range(n), reps=reps, entanglement=entanglement, skip_final_rotation_layer=skip),
        lambda: real_amplitudes(n, reps=reps, entanglement=entanglement, skip_final_rotation_layer=skip),
        w,
        n,
    )


def test_real_amplitudes_explicit_pairs_equal_qiskit(rng):
    pairs = [(2, 0), (0, 1), (1, 2), (2, 1)]
    w = rng.uniform(-np.pi, np.pi, 9)
    _assert_same(
        lambda: RealAmplitudes(w, range(3), reps=2, entanglement=pairs),
        lambda: real_amplitudes(3, reps=2, entanglement=pairs),
        w,
        3,
    )


def test_qiskit_defaults():
    """Defaults are Qiskit's: ZZ map reps=2 full, RealAmplitudes reps=3 reverse_linear."""
    zz = ZZFeatureMap(np.zeros(3), wires=range(3))
    assert zz.hyperparameters == {"reps": 2, "paulis": ("Z", "ZZ"), "entanglement": "full", "alpha": 2.0}
    ra = RealAmplitudes(np.zeros(12), wires=range(3))
    assert ra.hyperparameters == {"reps": 3, "entanglement": "reverse_linear", "skip_final_rotation_layer": False}
    assert RealAmplitudes.shape(3) == (12,)
    assert RealAmplitudes.shape(3, reps=1, skip_final_rotation_layer=True) == (3,)


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


@pytest.mark.parametrize(
    "template, kwargs, size",
    [
        (ZZFeatureMap, {}, 3),
        (partial(PauliFeatureMap, paulis=("Y", "XZ")), {"reps": 1}, 3),
        (RealAmplitudes, {"reps": 2, "entanglement": "sca"}, 9),
    ],
)
def test_batched_parameters_match_one_by_one(template, kwargs, size, rng):
    batch = rng.uniform(-1, 1, (4, size))
    dev = qml.device("default.qubit", wires=3)

    @qml.qnode(dev)
    def state(p):
        template(p, wires=range(3), **kwargs)
        return qml.state()

    batched = state(batch)
    assert batched.shape == (4, 8)
    for row, s in zip(batch, batched):
        assert np.allclose(state(row), s, atol=1e-12)


@pytest.mark.parametrize("template, size", [(ZZFeatureMap, 2), (RealAmplitudes, 8)])
def test_valid_operator(template, size):
    qml.ops.functions.assert_valid(template(np.linspace(0.1, 0.8, size), wires=[0, 1]), skip_pickle=False)


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


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "build, error, match",
    [
        (lambda: ZZFeatureMap(np.zeros(3), wires=[0, 1]), ValueError, "features must have length 2.*got length 3"),
        (lambda: ZZFeatureMap(np.zeros((2, 2, 2)), wires=[0, 1]), ValueError, "features must be a 1-D.*got shape"),
        (lambda: ZZFeatureMap(np.array([0.1, np.nan]), wires=[0, 1]), ValueError, "features must be finite"),
        (lambda: ZZFeatureMap(np.array([0.1, np.inf]), wires=[0, 1]), ValueError, "features must be finite"),
        (lambda: ZZFeatureMap(np.zeros(2), wires=[0, 1], reps=0), ValueError, "reps must be an integer >= 1; got 0"),
        (lambda: ZZFeatureMap(np.zeros(2), wires=[0, 1], reps=1.5), TypeError, "reps must be an integer"),
        (lambda: ZZFeatureMap(np.zeros(2), wires=[0, 1], entanglement="ring"), ValueError,
         "entanglement must be one of.*'full'.*got 'ring'"),
        (lambda: ZZFeatureMap(np.zeros(2), wires=[0, 1], entanglement=[(0, 5)]), ValueError,
         r"entanglement indices must lie in range\(2\)"),
        (lambda: ZZFeatureMap(np.zeros(2), wires=[0, 1], entanglement=5), TypeError, "entanglement must be a string"),
        (lambda: PauliFeatureMap(np.zeros(2), wires=[0, 1], paulis=("ZZZ",)), ValueError,
         "paulis must be words of at most 2 letters.*got 'ZZZ' of length 3"),
        (lambda: PauliFeatureMap(np.zeros(2), wires=[0, 1], paulis=("ZQ",)), ValueError, "paulis must be words over"),
        (lambda: PauliFeatureMap(np.zeros(2), wires=[0, 1], paulis=()), ValueError, "at least one Pauli word"),
        (lambda: PauliFeatureMap(np.zeros(2), wires=[0, 1], paulis=(1,)), TypeError, "paulis must be a sequence"),
        (lambda: PauliFeatureMap(np.zeros(3), wires=[0, 1, 2], paulis=("ZZZ",), entanglement="pairwise"),
         ValueError, "pairwise"),
        (lambda: PauliFeatureMap(np.zeros(2), wires=[0, 1], alpha="big"), TypeError, "alpha must be a real number"),
        (lambda: RealAmplitudes(np.zeros(7), wires=[0, 1], reps=3), ValueError, "weights must have length 8.*got length 7"),
        (lambda: RealAmplitudes(np.zeros(8), wires=[0, 1], reps=-1), ValueError, "reps must be an integer >= 0; got -1"),
        (lambda: RealAmplitudes(np.zeros(8), wires=[0, 1], entanglement="all"), ValueError, "got 'all'"),
        (lambda: RealAmplitudes(np.full(8, np.nan), wires=[0, 1]), ValueError, "weights must be finite"),
        (lambda: RealAmplitudes(np.zeros(8), wires=[0, 1], skip_final_rotation_layer="no"), TypeError,
         "skip_final_rotation_layer must be a bool"),
        (lambda: RealAmplitudes.shape(0), ValueError, "n_wires must be a positive integer; got 0"),
        (lambda: ZZFeatureMap(np.zeros(2), wires=[0, 1], alpha=3.0), TypeError, "use PauliFeatureMap"),
    ],
)
def test_bad_input(build, error, match):
    with pytest.raises(error, match=match):
        build()
