"""The engine contract: every registered engine gives the QNode engine's values and Jacobians;
EngineUnavailable hands over with a warning; any other exception propagates."""

import math
from functools import partial

import numpy as np
import pennylane as qml
import pytest
import torch

from qnn_torch import EstimatorQNN, RealAmplitudes, SamplerQNN, TorchConnector, ZZFeatureMap, parity
from qnn_torch.engines import ENGINE_CHOICES, ENGINES, Engine, EngineUnavailable, NumpyAdjointEngine, VJPEngine
from qnn_torch.engines.numpy_codegen import UnsupportedGraph
from qnn_torch.engines.tracing import trace
from qnn_torch.engines.statevector import UnsupportedOperation
from tests.engines.vjp_check import check_vjp_contracts_jacobians

NETWORKS = {
    "estimator": lambda: EstimatorQNN(2),
    "estimator-observables": lambda: EstimatorQNN(
        3, feature_map=partial(ZZFeatureMap, reps=1), ansatz=partial(RealAmplitudes, reps=2),
        observables=[qml.X(0) @ qml.Y(2), qml.Z(1), qml.Hermitian(np.diag([1.0, -2.0, 0.5, 3.0]), wires=[0, 2])]),
    "sampler": lambda: SamplerQNN(3, feature_map=partial(ZZFeatureMap, reps=1), ansatz=partial(RealAmplitudes, reps=1)),
    "sampler-parity": lambda: SamplerQNN(2, interpret=parity, output_shape=2),
}


def make_engine(name, qnn) -> Engine:
    """Engine ``name`` on ``qnn``'s circuit description and device (exact default.qubit: backprop)."""
    return ENGINES[name].build(qnn.description, qnn.spec, None)


def test_registry_names_are_the_engine_argument():
    assert list(ENGINES) == ["adjoint", "torch-adjoint", "compiled", "qnode"]
    assert ENGINE_CHOICES == ("auto", "adjoint", "torch-adjoint", "compiled", "qnode")
    assert all(issubclass(cls, Engine) and cls.name == name for name, cls in ENGINES.items())
    assert [cls.order for cls in ENGINES.values()] == sorted(cls.order for cls in ENGINES.values())
    assert [cls.builds_graph for cls in ENGINES.values()] == [False, False, True, True]


@pytest.mark.parametrize("name", list(ENGINES))
@pytest.mark.parametrize("network", list(NETWORKS))
@pytest.mark.parametrize("batched_weights", [False, True])
def test_every_engine_equals_the_qnode_engine(name, network, batched_weights, rng):
    qnn = NETWORKS[network]()
    engine, reference = make_engine(name, qnn), make_engine("qnode", qnn)
    batch = 3
    x = torch.tensor(rng.uniform(-1, 1, (batch, qnn.num_inputs)))
    w = torch.tensor(rng.uniform(-1, 1, (batch, qnn.num_weights) if batched_weights else qnn.num_weights))
    values = engine.values(x, w)
    out, jacobians = engine.values_and_jacobians(x, w, True, True)
    ref_out, ref_jacobians = reference.values_and_jacobians(x, w, True, True)
    k = qnn.description.output_size
    assert values.dtype == out.dtype == torch.float64 and values.shape == out.shape == (batch, k)
    assert [j.shape for j in jacobians] == [(batch, k, qnn.num_inputs), (batch, k, qnn.num_weights)]
    assert not out.requires_grad
    assert torch.allclose(values, ref_out, atol=1e-10, rtol=0)
    assert torch.allclose(out, ref_out, atol=1e-10, rtol=0)
    for j, ref in zip(jacobians, ref_jacobians):
        assert torch.allclose(j, ref, atol=1e-10, rtol=0)


@pytest.mark.parametrize("name", list(ENGINES))
@pytest.mark.parametrize("want", [(True, False), (False, True), (False, False)])
def test_only_the_wanted_jacobians(name, want, rng):
    qnn = NETWORKS["estimator"]()
    x, w = torch.tensor(rng.uniform(-1, 1, (2, 2))), torch.tensor(rng.uniform(-1, 1, 8))
    _, jacobians = make_engine(name, qnn).values_and_jacobians(x, w, *want)
    assert [j.shape[-1] for j in jacobians] == [n for n, wanted in zip((2, 8), want) if wanted]


@pytest.mark.parametrize("name", list(ENGINES))
def test_builds_graph_says_whether_values_are_differentiable(name, rng):
    qnn = NETWORKS["estimator"]()
    x = torch.tensor(rng.uniform(-1, 1, (2, 2)), requires_grad=True)
    w = torch.tensor(rng.uniform(-1, 1, 8))
    with torch.enable_grad():
        values = make_engine(name, qnn).values(x, w)
    assert values.requires_grad == ENGINES[name].builds_graph


def test_the_old_refusals_are_engine_unavailable():
    assert issubclass(EngineUnavailable, RuntimeError)
    assert issubclass(UnsupportedGraph, EngineUnavailable) and issubclass(UnsupportedOperation, EngineUnavailable)
    with pytest.raises(EngineUnavailable, match="at most 8 qubits"):
        NumpyAdjointEngine(EstimatorQNN(9, engine="qnode").description)


def test_trace_hands_over_only_for_value_dependent_circuits():
    def branching(x):
        return x * 2 if x.sum() > 0 else x

    with pytest.raises(EngineUnavailable, match="data-dependent"):
        trace(branching, torch.ones(2))

    def broken(x):
        raise RuntimeError("a bug in a simulator")

    with pytest.raises(RuntimeError, match="a bug in a simulator") as info:
        trace(broken, torch.ones(2))
    assert not isinstance(info.value, EngineUnavailable)


def _train_step(model, x):
    model.zero_grad()
    out = model(x)
    out.sum().backward()
    return out.detach(), model.weight.grad.clone()


def test_engine_unavailable_hands_over_with_a_warning(monkeypatch, rng):
    x = torch.tensor(rng.uniform(-1, 1, (3, 2)), dtype=torch.float32)
    expected = _train_step(TorchConnector(EstimatorQNN(2, engine="compiled"), initial_weights=np.full(8, 0.3)), x)

    def unavailable(self, *args, **kwargs):
        raise EngineUnavailable("cannot run this one")

    monkeypatch.setattr(NumpyAdjointEngine, "values_and_jacobians", unavailable)
    qnn = EstimatorQNN(2)
    model = TorchConnector(qnn, initial_weights=np.full(8, 0.3))
    assert qnn.engine == "adjoint"
    with pytest.warns(RuntimeWarning, match=r"EstimatorQNN: the adjoint engine is unavailable, using the torch-adjoint engine "
                                             r"\(cannot run this one\)"):
        got = _train_step(model, x)
    assert qnn.engine == "torch-adjoint" and qnn.engine_fallback == "cannot run this one"
    for a, b in zip(got, expected):
        assert torch.allclose(a, b, atol=1e-6)


def test_a_required_engine_raises_engine_unavailable(monkeypatch):
    def unavailable(self, *args, **kwargs):
        raise EngineUnavailable("cannot run this one")

    monkeypatch.setattr(NumpyAdjointEngine, "values", unavailable)
    qnn = EstimatorQNN(2, engine="adjoint")
    with pytest.raises(EngineUnavailable, match="cannot run this one"):
        qnn.forward(np.zeros(2), np.zeros(8))


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


@pytest.mark.parametrize("name", [n for n, cls in ENGINES.items() if issubclass(cls, VJPEngine)])
@pytest.mark.parametrize("network", list(NETWORKS))
@pytest.mark.parametrize("batched_weights", [False, True])
def test_vector_jacobian_products_contract_the_jacobians(name, network, batched_weights, rng):
    """Engines offering ``vjp`` give ``grad_output^T J`` of their own Jacobians (a single sweep)."""
    qnn = NETWORKS[network]()
    check_vjp_contracts_jacobians(make_engine(name, qnn), qnn, batched_weights, rng)


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
        model = TorchConnector(EstimatorQNN(2, engine=engine, observables=obs), initial_weights=np.full(8, 0.3))
        model.double()
        (model(x) * torch.linspace(1, 2, observables)).sum().backward()
        grads.append((x.grad.clone(), model.weight.grad.clone()))
        x.grad = None
    assert len(calls) == sweeps
    for a, b in zip(*grads):
        assert torch.allclose(a, b, atol=1e-10)


NON_FINITE = {
    "plus-inf": lambda x, w: (qml.RY(x[..., 0], 0), qml.RX(w[..., 0] + math.inf, 0), qml.CNOT([0, 1]),
                              qml.RX(w[..., 1], 1)),
    "times-nan": lambda x, w: (qml.RY(x[..., 0], 0), qml.RX(w[..., 0] * math.nan, 0), qml.CNOT([0, 1]),
                               qml.RX(w[..., 1], 1)),
    "constant-inf": lambda x, w: (qml.RY(x[..., 0], 0), qml.RX(math.inf, 0), qml.CNOT([0, 1]),
                                  qml.RX(w[..., 0] * w[..., 1], 1)),
}


@pytest.mark.parametrize("name", list(ENGINES))
@pytest.mark.parametrize("circuit", list(NON_FINITE))
def test_non_finite_constants_give_nan_on_every_engine(name, circuit):
    """An angle made non-finite by a constant gives NaN values and Jacobians on every engine, never
    an error (the NumPy engines' generated code failed with "name 'inf' is not defined")."""
    qnn = EstimatorQNN(2, circuit=NON_FINITE[circuit], num_inputs=1, num_weights=2)
    x = torch.tensor([[0.3], [-0.4]], dtype=torch.float64)
    w = torch.tensor([0.5, 0.7], dtype=torch.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        out, (jac_x, jac_w) = make_engine(name, qnn).values_and_jacobians(x, w, True, True)
    assert torch.isnan(out).all() and torch.isnan(jac_x).all() and torch.isnan(jac_w[..., 1]).all()
