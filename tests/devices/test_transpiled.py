"""Tapes of one structure share one transpiled circuit, bound by value arrays in Qiskit's order."""

import numpy as np
import pennylane as qml
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter

from qnn_torch.devices.transpiled import TranspiledCircuit, gate_values, structure_key, symbolic_tape

_MATRIX = np.array([[0, 1], [1, 0]], dtype=complex)


def _tape(a=0.1, b=0.2, matrix=_MATRIX, wire=1, observable=None):
    ops = [qml.RX(a, 0), qml.QubitUnitary(matrix, wires=1), qml.CRZ(b, wires=[0, wire])]
    return qml.tape.QuantumScript(ops, [qml.expval(observable or qml.Z(0) @ qml.Z(1))])


def test_tapes_that_differ_only_in_angles_share_a_structure():
    assert structure_key(_tape(0.1, 0.2), "estimator") == structure_key(_tape(0.7, -3.0), "estimator")


@pytest.mark.parametrize("other", [
    lambda: structure_key(_tape(), "sampler"),
    lambda: structure_key(_tape(matrix=np.eye(2)), "estimator"),
    lambda: structure_key(_tape(wire=2), "estimator"),
    lambda: structure_key(_tape(observable=qml.X(0)), "estimator"),
    lambda: structure_key(_tape(observable=qml.Hermitian(np.diag([1.0, 2.0]), wires=0)), "estimator"),
])
def test_kind_fixed_matrices_wires_and_observables_make_another_structure(other):
    assert other() != structure_key(_tape(), "estimator")


def test_symbolic_tape_names_the_scalar_parameters_in_gate_order():
    symbolic, params = symbolic_tape(_tape(0.1, 0.2))
    assert [p.name for p in params] == ["p0", "p1"]
    assert symbolic.operations[0].data == (params[0],) and symbolic.operations[2].data == (params[1],)
    np.testing.assert_array_equal(symbolic.operations[1].data[0], _MATRIX)  # matrices stay
    assert symbolic.measurements == _tape().measurements
    assert gate_values(_tape(0.1, 0.2)) == [0.1, 0.2]


def test_values_bind_by_parameter_not_by_position():
    """Qiskit sorts parameters by name (``p10`` before ``p2``), and the transpiler may drop one."""
    params = [Parameter(f"p{i}") for i in range(12)]
    circuit = QuantumCircuit(1)
    for p in params[1:]:  # p0 dropped
        circuit.rx(p, 0)
    transpiled = TranspiledCircuit(circuit, params)
    values = np.arange(24, dtype=float).reshape(2, 12)
    rows = transpiled.bind(values)
    assert [p.name for p in circuit.parameters][:3] == ["p1", "p10", "p11"]
    np.testing.assert_array_equal(rows[:, :3], values[:, [1, 10, 11]])
    assert rows.shape == (2, 11)


def test_a_circuit_without_parameters_binds_nothing_and_the_digest_names_the_structure():
    transpiled = TranspiledCircuit(QuantumCircuit(1), [], key=("estimator", ()))
    assert transpiled.bind(np.zeros((3, 0))) is None
    assert transpiled.digest == TranspiledCircuit(QuantumCircuit(1), [], key=("estimator", ())).digest
    assert transpiled.digest != TranspiledCircuit(QuantumCircuit(1), [], key=("sampler", ())).digest
