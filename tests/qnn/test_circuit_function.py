"""A network given as one circuit function of inputs and weights: data re-uploading with
trainable input scaling (the qiskit-torch-module benchmark's circuit family), checked against
the same circuit built in Qiskit and run by qiskit-machine-learning 0.9."""

import pickle

import numpy as np
import pennylane as qml
import pytest
import torch
from qiskit.quantum_info import SparsePauliOp

from qnn_torch import EstimatorQNN, SamplerQNN, TorchConnector, parity

from .. import qiskit_reference as ref
from .parity_check import assert_parity, float32_weights

DEPTH = 2


def num_weights(n, depth=DEPTH):
    # per layer: RZ, RY variational and two input scalings per qubit; a final RZ, RY layer
    return 4 * n * depth + 2 * n


def reuploading(n, depth=DEPTH):
    """H layer; per layer RZ(w), RY(w) on each qubit, a CX ring, RY(w x_i), RZ(w x_i); then RZ(w), RY(w)."""

    def circuit(inputs, weights):
        for i in range(n):
            qml.Hadamard(i)
        k = 0
        for _ in range(depth):
            for i in range(n):
                qml.RZ(weights[..., k], wires=i)
                qml.RY(weights[..., k + 1], wires=i)
                k += 2
            for i in range(n):
                qml.CNOT([i, (i + 1) % n])
            for i in range(n):
                qml.RY(weights[..., k] * inputs[..., i], wires=i)
                qml.RZ(weights[..., k + 1] * inputs[..., i], wires=i)
                k += 2
        for i in range(n):
            qml.RZ(weights[..., k], wires=i)
            qml.RY(weights[..., k + 1], wires=i)
            k += 2

    return circuit


def z_on_each(n):
    return [SparsePauliOp("I" * (n - 1 - i) + "Z" + "I" * i) for i in range(n)]


DEVICES = [{"engine": "auto"}, {"engine": "compiled"}, {"engine": "qnode"}, {"device": "lightning.qubit"},
           {"device": "qiskit.aer"}]


@pytest.mark.parametrize("kwargs", DEVICES, ids=lambda k: "/".join(k.values()))
@pytest.mark.parametrize("n", [3, pytest.param(4, marks=pytest.mark.slow)])
def test_reuploading_matches_qiskit_machine_learning(n, kwargs, rng):
    qc, xs, ws = ref.reuploading_circuit(n, DEPTH)
    qk = ref.estimator(qc, xs, ws, z_on_each(n))
    qnn = EstimatorQNN(n, circuit=reuploading(n), num_inputs=n, num_weights=num_weights(n),
                       observables=z_on_each(n), **kwargs)
    assert (qnn.num_inputs, qnn.num_weights) == (qk.num_inputs, qk.num_weights)
    assert qnn.output_shape == qk.output_shape
    w = float32_weights(rng, qnn.num_weights)
    x = rng.uniform(-1, 1, (3, n))
    assert_parity(TorchConnector(qnn, initial_weights=w), qk, x, w)


def test_auto_runs_it_on_the_fast_engine():
    qnn = EstimatorQNN(3, circuit=reuploading(3), num_inputs=3, num_weights=num_weights(3))
    qnn.forward(np.zeros((2, 3)), np.zeros(qnn.num_weights))
    assert qnn.engine == "adjoint" and qnn.engine_fallback is None


def test_sampler_with_a_circuit_function(rng):
    qc, xs, ws = ref.reuploading_circuit(3, DEPTH)
    qk = ref.sampler(qc, xs, ws, interpret=parity, output_shape=2)
    qnn = SamplerQNN(3, circuit=reuploading(3), num_inputs=3, num_weights=num_weights(3), interpret=parity,
                     output_shape=2)
    w = float32_weights(rng, qnn.num_weights)
    assert_parity(TorchConnector(qnn, initial_weights=w), qk, rng.uniform(-1, 1, (2, 3)), w)


def _module_level_circuit(inputs, weights):
    qml.RY(weights[..., 0] * inputs[..., 0], wires=0)


def test_a_module_level_circuit_function_pickles():
    qnn = EstimatorQNN(1, circuit=_module_level_circuit, num_inputs=1, num_weights=1)
    clone = pickle.loads(pickle.dumps(qnn))
    x, w = np.array([[0.7]]), np.array([0.4])
    np.testing.assert_array_equal(clone.forward(x, w), qnn.forward(x, w))
    assert clone.forward(x, w)[0, 0] == pytest.approx(np.cos(0.28))


@pytest.mark.parametrize("kwargs, error, message", [
    ({"circuit": _module_level_circuit, "num_weights": 1}, TypeError,
     r"circuit _module_level_circuit is a function: give num_inputs=\.\.\. \(its number of inputs\)"),
    ({"circuit": _module_level_circuit, "num_inputs": 1}, TypeError, r"give num_weights=\.\.\."),
    ({"circuit": _module_level_circuit, "num_inputs": -1, "num_weights": 1}, ValueError,
     "num_inputs must be a non-negative integer; got -1"),
    ({"circuit": "RY", "num_inputs": 1, "num_weights": 1}, TypeError, "circuit must be a function"),
    ({"circuit": _module_level_circuit, "num_inputs": 1, "num_weights": 1, "ansatz": _module_level_circuit},
     ValueError, "circuit replaces feature_map and ansatz"),
])
def test_bad_circuit_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        EstimatorQNN(1, **kwargs)


def test_gradients_reach_the_input_scaling():
    qnn = EstimatorQNN(1, circuit=_module_level_circuit, num_inputs=1, num_weights=1)
    model = TorchConnector(qnn, initial_weights=[0.4])
    x = torch.tensor([[0.7]], dtype=torch.float64, requires_grad=True)
    model(x).sum().backward()
    # <Z> = cos(w x): d/dw = -x sin(w x), d/dx = -w sin(w x)
    assert model.weight.grad.item() == pytest.approx(-0.7 * np.sin(0.28), abs=1e-6)
    assert x.grad.item() == pytest.approx(-0.4 * np.sin(0.28), abs=1e-6)
