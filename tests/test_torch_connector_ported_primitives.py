"""qiskit-machine-learning 0.9's own tests of ``TorchConnector``, ported again with the primitives,
``sparse=`` and ``QiskitMachineLearningError`` left in (issue 20).

Source: as ``tests/test_torch_connector_ported.py`` (qiskit-machine-learning, tag ``0.9.0``, files
``test/connectors/test_torch_connector.py`` and ``test/connectors/test_torch_networks.py``,
(C) Copyright IBM 2021, 2025, Apache License 2.0, http://www.apache.org/licenses/LICENSE-2.0),
whose helpers (circuits, ``hybrid_batch_gradients``) this module reuses. Modified from the originals
as described here.

Each case is written once as a function of a :class:`tests.qiskit_ml_port.Library` and runs with
qiskit-machine-learning (the oracle, through :func:`tests.qiskit_ml_port.oracle`) and with qnn_torch's
classes as imported (:func:`tests.qiskit_ml_port.imported`), given the same primitives, ``sparse=``
and ``sparse`` connector as upstream. What changed besides the imports: the oracle instead of
upstream's own assertions only; ``_validate_backward_automatically`` runs ``gradcheck`` through the
public module (``torch.func.functional_call`` of a dense connector of the same network and
weights) instead of qiskit-machine-learning's private ``_TorchNNFunction.apply(x, w, qnn, False)``,
dense as upstream calls it, also for a sparse connector; a sparse connector of a dense network,
which upstream skips after catching the error, checks that both libraries raise it.

Ported (ddt expansions counted one each): ``test_sampler_qnn`` (all 16: 2 qubit counts x sparse
connector x sparse network x 2 interprets, ``sampler=QMLSampler()``), ``test_estimator_qnn`` (all 5,
``estimator=QMLEstimator(default_precision=0.01, seed=123)``, a sampling estimator: 5 standard
deviations), ``test_hybrid_batch_gradients`` (both, with their exact primitives). Not ported: the
CUDA copies (``test_gpu_*``), and ``test_get_einsum_signature``'s call of the private helper.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
import torch

from .qiskit_ml_port import assert_same, imported, oracle, precision_tolerance
from .test_torch_connector_ported import (ESTIMATOR_OBSERVABLES, TORCH_SEED, _circuit, _observables,
                                          hybrid_batch_gradients, parity)


def dense(value):
    """A torch tensor or ``sparse`` array as a dense one, as upstream's ``to_dense``/``todense``."""
    if isinstance(value, torch.Tensor):
        return value.to_dense() if value.is_sparse else value
    return value if isinstance(value, np.ndarray) else value.todense()


def validate_any(lib, model):
    """Upstream's ``_validate_forward``, ``_validate_backward`` and ``_validate_backward_automatically``
    with their ``sparse`` checks, and its ``QiskitMachineLearningError`` for a wrong input size."""
    sparse = pytest.importorskip("sparse")

    results, qnn = [], model.neural_network
    initial_weight = model.weight.detach().clone()
    for batch_size in [1, 2]:  # forward
        input_data = torch.rand((batch_size, qnn.num_inputs))
        connector_output = model(input_data).detach()
        qnn_output = qnn.forward(input_data.detach().numpy(), model.weight.detach().numpy())
        assert connector_output.is_sparse == model.sparse
        assert isinstance(qnn_output, sparse.SparseArray) == qnn.sparse
        np.testing.assert_almost_equal(dense(connector_output).numpy(), dense(qnn_output))
        results += [input_data, dense(connector_output), dense(qnn_output)]
    with pytest.raises(lib.input_error):
        model(torch.rand((1, qnn.num_inputs + 1)))
    for batch_size in [1, 2]:  # backward
        input_data = torch.rand((batch_size, qnn.num_inputs))
        model.zero_grad()
        torch.sum(dense(model(input_data))).backward()
        connector_backward = model.weight.grad
        assert connector_backward.is_sparse == model.sparse
        _, qnn_backward = qnn.backward(input_data.detach().numpy(), model.weight.detach().numpy())
        assert isinstance(qnn_backward, sparse.SparseArray) == qnn.sparse
        qnn_backward = dense(qnn_backward)
        np.testing.assert_almost_equal(dense_fin_diff_gradient(model, input_data), qnn_backward, decimal=4)
        np.testing.assert_almost_equal(dense(connector_backward).numpy(), np.sum(qnn_backward, axis=(0, 1)))
        results += [input_data, qnn_backward, dense(connector_backward).clone()]
    x = torch.randn(qnn.num_inputs, dtype=torch.double, requires_grad=True)
    w = torch.randn(qnn.num_weights, dtype=torch.double, requires_grad=True)

    # upstream's ``_TorchNNFunction.apply(x, w, qnn, False)``: the dense path, for a sparse connector too
    dense_model = lib.TorchConnector(qnn, initial_weights=initial_weight.numpy(), sparse=False)

    def func(x, w):
        return torch.func.functional_call(dense_model, {"weight": w}, (x,))

    assert torch.autograd.gradcheck(func, (x, w), eps=1e-4, atol=1e-3)
    return {"initial weight": initial_weight, "values": results,
            "gradcheck": [x, w, func(x, w)]}


def dense_fin_diff_gradient(model, input_data):
    """Upstream's ``_evaluate_fin_diff_gradient``, densifying a sparse network's outputs."""
    qnn, weights, eps = model.neural_network, model.weight.detach().numpy(), 1e-4
    grad = np.zeros((len(input_data), *qnn.output_shape, qnn.num_weights))
    for k in range(qnn.num_weights):
        delta = np.zeros_like(weights)
        delta[k] += eps
        f_1, f_2 = qnn.forward(input_data, weights + delta), qnn.forward(input_data, weights - delta)
        grad[:, :, k] = (dense(f_1) - dense(f_2)) / (2 * eps)
    return grad


def connector_sampler_qnn_primitives(lib, num_qubits, sparse_connector, sparse_qnn, interpret):
    """Upstream's ``test_sampler_qnn``: ``sampler=QMLSampler()``, ``sparse=`` on network and
    connector; a sparse connector of a dense network raises (upstream then skips)."""
    from qiskit_machine_learning.primitives import QMLSampler

    torch.manual_seed(TORCH_SEED)
    qc, fmap, ansatz = _circuit(num_qubits)
    qnn = lib.SamplerQNN(sampler=QMLSampler(), circuit=qc, input_params=fmap.parameters,
                         weight_params=ansatz.parameters, sparse=sparse_qnn, interpret=interpret,
                         output_shape=2 if interpret is not None else None, input_gradients=True)
    if sparse_connector and not sparse_qnn:
        with pytest.raises(lib.input_error):
            lib.TorchConnector(qnn, sparse=sparse_connector)
        return "refused"
    return validate_any(lib, lib.TorchConnector(qnn, sparse=sparse_connector))


def _connector_sampler_params():
    for sparse_connector in [True, False]:
        for sparse_qnn in [True, False]:
            yield pytest.param(sparse_connector, sparse_qnn,
                               id=f"connector_sparse={sparse_connector}-qnn_sparse={sparse_qnn}")


@pytest.mark.parametrize("interpret", [parity, None], ids=["parity", "no interpret"])
@pytest.mark.parametrize("sparse_connector, sparse_qnn", list(_connector_sampler_params()))
@pytest.mark.parametrize("num_qubits", [1, 2])
def test_sampler_qnn_primitives(num_qubits, sparse_connector, sparse_qnn, interpret):
    """Upstream's 16 ``test_sampler_qnn`` cases, exact: 1e-6."""
    args = (num_qubits, sparse_connector, sparse_qnn, interpret)
    expected = oracle(connector_sampler_qnn_primitives, *args)  # first: it must pass
    assert_same(connector_sampler_qnn_primitives(imported(), *args), expected)


ESTIMATOR_PRECISION = 0.015625  # EstimatorQNN's default_precision, which it passes to every run


def connector_estimator_qnn_primitives(lib, num_qubits, observables):
    """Upstream's ``test_estimator_qnn``: ``estimator=QMLEstimator(default_precision=0.01, seed=123)``,
    a seeded ``StatevectorEstimator`` that adds normal noise of the run's precision."""
    from qiskit_machine_learning.primitives import QMLEstimator

    torch.manual_seed(TORCH_SEED)
    qc, fmap, ansatz = _circuit(num_qubits)
    qnn = lib.EstimatorQNN(estimator=QMLEstimator(default_precision=0.01, seed=123), circuit=qc,
                           observables=observables, input_params=fmap.parameters,
                           weight_params=ansatz.parameters, input_gradients=True)
    return validate_any(lib, lib.TorchConnector(qnn))


@pytest.mark.parametrize("num_qubits, observables",
                         list(ESTIMATOR_OBSERVABLES), ids=str)
def test_estimator_qnn_primitives(num_qubits, observables):
    """Upstream's five ``test_estimator_qnn`` cases with its sampling estimator: within 5 standard
    deviations of the difference of two estimates of precision 0.015625 (twice that for the
    gradients, whose parameter-shift factor is at most 1 per parameter in these circuits)."""
    args = (num_qubits, _observables(observables))
    expected = oracle(connector_estimator_qnn_primitives, *args)  # first: it must pass
    assert_same(connector_estimator_qnn_primitives(imported(), *args), expected,
                atol=precision_tolerance(2 * ESTIMATOR_PRECISION))


def hybrid_batch_gradients_primitives(lib, qnn_type):
    """Upstream's ``test_hybrid_batch_gradients`` with its primitives: ``QMLSampler()`` and
    ``QMLEstimator(default_precision=0, seed=123)``, both exact."""
    from qiskit_machine_learning.primitives import QMLEstimator, QMLSampler

    if qnn_type == "sampler_qnn":
        lib = lib._replace(SamplerQNN=partial(lib.SamplerQNN, sampler=QMLSampler()))
    else:
        lib = lib._replace(EstimatorQNN=partial(lib.EstimatorQNN,
                                                estimator=QMLEstimator(default_precision=0, seed=123)))
    return hybrid_batch_gradients(lib, qnn_type)


@pytest.mark.parametrize("qnn_type", ["sampler_qnn", "estimator_qnn"])
def test_hybrid_batch_gradients_primitives(qnn_type):
    expected = oracle(hybrid_batch_gradients_primitives, qnn_type)  # first: it must pass
    assert_same(hybrid_batch_gradients_primitives(imported(), qnn_type), expected)
