"""Observables: PennyLane operators and Qiskit's Pauli forms, in Qiskit's qubit order, Hermitian."""

import numpy as np
import pennylane as qml
import pytest
from qiskit.quantum_info import Pauli, SparseObservable, SparsePauliOp

from qnn_torch.qnn import to_pennylane_observables
from qnn_torch.qnn.observables import default_observable


def _qiskit_order(op, n):
    return qml.matrix(op, wire_order=list(reversed(range(n))))


@pytest.mark.parametrize("n", [1, 2, 4])
def test_default_is_z_on_every_qubit(n):
    np.testing.assert_allclose(_qiskit_order(default_observable(n), n), SparsePauliOp("Z" * n).to_matrix())
    (obs,) = to_pennylane_observables(None, n)
    np.testing.assert_allclose(_qiskit_order(obs, n), SparsePauliOp("Z" * n).to_matrix())


@pytest.mark.parametrize("qiskit_op", [
    SparsePauliOp("XIZ"),
    SparsePauliOp("IYX"),
    SparsePauliOp.from_list([("ZZI", 0.5), ("XIY", -1.5), ("III", 0.25)]),
    Pauli("ZXY"),
    Pauli("-XXI"),
    SparseObservable("IZX"),
    SparseObservable.from_list([("XYZ", 2.0), ("ZII", -0.5)]),
])
def test_qiskit_forms_keep_qiskit_qubit_order(qiskit_op):
    """Little-endian labels: the PennyLane observable's matrix in Qiskit's order is Qiskit's matrix."""
    (obs,) = to_pennylane_observables(qiskit_op, 3)
    want = (SparsePauliOp(qiskit_op) if isinstance(qiskit_op, Pauli) else
            SparsePauliOp.from_sparse_observable(qiskit_op) if isinstance(qiskit_op, SparseObservable)
            else qiskit_op).to_matrix()
    np.testing.assert_allclose(_qiskit_order(obs, 3), want, atol=1e-12)


def test_several_observables_keep_their_order():
    obs = to_pennylane_observables([qml.Z(0), SparsePauliOp("XI"), qml.Y(0) @ qml.Y(1)], 2)
    assert len(obs) == 3
    np.testing.assert_allclose(_qiskit_order(obs[1], 2), SparsePauliOp("XI").to_matrix())


@pytest.mark.parametrize("bad, error, message", [
    ([], ValueError, "observables must hold at least one observable"),
    ("ZZ", TypeError, "observables must be PennyLane operators"),
    (qml.Z(3), ValueError, r"observables must act on wires 0..1; got Z\(3\) on wires \[3\]"),
    (SparsePauliOp("ZZZ"), ValueError, "observables must act on 2 qubits; got a SparsePauliOp on 3"),
    (SparsePauliOp.from_list([("ZZ", 1j)]), ValueError, "observables must be Hermitian"),
    (Pauli("iZZ"), ValueError, "observables must be Hermitian"),
    (qml.S(0), ValueError, "observables must be Hermitian"),
    (qml.Hermitian(np.array([[0, 1], [0, 0]]), wires=0), ValueError, "observables must be Hermitian"),
])
def test_bad_observables(bad, error, message):
    with pytest.raises(error, match=message):
        to_pennylane_observables(bad, 2)
