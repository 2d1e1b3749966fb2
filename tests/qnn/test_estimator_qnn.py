"""EstimatorQNN: its observables as given and as measured, its outputs, and qiskit-machine-learning's
default observable."""

import pennylane as qml
import pytest
import torch
from qiskit import QuantumCircuit
from qiskit.circuit import ParameterVector
from qiskit.quantum_info import SparsePauliOp

from qnn_torch import EstimatorQNN


def test_the_default_observable_is_z_on_every_qubit():
    qnn = EstimatorQNN(3)
    assert qnn.output_shape == (1,) and qnn.description.output_size == 1
    (observable,) = qnn.observables
    assert qml.equal(observable, qml.Z(0) @ qml.Z(1) @ qml.Z(2))


@pytest.mark.parametrize("observables, shape", [
    (qml.X(0), (1,)), ([qml.Z(0), qml.Y(1)], (2,)), ((SparsePauliOp("XZ"),), (1,)),
])
def test_observables_are_returned_as_given_one_output_each(observables, shape):
    qnn = EstimatorQNN(2, observables=observables)
    assert qnn.output_shape == shape
    given = observables if isinstance(observables, (list, tuple)) else (observables,)
    assert list(qnn.observables) == list(given)
    measured = qnn._measure()
    assert isinstance(measured, list) and len(measured) == shape[0]  # a list: batched shapes stay right


def test_a_qiskit_circuit_measures_z_on_its_logical_qubits():
    x = ParameterVector("x", 2)
    qc = QuantumCircuit(2)
    qc.ry(x[0], 0)
    qc.ry(x[1], 1)
    qnn = EstimatorQNN(circuit=qc, input_params=x, weight_params=[])
    (observable,) = qnn.observables
    assert observable == SparsePauliOp("ZZ")
    out = torch.as_tensor(qnn.forward([0.3, 0.5], None))
    angles = torch.tensor([0.3, 0.5], dtype=torch.float64)
    expected = torch.cos(angles).prod()
    assert out.shape == (1, 1) and torch.allclose(out[0, 0], expected)


def test_the_outputs_are_the_expectation_values():
    assert EstimatorQNN(2)._head() is None
