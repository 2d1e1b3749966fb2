"""The engine chain: which engines a network's arguments choose, the hand-over when one cannot run a
circuit, and one call's way through (``EngineChain.run``)."""

import pickle
from functools import partial

import numpy as np
import pennylane as qml
import pytest
import torch

from qnn_torch import EstimatorQNN, RealAmplitudes, SamplerQNN, TorchConnector
from qnn_torch.engines import EngineChain, EngineUnavailable, NumpyAdjointEngine


def _train_step(model, x):
    model.zero_grad()
    out = model(x)
    out.sum().backward()
    return out.detach(), model.weight.grad.clone()


# ---------------------------------------------------------------- the choice


@pytest.mark.parametrize("kind, qubits, engine", [
    (EstimatorQNN, 1, "adjoint"), (EstimatorQNN, 6, "adjoint"), (EstimatorQNN, 7, "torch-adjoint"),
    (SamplerQNN, 5, "adjoint"), (SamplerQNN, 6, "torch-adjoint"),
    (SamplerQNN, 12, "torch-adjoint"),  # 4096 probabilities: one bra per product, Jacobians by tangents
])
def test_auto_engine_by_size(kind, qubits, engine):
    qnn = kind(qubits, feature_map=qml.AngleEmbedding, ansatz=partial(RealAmplitudes, reps=1))
    assert qnn.engine == engine
    assert kind(2, diff_method="backprop").engine == "compiled"
    assert EstimatorQNN(9, diff_method="adjoint").engine == "torch-adjoint"
    parity_network = SamplerQNN(9, interpret=lambda b: b % 2, output_shape=2)  # two outputs: two bras
    assert parity_network.engine == "torch-adjoint"


@pytest.mark.parametrize("engine, chain", [
    ("auto", ("adjoint", "torch-adjoint", "compiled", "qnode")), ("adjoint", ("adjoint", "qnode")),
    ("compiled", ("compiled", "qnode")), ("qnode", ("qnode",)),
])
def test_the_chain_of_each_engine_argument(engine, chain):
    circuit = EstimatorQNN(2).description
    assert EngineChain(circuit, engine=engine)._names == chain
    assert EngineChain(circuit, shots=100)._names == ("qnode",)  # no exact simulation: the QNode alone


def test_engine_argument():
    with pytest.raises(ValueError, match="engine must be one of 'auto', 'adjoint', 'torch-adjoint', "
                                         "'compiled', 'qnode'; got 'fast'"):
        EstimatorQNN(2, engine="fast")
    with pytest.raises(ValueError, match="engine 'compiled' needs device 'default.qubit' with shots=None"):
        EstimatorQNN(2, engine="compiled", device="lightning.qubit")
    with pytest.raises(ValueError, match="engine 'adjoint' needs device 'default.qubit' with shots=None"):
        EstimatorQNN(2, engine="adjoint", shots=100)
    with pytest.raises(ValueError, match="engine 'adjoint' takes at most 8 qubits; got num_qubits=9"):
        EstimatorQNN(9, engine="adjoint")
    assert EstimatorQNN(2, shots=100).engine == "qnode"


# ---------------------------------------------------------------- the hand-over


def test_engine_unavailable_hands_over_with_a_warning(monkeypatch, rng):
    x = torch.tensor(rng.uniform(-1, 1, (3, 2)), dtype=torch.float32)
    reference = TorchConnector(EstimatorQNN(2, engine="compiled"), initial_weights=np.full(8, 0.3))
    expected = _train_step(reference, x)

    def unavailable(self, *args, **kwargs):
        raise EngineUnavailable("cannot run this one")

    monkeypatch.setattr(NumpyAdjointEngine, "values_and_jacobians", unavailable)
    qnn = EstimatorQNN(2)
    model = TorchConnector(qnn, initial_weights=np.full(8, 0.3))
    assert qnn.engine == "adjoint"
    with pytest.warns(RuntimeWarning, match=r"EstimatorQNN: the adjoint engine is unavailable, using the "
                                            r"torch-adjoint engine \(cannot run this one\)"):
        got = _train_step(model, x)
    assert qnn.engine == "torch-adjoint" and qnn.engine_fallback == "cannot run this one"
    for a, b in zip(got, expected):
        assert torch.allclose(a, b, atol=1e-6)


def test_value_dependent_circuit_falls_back_to_the_qnode():
    def branching(x, wires):
        if x[..., 0].sum() > 0:  # reads a value: cannot be traced
            qml.RX(x[..., 0], wires[0])
        else:
            qml.RY(x[..., 0], wires[0])

    qnn = EstimatorQNN(1, feature_map=branching, num_inputs=1, num_weights=1,
                       ansatz=lambda w, wires: qml.RZ(w[..., 0], wires[0]))
    model = TorchConnector(qnn, initial_weights=[0.3])
    with pytest.warns(RuntimeWarning) as record:
        out = model(torch.tensor([[0.5]]))
    messages = [str(r.message) for r in record]
    assert any("the adjoint engine is unavailable, using the torch-adjoint engine" in m for m in messages)
    assert any("the torch-adjoint engine is unavailable, using the compiled engine" in m for m in messages)
    assert any("the compiled engine is unavailable, using the qnode engine" in m for m in messages)
    assert qnn.engine == "qnode" and qnn.engine_fallback
    assert torch.allclose(out, torch.cos(torch.tensor([[0.5]])), atol=1e-6)


def test_a_required_engine_raises_engine_unavailable(monkeypatch):
    def unavailable(self, *args, **kwargs):
        raise EngineUnavailable("cannot run this one")

    monkeypatch.setattr(NumpyAdjointEngine, "values", unavailable)
    qnn = EstimatorQNN(2, engine="adjoint")
    with pytest.raises(EngineUnavailable, match="cannot run this one"):
        qnn.forward(np.zeros(2), np.zeros(8))


def test_required_engine_raises_instead_of_falling_back():
    def branching(x, wires):
        if x[..., 0].sum() > 0:
            qml.RX(x[..., 0], wires[0])

    qnn = EstimatorQNN(1, feature_map=branching, num_inputs=1, engine="adjoint",
                       ansatz=lambda w, wires: qml.RZ(w[..., 0], wires[0]), num_weights=1)
    with pytest.raises(RuntimeError, match="Tracing|data-dependent|Boolean|bool"):
        TorchConnector(qnn, initial_weights=[0.3])(torch.tensor([[0.5]]))


@pytest.mark.parametrize("method", ["values", "values_and_jacobians"])
def test_any_other_exception_propagates(monkeypatch, method, recwarn):
    def bug(self, *args, **kwargs):
        raise ValueError("a bug in the engine")

    monkeypatch.setattr(NumpyAdjointEngine, method, bug)
    qnn = EstimatorQNN(2)
    model = TorchConnector(qnn)
    with pytest.raises(ValueError, match="a bug in the engine"):
        if method == "values":
            qnn.forward(np.zeros(2), np.zeros(8))
        else:
            model(torch.zeros(1, 2)).sum().backward()
    assert qnn.engine == "adjoint" and qnn.engine_fallback is None  # nothing was handed over
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


# ---------------------------------------------------------------- one call


@pytest.mark.parametrize("observables, sweeps", [(1, 0), (2, 0), (3, 1)])
def test_connector_sweeps_once_for_three_outputs_or_more(observables, sweeps, monkeypatch):
    """One or two outputs keep eager Jacobians (qiskit-machine-learning's float32 contraction);
    more take the engine's vector-Jacobian product, with the same gradients."""
    calls = []
    original = NumpyAdjointEngine.vjp
    monkeypatch.setattr(NumpyAdjointEngine, "vjp", lambda *a: calls.append(1) or original(*a))
    obs = [qml.Z(0), qml.X(1), qml.Y(0) @ qml.Z(1)][:observables]
    x = torch.tensor([[0.3, -0.5], [0.8, 0.1]], dtype=torch.float64, requires_grad=True)
    grads = []
    for engine in ("adjoint", "compiled"):
        qnn = EstimatorQNN(2, engine=engine, observables=obs)
        model = TorchConnector(qnn, initial_weights=np.full(8, 0.3))
        model.double()
        (model(x) * torch.linspace(1, 2, observables)).sum().backward()
        grads.append((x.grad.clone(), model.weight.grad.clone()))
        x.grad = None
    assert len(calls) == sweeps
    for a, b in zip(*grads):
        assert torch.allclose(a, b, atol=1e-10)


def test_run_gives_values_jacobians_and_pending_products(rng):
    qnn = EstimatorQNN(2, observables=[qml.Z(0), qml.X(1), qml.Y(0)])
    chain = EngineChain(qnn.description)
    x, w = torch.tensor(rng.uniform(-1, 1, (3, 2))), torch.tensor(rng.uniform(-1, 1, 8))
    values = chain.run("values", x, w)
    out, (jx, jw) = chain.run("jacobians", x, w)
    same, pending = chain.run("vjp", x, w)
    assert torch.equal(values, out) and torch.equal(out, same)
    g = torch.tensor(rng.normal(size=(3, 3)))
    bare = pending.without_tensors()
    assert bare.tensors is None and len(pending.tensors) > 0
    gx, gw = bare.with_tensors(pending.tensors)(g, True, True)
    assert torch.allclose(gx, torch.einsum("bk,bki->bi", g, jx), atol=1e-12)
    assert torch.allclose(gw, torch.einsum("bk,bkp->p", g, jw), atol=1e-12)


def test_run_on_an_empty_batch_runs_no_engine(monkeypatch):
    monkeypatch.setattr(NumpyAdjointEngine, "values", None)  # any engine call would fail
    chain = EngineChain(EstimatorQNN(2).description)
    x, w = torch.zeros(0, 2, dtype=torch.float64), torch.zeros(8, dtype=torch.float64)
    assert chain.run("values", x, w).shape == (0, 1)
    out, jacobians = chain.run("jacobians", x, w, want_x=False)
    assert out.shape == (0, 1) and [j.shape for j in jacobians] == [(0, 1, 8)]
    assert chain.run("vjp", x, w) is None


def test_pickled_network_keeps_its_engine_and_drops_the_built_ones():
    qnn = EstimatorQNN(2, engine="compiled")
    x, w = np.array([[0.2, 0.1]]), np.linspace(0, 1, 8)
    expected = qnn.forward(x, w)
    clone = pickle.loads(pickle.dumps(qnn))
    assert clone.engine == "compiled" and clone._engines._engines == {}
    np.testing.assert_array_equal(clone.forward(x, w), expected)
