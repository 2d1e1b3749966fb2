"""The gate table: every Qiskit gate it names becomes one PennyLane operation with Qiskit's exact
matrix, global phase included."""

from __future__ import annotations

import pennylane as qml
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import ParameterVector
from qiskit.circuit.library import U1Gate, U2Gate, U3Gate

from qnn_torch.circuits.qiskit_gates import GATES, IGNORED, REFUSED, SUPPORTED_GATES, operation_factory

from .matrices import GATE_SHAPES, QUBITS, assert_same


@pytest.mark.parametrize("name", sorted(GATE_SHAPES))
def test_standard_gate_matrix_exact(name, rng):
    num_qubits, num_params = GATE_SHAPES[name]
    params = ParameterVector("θ", num_params)
    qc = QuantumCircuit(3)
    getattr(qc, name)(*params, *QUBITS[:num_qubits])
    converted = assert_same(qc, [], list(params), rng)
    expected = 0 if name == "id" else 1
    assert len(converted.operations) == expected
    assert name == "id" or name in SUPPORTED_GATES


@pytest.mark.parametrize("gate, num_params", [(U1Gate, 1), (U2Gate, 2), (U3Gate, 3)])
def test_u1_u2_u3(gate, num_params, rng):
    params = ParameterVector("θ", num_params)
    qc = QuantumCircuit(2)
    qc.append(gate(*params), [1])
    assert_same(qc, [], list(params), rng)


def test_unitary_gate(rng):
    from qiskit.circuit.library import UnitaryGate
    from qiskit.quantum_info import random_unitary

    qc = QuantumCircuit(3)
    qc.append(UnitaryGate(random_unitary(4, seed=3)), [2, 0])
    assert_same(qc, [], [], rng)


def test_every_gate_of_the_table_has_a_factory_and_its_rules_fit():
    assert SUPPORTED_GATES == tuple(sorted(GATES))
    assert set(GATE_SHAPES) - set(IGNORED) <= set(GATES) and not set(GATES) & set(REFUSED)
    for name, (pl_name, rules) in GATES.items():
        factory = operation_factory(pl_name)
        assert callable(factory), name
        angles = [0.1 * (i + 1) for i in range(len(rules))]
        wires = list(range(GATE_SHAPES[name][0] if name in GATE_SHAPES else 1 + name.startswith("c")))
        op = factory(*angles, wires=wires)
        assert isinstance(op, qml.operation.Operator) and op.num_params == len(rules), name


@pytest.mark.parametrize("pl_name, angles, wires, expected", [
    ("SXdg", [], [0], "Adjoint(SX)"),
    ("PauliRot:ZX", [0.4], [0, 1], "PauliRot"),
    ("CNOT", [], [0, 1], "CNOT"),
])
def test_operations_without_a_pennylane_class_of_their_own(pl_name, angles, wires, expected):
    assert operation_factory(pl_name)(*angles, wires=wires).name == expected
