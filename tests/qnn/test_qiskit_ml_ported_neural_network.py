"""qiskit-machine-learning 0.9's own tests of the ``NeuralNetwork`` base class, ported to qnn_torch.

Source: https://github.com/qiskit-community/qiskit-machine-learning, tag ``0.9.0`` (commit
1470efa8f6065c594ab44d0c8a976e4bee46b5c7, the head of branch ``stable/0.9``), file
``test/neural_networks/test_neural_network.py``, (C) Copyright IBM 2020, 2025, licensed under the
Apache License, Version 2.0 (http://www.apache.org/licenses/LICENSE-2.0). Modified from the
originals as described here.

Upstream subclasses ``NeuralNetwork`` with a dummy network (``_forward``/``_backward`` give zeros of
the right shapes) and checks the shapes the base class's public ``forward``/``backward`` return.
Here the same subclass is written once as a function of the base class (:func:`dummy_network`) and
made from qiskit-machine-learning's ``NeuralNetwork`` (the oracle) and from qnn_torch's as a user
imports it; each case returns what it checks, and the two must agree (values within 1e-6, the same
shapes, ``None`` where the oracle gives ``None``).

Cases upstream (ddt expansions counted one each), all 21 ported: ``test_forward_shape`` (10),
``test_backward_shape`` (10), ``test_data_gradients``.
"""

from __future__ import annotations

import numpy as np
import pytest

from ..qiskit_ml_port import assert_same, imported, oracle

# upstream's @data: ((num_inputs, num_weights, sparse, output_shape), input_data)
SHAPE_CASES = [
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
]


def dummy_network(base):
    """Upstream's ``_NeuralNetwork``: a subclass of ``base`` whose outputs and gradients are zeros."""

    class _NeuralNetwork(base):
        """Dummy implementation to test the abstract neural network class."""

        def _forward(self, input_data, weights):
            batch_size = input_data.shape[0] if input_data is not None else 1
            return np.zeros((batch_size, *self.output_shape))

        def _backward(self, input_data, weights):
            input_grad = None
            batch_size = input_data.shape[0] if input_data is not None else 1
            if self.num_inputs > 0:
                input_grad = np.zeros((batch_size, *self.output_shape, self.num_inputs))
            weight_grad = None
            if self.num_weights > 0:
                weight_grad = np.zeros((batch_size, *self.output_shape, self.num_weights))
            return input_grad, weight_grad

    return _NeuralNetwork


def batch_size_of(input_data):
    """Upstream's ``_get_batch_size``: the length of a list of lists, else 1."""
    if isinstance(input_data, list) and isinstance(input_data[0], list):
        return len(input_data)
    return 1


def forward_shape(lib, config, input_data):
    """Upstream's ``test_forward_shape``."""
    network = dummy_network(lib.NeuralNetwork)(*config)
    output = network.forward(input_data, np.zeros(network.num_weights))
    assert output.shape == (batch_size_of(input_data), *network.output_shape)
    return output


def backward_shape(lib, config, input_data):
    """Upstream's ``test_backward_shape``."""
    network = dummy_network(lib.NeuralNetwork)(*config)
    batch_size = batch_size_of(input_data)
    input_grad, weights_grad = network.backward(input_data, np.zeros(network.num_weights))
    if network.num_inputs > 0:
        assert input_grad.shape == (batch_size, *network.output_shape, network.num_inputs)
    else:
        assert input_grad is None
    if network.num_weights > 0:
        assert weights_grad.shape == (batch_size, *network.output_shape, network.num_weights)
    else:
        assert weights_grad is None
    return input_grad, weights_grad


def data_gradients(lib):
    """Upstream's ``test_data_gradients``: the ``input_gradients`` setter and getter."""
    network = dummy_network(lib.NeuralNetwork)(1, 1, True, 1)
    states = [network.input_gradients]
    network.input_gradients = True
    states.append(network.input_gradients)
    states.append(dummy_network(lib.NeuralNetwork)(1, 1, True, 1, True).input_gradients)
    assert states == [False, True, True]
    return np.array(states, dtype=float)


SHAPE_PARAMS = [pytest.param(config, data, id=f"{config}-{data}")
                for config, data in SHAPE_CASES]


@pytest.mark.parametrize("config, input_data", SHAPE_PARAMS)
def test_forward_shape(config, input_data):
    expected = oracle(forward_shape, config, input_data)  # first: it must pass
    assert_same(forward_shape(imported(), config, input_data), expected)


@pytest.mark.parametrize("config, input_data", SHAPE_PARAMS)
def test_backward_shape(config, input_data):
    expected = oracle(backward_shape, config, input_data)
    assert_same(backward_shape(imported(), config, input_data), expected)


@pytest.mark.parametrize("lib", [imported], ids=["qnn_torch"])
def test_data_gradients(lib):
    expected = oracle(data_gradients)
    assert_same(data_gradients(lib()), expected)
