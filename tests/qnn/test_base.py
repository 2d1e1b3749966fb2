"""``qnn_torch.NeuralNetwork``, the base class users subclass, against qiskit-machine-learning's.

The shape cases of ``test_forward_shape``, ``test_backward_shape`` and ``test_data_gradients`` are
ported from qiskit-machine-learning 0.9 (https://github.com/qiskit-community/qiskit-machine-learning,
branch ``stable/0.9``, ``test/neural_networks/test_neural_network.py``, (C) Copyright IBM 2020, 2025,
Apache License 2.0): the same dummy network is written on both base classes and every output is
compared with qiskit-machine-learning's in the same process, instead of upstream's shape checks only.
"""

from __future__ import annotations

import numpy as np
import pytest
from qiskit_machine_learning import QiskitMachineLearningError as QkError
from qiskit_machine_learning.neural_networks import NeuralNetwork as QkNeuralNetwork

from qnn_torch import EstimatorQNN, NeuralNetwork, QiskitMachineLearningError, SamplerQNN


class _Linear:
    """``y[k] = sum_i (i + 1) x[i] w[k % W] + k``: values and gradients that depend on every index,
    so that a misplaced reshape shows (a dummy network, as upstream's, but not all zeros)."""

    def _forward(self, input_data, weights):
        batch = input_data.shape[0] if input_data is not None else 1
        k = np.arange(int(np.prod(self.output_shape)))
        x = np.zeros((batch, 1)) if input_data is None else input_data
        scale = x @ np.arange(1, self.num_inputs + 1) if self.num_inputs else np.ones(batch)
        w = weights[k % self.num_weights] if self.num_weights else np.ones(len(k))
        return (scale[:, None] * w[None] + k).reshape(batch, *self.output_shape)

    def _backward(self, input_data, weights):
        batch = input_data.shape[0] if input_data is not None else 1
        size = int(np.prod(self.output_shape))
        k = np.arange(size)
        w = weights[k % self.num_weights] if self.num_weights else np.ones(size)
        input_grad = weight_grad = None
        if self.num_inputs > 0:
            input_grad = np.broadcast_to(w[None, :, None] * np.arange(1, self.num_inputs + 1),
                                         (batch, size, self.num_inputs))
            input_grad = input_grad.reshape(batch, *self.output_shape, self.num_inputs)
        if self.num_weights > 0:
            x = np.zeros((batch, 1)) if input_data is None else input_data
            scale = x @ np.arange(1, self.num_inputs + 1) if self.num_inputs else np.ones(batch)
            onehot = (k[:, None] % self.num_weights == np.arange(self.num_weights)).astype(float)
            weight_grad = (scale[:, None, None] * onehot).reshape(batch, *self.output_shape, self.num_weights)
        return input_grad, weight_grad


class Ours(_Linear, NeuralNetwork):
    pass


class Theirs(_Linear, QkNeuralNetwork):
    pass


# upstream's cases: (num_inputs, num_weights, sparse, output_shape), input_data
CASES = [
    ((0, 0, True, 1), None),
    ((0, 1, True, 1), None),
    ((0, 1, True, 2), None),
    ((0, 1, True, (2, 2)), None),
    ((1, 0, True, 1), 0),
    ((1, 1, True, 1), 0),
    ((1, 1, True, 2), 0),
    ((1, 1, True, (2, 2)), 0),
    ((2, 2, True, (2, 2)), [0, 0]),
    ((2, 2, True, (2, 2)), [[0, 0], [1, 1]]),
    # beyond upstream: values that are not zero, and inputs of three dimensions
    ((2, 3, False, (2, 3)), [[0.5, -1.0], [1.5, 2.0]]),
    ((2, 3, False, 3), np.arange(12.0).reshape(2, 3, 2)),
]


def _batch(input_data):
    return len(input_data) if isinstance(input_data, list) and isinstance(input_data[0], list) else 1


@pytest.mark.parametrize("config, input_data", CASES)
def test_forward_equals_qiskit_machine_learning(config, input_data):
    ours, theirs = Ours(*config), Theirs(*config)
    weights = np.linspace(-1, 1, ours.num_weights)
    got, expected = ours.forward(input_data, weights), theirs.forward(input_data, weights)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=1e-12)
    if np.ndim(input_data) < 3:  # upstream's shape check
        assert got.shape == (_batch(input_data), *ours.output_shape)


@pytest.mark.parametrize("config, input_data", CASES)
def test_backward_equals_qiskit_machine_learning(config, input_data):
    ours, theirs = Ours(*config), Theirs(*config)
    weights = np.linspace(-1, 1, ours.num_weights)
    for got, expected in zip(ours.backward(input_data, weights), theirs.backward(input_data, weights)):
        if expected is None:
            assert got is None
        else:
            assert got.shape == expected.shape
            np.testing.assert_allclose(got, expected, atol=1e-12)
    input_grad, weight_grad = ours.backward(input_data, weights)
    if np.ndim(input_data) < 3:  # upstream's shape checks
        batch = _batch(input_data)
        if ours.num_inputs > 0:
            assert input_grad.shape == (batch, *ours.output_shape, ours.num_inputs)
        if ours.num_weights > 0:
            assert weight_grad.shape == (batch, *ours.output_shape, ours.num_weights)


def test_data_gradients():
    """Upstream's ``test_data_gradients``: the setter and the constructor argument."""
    network = Ours(1, 1, True, 1)
    assert network.input_gradients is False
    network.input_gradients = True
    assert network.input_gradients is True
    assert Ours(1, 1, True, 1, True).input_gradients is True


def test_properties():
    network = Ours(num_inputs=2, num_weights=3, sparse=False, output_shape=4)
    properties = (network.num_inputs, network.num_weights, network.sparse, network.output_shape)
    assert properties == (2, 3, False, (4,))
    with pytest.raises(AttributeError):
        network.output_shape = (5,)


def test_is_abstract():
    class Half(NeuralNetwork):
        def _forward(self, input_data, weights):
            return input_data

    with pytest.raises(TypeError, match="abstract"):
        Half(1, 0, False, 1)


@pytest.mark.parametrize("args, match", [
    ((-1, 0, False, 1), "num_inputs must be an integer >= 0; got -1"),
    ((0, -2, False, 1), "num_weights must be an integer >= 0; got -2"),
    ((1, 1, False, 0), r"output_shape must be a positive integer or a tuple of them; got 0"),
    ((1, 1, False, (2, 0)), r"output_shape must be a positive integer or a tuple of them; got \(2, 0\)"),
])
def test_bad_constructor_arguments_raise_as_qiskit_machine_learning(args, match):
    with pytest.raises(QkError):  # the oracle raises its own error there
        Theirs(*args)
    with pytest.raises(QiskitMachineLearningError, match=match):
        Ours(*args)


def test_wrong_input_dimension_raises_qiskit_machine_learning_error():
    ours, theirs = Ours(2, 1, False, 1), Theirs(2, 1, False, 1)
    with pytest.raises(QkError):
        theirs.forward([1.0, 2.0, 3.0], [0.5])
    for call in (ours.forward, ours.backward):
        with pytest.raises(QiskitMachineLearningError,
                           match=r"input_data must have last dimension 2.*\(3,\)"):
            call([1.0, 2.0, 3.0], [0.5])


def test_bad_weights_and_values():
    network = Ours(2, 3, False, 1)
    with pytest.raises(ValueError, match=r"weights must have 3 values .*got shape \(2,\)"):
        network.forward([1.0, 2.0], [1.0, 2.0])
    with pytest.raises(TypeError, match="input_data must hold real numbers; got dtype complex128"):
        network.forward(np.array([1.0, 2.0j]), [1.0, 2.0, 3.0])
    with pytest.raises(TypeError, match="input_gradients must be True or False; got 'yes'"):
        network.input_gradients = "yes"


def test_the_package_networks_are_neural_networks():
    for qnn in (EstimatorQNN(2), SamplerQNN(2)):
        assert isinstance(qnn, NeuralNetwork)
        assert qnn.sparse is False
