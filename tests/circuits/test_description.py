"""The circuit description: what an engine knows of a network's circuit, and its queue."""

import dataclasses

import pennylane as qml
import pytest
import torch

from qnn_torch import EstimatorQNN, ZZFeatureMap
from qnn_torch.circuits import CircuitDescription


def _description(circuit, **kwargs):
    fields = {"num_qubits": 2, "num_inputs": 2, "num_weights": 1, "probabilities": False, "head": None,
              "output_size": 1, **kwargs}
    return CircuitDescription(circuit=circuit, **fields)


def test_queue_gives_the_operations_and_the_measurements_in_order():
    def circuit(inputs, weight):
        qml.RY(inputs[..., 0], wires=0)
        qml.CNOT([0, 1])
        qml.RX(weight[..., 0] * inputs[..., 1], wires=1)
        return qml.expval(qml.Z(1))

    ops, measurements = _description(circuit).queue(torch.tensor([[0.1, 0.2]]), torch.tensor([0.3]))
    assert [op.name for op in ops] == ["RY", "CNOT", "RX"]
    assert len(measurements) == 1 and isinstance(measurements[0], qml.measurements.ExpectationMP)


def test_queue_skips_the_templates_value_checks():
    """Traced or placeholder values pass: the engines check values themselves."""
    def circuit(inputs, weight):
        ZZFeatureMap(inputs, wires=[0, 1])
        return [qml.expval(qml.Z(0)), qml.expval(qml.Z(1))]

    ops, measurements = _description(circuit).queue(torch.tensor([float("nan"), 0.0]), torch.zeros(1))
    assert [op.name for op in ops] == ["ZZFeatureMap"] and len(measurements) == 2
    with pytest.raises(ValueError, match="features must be finite"):
        ZZFeatureMap(torch.tensor([float("nan"), 0.0]), wires=[0, 1])


def test_a_network_hands_its_engines_a_frozen_description():
    description = EstimatorQNN(2).description
    assert (description.num_qubits, description.num_inputs, description.num_weights) == (2, 2, 8)
    with pytest.raises(dataclasses.FrozenInstanceError):
        description.num_qubits = 3
