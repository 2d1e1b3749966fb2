"""``TorchConnector`` on networks users write (subclasses of ``NeuralNetwork``, no circuit), through
``NetworkFunction``, against qiskit-machine-learning 0.9's ``TorchConnector`` on the same network
written on its base class (the oracle, in the same process)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from qiskit_machine_learning.connectors import TorchConnector as QkTorchConnector
from qiskit_machine_learning.neural_networks import NeuralNetwork as QkNeuralNetwork

from qnn_torch import EstimatorQNN, NeuralNetwork, QiskitMachineLearningError, TorchConnector
from qnn_torch.qnn.network_function import NetworkFunction, einsum_signature
from qnn_torch.torch_connector import _get_einsum_signature, _TorchNNFunction


class _Cosine:
    """``y[k] = cos(x . a_k + w_k)`` for ``output_shape`` outputs ``k`` (a ``(K, I)`` matrix ``a``)."""

    def _a(self):
        size = int(np.prod(self.output_shape))
        return np.arange(1, size * self.num_inputs + 1).reshape(size, self.num_inputs) / 10

    def _forward(self, input_data, weights):
        phase = input_data @ self._a().T + weights
        return np.cos(phase).reshape(len(input_data), *self.output_shape)

    def _backward(self, input_data, weights):
        sin = -np.sin(input_data @ self._a().T + weights)  # (B, K)
        batch, size = sin.shape
        input_grad = (sin[:, :, None] * self._a()[None]).reshape(batch, *self.output_shape, self.num_inputs)
        weight_grad = (sin[:, :, None] * np.eye(size)[None]).reshape(batch, *self.output_shape, size)
        return (input_grad if self.input_gradients else None), weight_grad


class Ours(_Cosine, NeuralNetwork):
    pass


class Theirs(_Cosine, QkNeuralNetwork):
    pass


def _models(output_shape=3, input_gradients=True):
    weights = np.linspace(-0.5, 0.7, int(np.prod(output_shape))).astype(np.float32)
    args = (2, int(np.prod(output_shape)), False, output_shape, input_gradients)
    return (TorchConnector(Ours(*args), initial_weights=weights),
            QkTorchConnector(Theirs(*args), initial_weights=weights))


def _run(model, shape, dtype):
    x = torch.linspace(-1, 2, int(np.prod(shape)), dtype=dtype).reshape(shape).requires_grad_(True)
    out = model(x)
    (out * torch.arange(1.0, out.numel() + 1).reshape(out.shape)).sum().backward()
    return out, x.grad, model.weight.grad


@pytest.mark.parametrize("shape", [(4, 2), (2,), (1, 2)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_user_network_trains_as_in_qiskit_machine_learning(shape, dtype):
    ours, theirs = _models(3)
    for mine, oracle in zip(_run(ours, shape, dtype), _run(theirs, shape, dtype)):
        assert mine.dtype == oracle.dtype and mine.shape == oracle.shape
        torch.testing.assert_close(mine, oracle, atol=0, rtol=0)  # the same float32 einsum, bit for bit


def test_outputs_of_two_dimensions():
    """Outputs ``(2, 2)`` give the gradients of the same network with 4 outputs (qiskit-machine-learning
    0.9's input gradient fails there: its signature contracts the batch with the first output axis)."""
    square, _ = _models((2, 2))
    flat, _ = _models(4)
    for mine, expected in zip(_run(square, (3, 2), torch.float32), _run(flat, (3, 2), torch.float32)):
        torch.testing.assert_close(mine.reshape(expected.shape), expected)


def test_inputs_of_three_dimensions_get_their_own_gradient():
    """Batches of batches: the input gradient sums over the outputs only (qiskit-machine-learning's
    signature sums over the second dimension there, so it is compared with a loop over rows)."""
    ours, _ = _models(2)
    x = torch.rand(3, 4, 2, dtype=torch.float64, requires_grad=True)
    ours(x).sum().backward()
    rows = x.detach().reshape(12, 2).requires_grad_(True)
    ours(rows).sum().backward()
    torch.testing.assert_close(x.grad.reshape(12, 2), rows.grad)


def test_no_input_gradients_when_the_network_gives_none():
    ours, _ = _models(3, input_gradients=False)
    x = torch.rand(2, 2, requires_grad=True)
    ours(x).sum().backward()
    assert x.grad is None and ours.weight.grad is not None


def test_gradcheck_in_double_precision():
    """qiskit-machine-learning's ``_validate_backward_automatically``: the function applied directly
    with float64 inputs and weights (the outputs then take the weights' float64)."""
    net = Ours(2, 3, False, 3, True)
    x = torch.rand(2, 2, dtype=torch.float64, requires_grad=True)
    w = torch.rand(3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: _TorchNNFunction.apply(a, b, net, False), (x, w))
    qnn = EstimatorQNN(2)
    w8 = torch.rand(8, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: NetworkFunction.apply(a, b, qnn, False), (x, w8), atol=1e-6)


def test_wrong_inputs():
    ours, _ = _models(3)
    with pytest.raises(QiskitMachineLearningError, match=r"inputs must have last dimension 2 .*\(2, 3\)"):
        ours(torch.zeros(2, 3))
    with pytest.raises(QiskitMachineLearningError, match=r"inputs must have last dimension 2 .*\(2, 3\)"):
        NetworkFunction.apply(torch.zeros(2, 3), ours.weight, ours.qnn, False)
    with pytest.raises(RuntimeError, match="a sparse connector needs a sparse network"):
        NetworkFunction.apply(torch.zeros(2, 2), ours.weight, ours.qnn, True)
    with pytest.raises(TypeError, match="qnn must be a qnn_torch EstimatorQNN, SamplerQNN or subclass"):
        TorchConnector(Theirs(2, 3, False, 3))


def test_einsum_signatures():
    signatures = [_get_einsum_signature(3), _get_einsum_signature(3, for_weights=True)]
    assert signatures == ["ab,abc->ac", "ab,abc->c"]
    assert einsum_signature(4, 2) == "abcd,abcde->abe"
    with pytest.raises(RuntimeError, match="at most 25 dimensions; got 30"):
        _get_einsum_signature(30)
