"""Sparse outputs (``sparse=True``) of ``SamplerQNN`` and ``TorchConnector``, against
qiskit-machine-learning 0.9's in the same process."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from qiskit.circuit import Parameter, QuantumCircuit
from qiskit_machine_learning import QiskitMachineLearningError as QkError
from qiskit_machine_learning.connectors import TorchConnector as QkTorchConnector
from qiskit_machine_learning.neural_networks import EstimatorQNN as QkEstimatorQNN
from qiskit_machine_learning.neural_networks import SamplerQNN as QkSamplerQNN

from qnn_torch import EstimatorQNN, QiskitMachineLearningError, SamplerQNN, TorchConnector, parity
from qnn_torch.qnn.sparse_arrays import is_sparse_array, require_sparse, to_dense

from .. import qiskit_reference as ref

sparse = pytest.importorskip("sparse")

ATOL = 1e-6


def _pair(interpret=None, output_shape=None, sparse_=True):
    qc, inputs, weights = ref.zz_ra_circuit(2, fm_reps=1, ra_reps=1)
    kwargs = dict(circuit=qc, input_params=inputs, weight_params=weights, interpret=interpret,
                  output_shape=output_shape, input_gradients=True, sparse=sparse_)
    return SamplerQNN(**kwargs), QkSamplerQNN(**kwargs)


def interpret_2d(x):
    return parity(x), 2 * parity(x)


@pytest.mark.parametrize("interpret, output_shape", [(None, None), (parity, 2), (interpret_2d, (2, 3))])
@pytest.mark.parametrize("batch", [(2,), (2, 3)])
def test_sampler_forward_and_backward_are_coo_arrays_as_in_qiskit_ml(interpret, output_shape, batch, rng):
    ours, theirs = _pair(interpret, output_shape)
    assert ours.sparse is theirs.sparse is True
    x, w = rng.uniform(-1, 1, (*batch, 2)), rng.uniform(-1, 1, 4)
    got, expected = ours.forward(x, w), theirs.forward(x, w)
    assert isinstance(got, sparse.COO) and isinstance(expected, sparse.SparseArray)
    assert got.shape == expected.shape == (*batch, *ours.output_shape)
    np.testing.assert_allclose(got.todense(), expected.todense(), atol=ATOL)
    for mine, oracle in zip(ours.backward(x, w), theirs.backward(x, w)):
        assert isinstance(mine, sparse.COO) and mine.shape == oracle.shape
        np.testing.assert_allclose(mine.todense(), oracle.todense(), atol=ATOL)


def test_zeros_are_left_out():
    qc, x = QuantumCircuit(2), Parameter("x")
    qc.ry(x, 0)  # qubit 1 stays in |0>: outcomes 2 and 3 have probability 0
    out = SamplerQNN(circuit=qc, input_params=[x], sparse=True).forward([0.4], None)
    assert out.nnz == 2 and set(out.coords[1]) == {0, 1}
    np.testing.assert_allclose(out.todense(), [[np.cos(0.2) ** 2, np.sin(0.2) ** 2, 0, 0]], atol=1e-12)


def test_sparse_is_a_property_of_every_network():
    assert SamplerQNN(2).sparse is False
    assert SamplerQNN(2, sparse=True).sparse is True
    assert EstimatorQNN(2).sparse is False


def test_estimator_takes_no_sparse_argument_as_qiskit_machine_learning():
    qc, inputs, weights = ref.zz_ra_circuit(2, fm_reps=1, ra_reps=1)
    with pytest.raises(TypeError, match="sparse"):  # the oracle: EstimatorQNN has no such argument
        QkEstimatorQNN(circuit=qc, input_params=inputs, weight_params=weights, sparse=True)
    with pytest.raises(TypeError, match="EstimatorQNN takes no sparse argument .*got sparse=True"):
        EstimatorQNN(circuit=qc, input_params=inputs, weight_params=weights, sparse=True)
    with pytest.raises(TypeError, match="sparse must be True or False; got 'yes'"):
        SamplerQNN(2, sparse="yes")


def test_missing_package_is_named(monkeypatch):
    monkeypatch.setitem(sys.modules, "sparse", None)  # as if not installed
    with pytest.raises(ImportError) as info:
        SamplerQNN(2, sparse=True)
    assert info.value.message.startswith(  # str() quotes it, as Qiskit's errors do
        "The 'sparse' library is required to use 'SamplerQNN(sparse=True)'. You can install it with "
        "'pip install \"qnn_torch[sparse]\"'.")
    with pytest.raises(ImportError, match="sparse"):
        require_sparse("anything")
    assert SamplerQNN(2).forward([0.0, 0.0], np.zeros(8)).shape == (1, 4)  # dense networks need nothing
    assert not is_sparse_array(np.zeros(2)) and to_dense(None) is None


# ---------------------------------------------------------------- TorchConnector(sparse=...)

def _connectors(sparse_connector):
    ours, theirs = _pair(parity, 2)
    weights = np.linspace(-0.8, 0.9, 4).astype(np.float32)
    return (TorchConnector(ours, initial_weights=weights, sparse=sparse_connector),
            QkTorchConnector(theirs, initial_weights=weights, sparse=sparse_connector))


def _train_step(model, shape):
    x = torch.linspace(-1, 1, int(np.prod(shape))).reshape(shape).requires_grad_(True)
    out = model(x)
    dense = out.to_dense() if out.is_sparse else out
    (dense * torch.arange(1.0, dense.numel() + 1).reshape(dense.shape)).sum().backward()
    return out, x.grad, model.weight.grad


@pytest.mark.parametrize("sparse_connector", [True, False, None])
def test_connector_outputs_and_gradients_as_qiskit_machine_learning(sparse_connector):
    ours, theirs = _connectors(sparse_connector)
    assert ours.sparse is theirs.sparse is (sparse_connector is not False)
    for mine, oracle in zip(_train_step(ours, (3, 2)), _train_step(theirs, (3, 2))):
        assert mine.is_sparse == oracle.is_sparse == ours.sparse
        assert mine.dtype == oracle.dtype and mine.shape == oracle.shape
        torch.testing.assert_close(mine.to_dense(), oracle.to_dense(), atol=ATOL, rtol=0)


def test_one_sample_on_a_sparse_connector():
    """A ``(num_inputs,)`` input: the row of a batch of one (qiskit-machine-learning 0.9.1's backward
    fails there: it views the sparse ``grad_output``)."""
    ours, _ = _connectors(True)
    single = _train_step(ours, (2,))
    ours.zero_grad()
    batch = _train_step(ours, (1, 2))
    assert all(t.is_sparse for t in single) and single[0].shape == (2,) and single[1].shape == (2,)
    for one, row in zip(single, batch):
        torch.testing.assert_close(one.to_dense(), row.to_dense().reshape(one.shape), atol=1e-12, rtol=0)


def test_sparse_connector_needs_a_sparse_network():
    dense, dense_theirs = _pair(parity, 2, sparse_=False)
    with pytest.raises(QkError):  # the oracle raises its own error
        QkTorchConnector(dense_theirs, sparse=True)
    with pytest.raises(QiskitMachineLearningError,
                       match=r"TorchConnector\(sparse=True\) needs a sparse network"):
        TorchConnector(dense, sparse=True)
    with pytest.raises(TypeError, match="sparse must be True, False or None"):
        TorchConnector(dense, sparse=1)


def test_sparse_connector_trains_with_sgd():
    model, _ = _connectors(True)
    before = model.weight.detach().clone()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    model(torch.rand(4, 2)).to_dense()[:, 0].sum().backward()
    optimizer.step()
    assert not torch.equal(model.weight.detach(), before)
