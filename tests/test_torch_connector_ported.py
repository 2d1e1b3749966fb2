"""qiskit-machine-learning 0.9's own tests of ``TorchConnector``, ported to qnn_torch.

Source: https://github.com/qiskit-community/qiskit-machine-learning, tag ``0.9.0`` (commit
1470efa8f6065c594ab44d0c8a976e4bee46b5c7, the head of branch ``stable/0.9``), files
``test/connectors/test_torch_connector.py`` and ``test/connectors/test_torch_networks.py`` (run
upstream through ``test_cpu_torch_connector.py`` and ``test_cpu_torch_networks.py``, with
``test/connectors/test_torch.py`` as their base), (C) Copyright IBM 2021, 2025, licensed under
the Apache License, Version 2.0 (http://www.apache.org/licenses/LICENSE-2.0). Modified from the
originals as described here.

How a case is ported: its body is kept and written once as a function of the imported classes
(:class:`tests.qiskit_ml_port.Library`); it runs with qiskit-machine-learning 0.9 and its default,
exact primitives (the oracle) and with qnn_torch on ``device="default.qubit"`` (the default
engine) and on ``device="qiskit.aer"``, both exact, from the same torch seed (upstream's 12345),
so that both libraries draw the same initial weights and the same random inputs. The values the
body checks (initial weights, inputs, outputs, gradients, losses) must agree within 1e-6. What
changed besides the imports:

* primitives are not passed (upstream's ``Estimator(default_precision=0.01, seed=123)`` becomes
  the exact default on both sides; qnn_torch takes ``device=``);
* wrong input sizes raise qnn_torch's ``ValueError`` where qiskit-machine-learning raises
  ``QiskitMachineLearningError``;
* ``_validate_backward_automatically`` runs ``torch.autograd.gradcheck`` through the public
  module (``torch.func.functional_call(model, {"weight": w}, (x,))``) instead of
  qiskit-machine-learning's private ``_TorchNNFunction.apply``;
* ``test_get_einsum_signature`` keeps its convolutional layer (a SamplerQNN on 3-D inputs
  ``(16, 2, 27)``) and drops its first assertion, which calls qiskit-machine-learning's private
  helper ``_get_einsum_signature``.

Cases upstream (ddt expansions counted one each, CPU) and what is ported:

* ``test_torch_connector.py``, 22 cases, 10 ported: ``test_sampler_qnn`` (16 = 2 qubit counts x
  sparse connector x sparse network x 2 interprets; the 4 dense ones), ``test_estimator_qnn``
  (all 5), ``test_get_einsum_signature`` (see above).
* ``test_torch_networks.py``, 2 cases, both ported: ``test_hybrid_batch_gradients`` for the
  sampler and the estimator network.

Ported again with upstream's primitives, ``sparse=`` and ``QiskitMachineLearningError`` left in
(issue 20), including the 12 cases of ``test_sampler_qnn`` with a sparse connector or network:
``tests/test_torch_connector_ported_primitives.py``. Not ported: the same 24 cases again on CUDA
(``test_gpu_torch_connector.py``, ``test_gpu_torch_networks.py``; ``scripts/qiskit_ml_upstream_tests.py``
runs them where ``QISKIT_GPU=true``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from qiskit.circuit.library import real_amplitudes, z_feature_map, zz_feature_map
from qiskit.quantum_info import SparsePauliOp

from .qiskit_ml_port import DEVICES, assert_same, ours, theirs

TORCH_SEED = 12345  # upstream's TestTorch.setup_test


def validate_forward(lib, model):
    """Upstream's ``_validate_forward``: the connector equals its network's ``forward``."""
    results = []
    for batch_size in [1, 2]:
        input_data = torch.rand((batch_size, model.neural_network.num_inputs))
        connector_output = model(input_data).detach()
        qnn_output = model.neural_network.forward(input_data.detach().numpy(), model.weight.detach().numpy())
        np.testing.assert_almost_equal(connector_output.numpy(), qnn_output)
        results += [input_data, connector_output, qnn_output]
    wrong_input = torch.rand((1, model.neural_network.num_inputs + 1))
    with pytest.raises(lib.input_error):
        model(wrong_input)
    return results


def evaluate_fin_diff_gradient(model, input_data):
    """Upstream's ``_evaluate_fin_diff_gradient``: central differences of ``forward``."""
    qnn = model.neural_network
    weights = model.weight.detach().numpy()
    eps = 1e-4
    grad = np.zeros((len(input_data), *qnn.output_shape, qnn.num_weights))
    for k in range(qnn.num_weights):
        delta = np.zeros_like(weights)
        delta[k] += eps
        f_1 = qnn.forward(input_data, weights + delta)
        f_2 = qnn.forward(input_data, weights - delta)
        grad[:, :, k] = (f_1 - f_2) / (2 * eps)
    return grad


def validate_backward(model):
    """Upstream's ``_validate_backward``: the weight gradient against ``backward`` and finite
    differences."""
    results = []
    for batch_size in [1, 2]:
        input_data = torch.rand((batch_size, model.neural_network.num_inputs))
        model.zero_grad()
        connector_fwd_out = model(input_data)
        torch.sum(connector_fwd_out).backward()
        connector_backward = model.weight.grad
        _, qnn_backward = model.neural_network.backward(input_data.detach().numpy(),
                                                        model.weight.detach().numpy())
        fin_diff_grad = evaluate_fin_diff_gradient(model, input_data)
        np.testing.assert_almost_equal(fin_diff_grad, qnn_backward, decimal=4)
        results.append(qnn_backward)
        qnn_backward = np.sum(qnn_backward, axis=(0, 1))
        np.testing.assert_almost_equal(connector_backward.numpy(), qnn_backward)
        results += [input_data, connector_backward.clone()]
    return results


def validate_backward_automatically(model):
    """Upstream's ``_validate_backward_automatically``: ``gradcheck`` of the connector, in
    double precision, with respect to one input and the weights."""
    x = torch.randn(model.neural_network.num_inputs, dtype=torch.double, requires_grad=True)
    w = torch.randn(model.neural_network.num_weights, dtype=torch.double, requires_grad=True)

    def func(x, w):
        return torch.func.functional_call(model, {"weight": w}, (x,))

    assert torch.autograd.gradcheck(func, (x, w), eps=1e-4, atol=1e-3)
    return [x, w, func(x, w)]


def validate(lib, model):
    return {"initial weight": model.weight.detach().clone(), "forward": validate_forward(lib, model),
            "backward": validate_backward(model), "gradcheck": validate_backward_automatically(model)}


def _circuit(num_qubits):
    fmap = z_feature_map(num_qubits, reps=1)
    ansatz = real_amplitudes(num_qubits, reps=1)
    qc = QuantumCircuit(num_qubits)
    qc.compose(fmap, inplace=True)
    qc.compose(ansatz, inplace=True)
    return qc, fmap, ansatz


def parity(x):
    return f"{x:b}".count("1") % 2


def connector_sampler_qnn(lib, num_qubits, interpret):
    """Upstream's ``test_sampler_qnn`` (dense connector and network)."""
    torch.manual_seed(TORCH_SEED)
    output_shape = 2 if interpret is not None else None
    qc, fmap, ansatz = _circuit(num_qubits)
    qnn = lib.SamplerQNN(circuit=qc, input_params=fmap.parameters, weight_params=ansatz.parameters,
                         interpret=interpret, output_shape=output_shape, input_gradients=True)
    return validate(lib, lib.TorchConnector(qnn))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("interpret", [parity, None], ids=["parity", "no interpret"])
@pytest.mark.parametrize("num_qubits", [1, 2])
def test_sampler_qnn(num_qubits, interpret, device):
    assert_same(connector_sampler_qnn(ours(device), num_qubits, interpret),
                connector_sampler_qnn(theirs(), num_qubits, interpret))


ESTIMATOR_OBSERVABLES = [
    (1, None),
    (1, [("Z", 1)]),
    (2, None),
    (2, [("ZZ", 1)]),
    (2, [[("ZI", 1)], [("IZ", 1)]]),
]


def connector_estimator_qnn(lib, num_qubits, observables):
    """Upstream's ``test_estimator_qnn``."""
    torch.manual_seed(TORCH_SEED)
    qc, fmap, ansatz = _circuit(num_qubits)
    qnn = lib.EstimatorQNN(circuit=qc, observables=observables, input_params=fmap.parameters,
                           weight_params=ansatz.parameters, input_gradients=True)
    return validate(lib, lib.TorchConnector(qnn))


def _observables(spec):
    """Upstream's observables: None, one SparsePauliOp or a list of them."""
    if spec is None:
        return None
    if isinstance(spec[0], list):
        return [SparsePauliOp.from_list(terms) for terms in spec]
    return SparsePauliOp.from_list(spec)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("num_qubits, observables", ESTIMATOR_OBSERVABLES, ids=str)
def test_estimator_qnn(num_qubits, observables, device):
    assert_same(connector_estimator_qnn(ours(device), num_qubits, _observables(observables)),
                connector_estimator_qnn(theirs(), num_qubits, _observables(observables)))


def create_convolutional_layer(lib, input_channel, output_channel, num_qubits, num_weight):
    """Upstream's ``_create_convolutional_layer``: a quantum convolution whose network takes the
    unfolded patches, a 3-D input."""

    class ConvolutionalLayer(torch.nn.Module):
        """Upstream's quantum convolutional layer (a SamplerQNN per patch)."""

        def __init__(self, input_channel, output_channel, num_qubits, num_weight, kernel_size=3, stride=1):
            super().__init__()
            self.kernel_size = kernel_size
            self.stride = stride
            self.input_channel = input_channel
            self.output_channel = output_channel
            self.num_weight = num_weight
            self.num_input = kernel_size * kernel_size * input_channel
            self.num_qubits = num_qubits
            self.qnn = lib.TorchConnector(self.sampler())
            if 2**num_qubits < output_channel:
                raise ValueError(f"The output channel must be >= 2**num_qubits. Got output_channel "
                                 f"{output_channel:d} < 2 ** {num_qubits:d}")

        @staticmethod
        def build_circuit(num_weights, num_input, num_qubits=3):
            qc = QuantumCircuit(num_qubits)
            weight_params = [Parameter(f"w{i}") for i in range(num_weights)]
            input_params = [Parameter(f"x{i}") for i in range(num_input)]
            for i in range(num_qubits):
                qc.h(i)
            for i in range(num_input):
                qc.ry(input_params[i] * 2 * torch.pi, i % num_qubits)
            for i in range(num_qubits - 1):
                qc.cx(i, i + 1)
            for i in range(num_weights):
                qc.rx(weight_params[i] * 2 * torch.pi, i % num_qubits)
            for i in range(num_qubits - 1):
                qc.cx(i, i + 1)
            return qc, weight_params, input_params

        def sampler(self):
            qc, weight_params, input_params = self.build_circuit(self.num_weight, self.num_input, 3)
            return lib.SamplerQNN(circuit=qc, weight_params=weight_params, interpret=self.interpret,
                                  input_params=input_params, output_shape=self.output_channel)

        def interpret(self, output: Any) -> Any:
            return output % self.output_channel

        def forward(self, input_tensor):
            height = len(range(0, input_tensor.shape[-2] - self.kernel_size + 1, self.stride))
            width = len(range(0, input_tensor.shape[-1] - self.kernel_size + 1, self.stride))
            output = torch.zeros((input_tensor.shape[0], self.output_channel, height, width))
            input_tensor = torch.nn.functional.unfold(input_tensor[...], kernel_size=self.kernel_size,
                                                      stride=self.stride)
            qnn_output = self.qnn(input_tensor.permute(2, 0, 1)).permute(1, 2, 0)
            qnn_output = torch.reshape(qnn_output,
                                       shape=(input_tensor.shape[0], self.output_channel, height, width))
            output += qnn_output
            return output

    return ConvolutionalLayer(input_channel, output_channel, num_qubits, num_weight, stride=1)


def convolutional_layer(lib):
    """Upstream's ``test_get_einsum_signature`` without its private-helper assertion: a 4-D
    image batch through the quantum convolution, forward and backward."""
    torch.manual_seed(TORCH_SEED)
    model = create_convolutional_layer(lib, 3, 1, 3, 3)
    input_tensor = torch.rand((2, 3, 6, 6))
    input_tensor.requires_grad = True
    output_tensor = model.forward(input_tensor)
    torch.sum(output_tensor).backward()
    return [model.qnn.weight.detach().clone(), input_tensor.detach(), output_tensor.detach(),
            model.qnn.weight.grad, input_tensor.grad]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.filterwarnings("ignore:TorchConnector. the inputs require gradients")  # input_gradients=False
def test_get_einsum_signature(device):
    assert_same(convolutional_layer(ours(device)), convolutional_layer(theirs()))


# ================================================================================================
# test/connectors/test_torch_networks.py
# ================================================================================================


def create_network(lib, qnn, output_size):
    """Upstream's ``_create_network``: Linear, the quantum layer, Linear."""

    class Net(torch.nn.Module):
        """PyTorch nn module."""

        def __init__(self):
            super().__init__()
            self.fc1 = torch.nn.Linear(4, 2)
            self.qnn = lib.TorchConnector(qnn, np.array([0.1] * qnn.num_weights))
            self.fc2 = torch.nn.Linear(output_size, 1)

        def forward(self, x):
            x = torch.nn.functional.relu(self.fc1(x))
            x = self.qnn(x)
            x = self.fc2(x)
            return torch.cat((x, 1 - x), -1)

    return Net()


def _zz_linear():
    num_inputs = 2
    feature_map = zz_feature_map(num_inputs)
    ansatz = real_amplitudes(num_inputs, entanglement="linear", reps=1)
    qc = QuantumCircuit(num_inputs)
    qc.append(feature_map, range(num_inputs))
    qc.append(ansatz, range(num_inputs))
    return qc, feature_map, ansatz


def create_estimator_qnn(lib):
    qc, feature_map, ansatz = _zz_linear()
    return lib.EstimatorQNN(circuit=qc, input_params=feature_map.parameters, weight_params=ansatz.parameters,
                            input_gradients=True)


def create_sampler_qnn(lib):
    qc, feature_map, ansatz = _zz_linear()
    return lib.SamplerQNN(circuit=qc, input_params=feature_map.parameters, weight_params=ansatz.parameters,
                          input_gradients=True, interpret=parity, output_shape=2)


def hybrid_batch_gradients(lib, qnn_type):
    """Upstream's ``test_hybrid_batch_gradients``: the gradients of a batch equal the sum of
    the samples' gradients."""
    torch.manual_seed(TORCH_SEED)
    if qnn_type == "sampler_qnn":
        qnn, output_size = create_sampler_qnn(lib), 2
    else:
        qnn, output_size = create_estimator_qnn(lib), 1
    model = create_network(lib, qnn, output_size=output_size)
    x = torch.rand((5, 4))
    y = torch.rand((5, 2))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    f_loss = torch.nn.MSELoss(reduction="sum")

    optimizer.zero_grad(set_to_none=True)
    sum_of_individual_losses = 0.0
    for x_i, y_i in zip(x, y):
        output = model(x_i)
        sum_of_individual_losses += f_loss(output, y_i)
    sum_of_individual_losses.backward()
    individual = {n: p.grad.clone() for n, p in model.named_parameters()}
    assert all(g is not None for g in individual.values())
    sum_of_individual_gradients = sum(np.sum(g.numpy()) for n, g in individual.items()
                                      if n.endswith(".weight"))

    optimizer.zero_grad(set_to_none=True)
    output = model(x)
    batch_loss = f_loss(output, y)
    batch_loss.backward()
    batch = {n: p.grad.clone() for n, p in model.named_parameters()}
    assert all(g is not None for g in batch.values())
    batch_gradients = sum(np.sum(g.numpy()) for n, g in batch.items() if n.endswith(".weight"))

    assert round(float(np.linalg.norm(sum_of_individual_gradients - batch_gradients)), 3) == 0.0
    assert round(float(sum_of_individual_losses.detach().numpy() - batch_loss.detach().numpy()), 3) == 0.0
    return {"parameters": {n: p.detach().clone() for n, p in model.named_parameters()},
            "losses": [sum_of_individual_losses.detach(), batch_loss.detach()],
            "individual gradients": individual, "batch gradients": batch}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("qnn_type", ["sampler_qnn", "estimator_qnn"])
def test_hybrid_batch_gradients(qnn_type, device):
    assert_same(hybrid_batch_gradients(ours(device), qnn_type), hybrid_batch_gradients(theirs(), qnn_type))
