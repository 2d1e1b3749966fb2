"""Probability networks train through ``TorchConnector`` by a vector-Jacobian product: one sweep
weighted by the incoming gradient (or one backward pass of the compiled engine), never the
per-sample ``2**n x P`` Jacobians. The oracles: the network's own full Jacobians
(``qnn.backward``, contracted by hand) and qiskit-machine-learning 0.9's ``SamplerQNN`` (its
Jacobians, and its ``TorchConnector``'s gradients in float32), in the same process."""

from functools import partial

import numpy as np
import pytest
import torch
from qiskit_machine_learning.connectors import TorchConnector as QkTorchConnector

from qnn_torch import RealAmplitudes, SamplerQNN, TorchConnector, parity
from qnn_torch.engines import ENGINES
from tests import qiskit_reference as ref
from tests.qnn.parity_check import float32_weights

CASES = {  # qubits, RealAmplitudes reps, interpret and output_shape, engine
    "raw-2": (2, 1, None, None, "auto"),  # the NumPy adjoint engine
    "parity-3": (3, 1, parity, 2, "auto"),  # two outputs: eager Jacobians, as qiskit-ml contracts
    "raw-5": (5, 1, None, None, "auto"),
    "raw-6": (6, 1, None, None, "auto"),  # the torch adjoint engine
    "head-20-7": (7, 1, lambda b: (3 * b) % 20, 20, "auto"),
    "raw-8": (8, 1, None, None, "auto"),
    "raw-5-compiled": (5, 1, None, None, "compiled"),  # one backward pass through the kept graph
    "head-7-6-compiled": (6, 1, lambda b: b % 7, 7, "compiled"),
}


def _networks(case):
    n, reps, interpret, shape, engine = CASES[case]
    circuit, inputs, weights = ref.zz_ra_circuit(n, 2, reps, "reverse_linear")
    qk = ref.sampler(circuit, inputs, weights, interpret, shape)
    qnn = SamplerQNN(n, ansatz=partial(RealAmplitudes, reps=reps), interpret=interpret, output_shape=shape,
                     engine=engine)
    return qnn, qk


def _gradients(model, x, g):
    """The inputs' and the weight's gradients of ``sum(g * model(x))``."""
    xt = torch.tensor(x, dtype=g.dtype, requires_grad=True)
    (model(xt) * g).sum().backward()
    return xt.grad, model.weight.grad


@pytest.mark.parametrize("case", list(CASES))
def test_float64_products_equal_the_contracted_jacobians(case, rng):
    """In float64 the product equals ``g^T J`` of our Jacobians and of qiskit-machine-learning's."""
    qnn, qk = _networks(case)
    x, w = rng.uniform(-1, 1, (2, qnn.num_inputs)), rng.uniform(-1, 1, qnn.num_weights)
    model = TorchConnector(qnn, initial_weights=w)
    model.weight.data = torch.tensor(w)  # float64 weights
    g = torch.tensor(rng.normal(size=(2, *qnn.output_shape)))
    gx, gw = _gradients(model, x, g)
    jx, jw = qnn.backward(x, w)
    gk = g.numpy().reshape(2, -1)
    assert np.allclose(gx.numpy(), np.einsum("bk,bki->bi", gk, jx.reshape(2, gk.shape[1], -1)), atol=1e-10)
    assert np.allclose(gw.numpy(), np.einsum("bk,bkp->p", gk, jw.reshape(2, gk.shape[1], -1)), atol=1e-10)
    _, r_jx, r_jw = ref.reference(qk, x, w)
    assert np.allclose(gx.numpy(), np.einsum("bk,bki->bi", gk, r_jx.reshape(2, gk.shape[1], -1)), atol=1e-10)
    assert np.allclose(gw.numpy(), np.einsum("bk,bkp->p", gk, r_jw.reshape(2, gk.shape[1], -1)), atol=1e-10)


@pytest.mark.parametrize("case", [c for c in CASES if CASES[c][0] <= 6])
def test_float32_gradients_equal_qiskit_torch_connector(case, rng):
    """In float32 the gradients are qiskit-machine-learning's ``TorchConnector``'s, to float32's
    round-off: it contracts float32 Jacobians, the product is computed in float64 and rounded."""
    qnn, qk = _networks(case)
    x = rng.uniform(-1, 1, (3, qnn.num_inputs)).astype(np.float32)
    w = float32_weights(rng, qnn.num_weights)
    g = torch.tensor(rng.normal(size=(3, *qnn.output_shape)), dtype=torch.float32)
    ours = _gradients(TorchConnector(qnn, initial_weights=w), x, g)
    theirs = _gradients(QkTorchConnector(qk, initial_weights=w), x, g)
    for a, b in zip(ours, theirs):
        assert a.dtype == b.dtype == torch.float32
        # float32 sums of |g_k J_k| terms: a few units of its epsilon times their size
        scale = float(g.abs().sum()) * 1e-6
        assert torch.allclose(a, b, atol=scale, rtol=0), float((a - b).abs().max())


@pytest.mark.parametrize("engine", ["torch-adjoint", "compiled"])
def test_raw_probabilities_never_take_jacobians_in_training(engine, monkeypatch, rng):
    """A training step of 1024 probabilities is one product, not the per-sample Jacobians."""
    qnn = SamplerQNN(10, ansatz=partial(RealAmplitudes, reps=1), engine=engine)
    cls = ENGINES[engine]
    monkeypatch.setattr(cls, "values_and_jacobians", lambda *a: pytest.fail("Jacobians were taken"))
    products = []
    monkeypatch.setattr(cls, "vjp", lambda self, *a, _vjp=cls.vjp: products.append(1) or _vjp(self, *a))
    model = TorchConnector(qnn, initial_weights=rng.uniform(-1, 1, qnn.num_weights))
    x = torch.tensor(rng.uniform(-1, 1, (2, 10)), dtype=torch.float32, requires_grad=True)
    out = model(x)
    assert out.shape == (2, 1024)
    torch.nn.functional.cross_entropy(out, torch.tensor([3, 700])).backward()
    assert products == [1] and x.grad.shape == (2, 10) and model.weight.grad.shape == (qnn.num_weights,)
