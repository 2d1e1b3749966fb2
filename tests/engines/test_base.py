"""The engine contract: every registered engine gives the QNode engine's values and Jacobians, keeps
what it declares (graphs, devices, dtypes, caches in the budget), and says where it stands in a
chain (accepts, refusal)."""

import math
from functools import partial

import numpy as np
import pennylane as qml
import pytest
import torch

from qnn_torch import EstimatorQNN, RealAmplitudes, SamplerQNN, ZZFeatureMap, parity
from qnn_torch.devices import resolve_device
from qnn_torch.engines import ENGINES, VJPEngine, torch_adjoint
from qnn_torch.engines.base import exact_simulation
from qnn_torch.engines.shape_cache import SHAPE_CACHE_SIZE
from tests.engines.vjp_check import check_vjp_contracts_jacobians

NETWORKS = {
    "estimator": lambda: EstimatorQNN(2),
    "estimator-observables": lambda: EstimatorQNN(
        3, feature_map=partial(ZZFeatureMap, reps=1), ansatz=partial(RealAmplitudes, reps=2),
        observables=[qml.X(0) @ qml.Y(2), qml.Z(1),
                     qml.Hermitian(np.diag([1.0, -2.0, 0.5, 3.0]), wires=[0, 2])]),
    "sampler": lambda: SamplerQNN(3, feature_map=partial(ZZFeatureMap, reps=1),
                                  ansatz=partial(RealAmplitudes, reps=1)),
    "sampler-parity": lambda: SamplerQNN(2, interpret=parity, output_shape=2),
}


@pytest.mark.parametrize("name", list(ENGINES))
@pytest.mark.parametrize("network", list(NETWORKS))
@pytest.mark.parametrize("batched_weights", [False, True])
def test_every_engine_equals_the_qnode_engine(name, network, batched_weights, engine_for, rng):
    qnn = NETWORKS[network]()
    engine, reference = engine_for(name, qnn), engine_for("qnode", qnn)
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
def test_only_the_wanted_jacobians(name, want, engine_for, rng):
    qnn = NETWORKS["estimator"]()
    x, w = torch.tensor(rng.uniform(-1, 1, (2, 2))), torch.tensor(rng.uniform(-1, 1, 8))
    _, jacobians = engine_for(name, qnn).values_and_jacobians(x, w, *want)
    assert [j.shape[-1] for j in jacobians] == [n for n, wanted in zip((2, 8), want) if wanted]


@pytest.mark.parametrize("name", list(ENGINES))
def test_builds_graph_says_whether_values_are_differentiable(name, engine_for, rng):
    qnn = NETWORKS["estimator"]()
    x = torch.tensor(rng.uniform(-1, 1, (2, 2)), requires_grad=True)
    w = torch.tensor(rng.uniform(-1, 1, 8))
    with torch.enable_grad():
        values = engine_for(name, qnn).values(x, w)
    assert values.requires_grad == ENGINES[name].builds_graph


@pytest.mark.parametrize("name", list(ENGINES))
def test_every_engine_computes_on_the_cpu_in_float64(name, engine_for):
    cls = ENGINES[name]
    assert "cpu" in cls.devices and torch.float64 in cls.dtypes
    assert engine_for(name, NETWORKS["estimator"]()).supports_device(torch.device("cpu"))


@pytest.mark.parametrize("name", [n for n, cls in ENGINES.items() if issubclass(cls, VJPEngine)])
@pytest.mark.parametrize("network", list(NETWORKS))
@pytest.mark.parametrize("batched_weights", [False, True])
def test_vector_jacobian_products_contract_the_jacobians(name, network, batched_weights, engine_for, rng):
    """Engines offering ``vjp`` give ``grad_output^T J`` of their own Jacobians (a single sweep)."""
    qnn = NETWORKS[network]()
    check_vjp_contracts_jacobians(engine_for(name, qnn), qnn, batched_weights, rng)


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
def test_non_finite_constants_give_nan_on_every_engine(name, circuit, engine_for):
    """An angle made non-finite by a constant gives NaN values and Jacobians on every engine, never
    an error (the generated NumPy code must know ``inf`` and ``nan``)."""
    qnn = EstimatorQNN(2, circuit=NON_FINITE[circuit], num_inputs=1, num_weights=2)
    x = torch.tensor([[0.3], [-0.4]], dtype=torch.float64)
    w = torch.tensor([0.5, 0.7], dtype=torch.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        out, (jac_x, jac_w) = engine_for(name, qnn).values_and_jacobians(x, w, True, True)
    assert torch.isnan(out).all() and torch.isnan(jac_x).all() and torch.isnan(jac_w[..., 1]).all()


@pytest.mark.parametrize("name", ["adjoint", "torch-adjoint", "compiled"])
def test_every_batch_size_is_not_kept_for_ever(name, engine_for, monkeypatch, rng):
    """Generated programs and traced graphs are kept for at most SHAPE_CACHE_SIZE batch sizes, and
    what they hold is reported (``cache_bytes``, counted in the memory budget)."""
    monkeypatch.setattr(torch_adjoint, "EAGER_ANGLES_QUBITS", 99)  # a program from the first call
    qnn = EstimatorQNN(3)
    engine = engine_for(name, qnn)
    w = torch.tensor(rng.uniform(-1, 1, qnn.num_weights))
    for batch in range(1, SHAPE_CACHE_SIZE + 4):
        engine.values_and_jacobians(torch.tensor(rng.uniform(-1, 1, (batch, 3))), w, True, True)
    caches = {"adjoint": lambda: engine._angles._programs,
              "torch-adjoint": lambda: engine._plan.angles._programs, "compiled": lambda: engine._graphs}
    cache = caches[name]()
    assert len(cache) == SHAPE_CACHE_SIZE and (SHAPE_CACHE_SIZE + 3, 3) in {key[0] for key in cache.keys()}
    assert engine.cache_bytes() == cache.nbytes() > 0


# ---------------------------------------------------------------- the place in a chain

EXACT = resolve_device("default.qubit", 3)
SAMPLED = resolve_device("default.qubit", 3, shots=100)


@pytest.mark.parametrize("name, diff_method, accepted", [
    ("adjoint", None, True), ("adjoint", "adjoint", False), ("torch-adjoint", "adjoint", True),
    ("torch-adjoint", "backprop", False), ("compiled", "backprop", True), ("compiled", "adjoint", False),
    ("qnode", "parameter-shift", True),
])
def test_engines_accept_by_the_diff_method_asked_for(name, diff_method, accepted):
    circuit = EstimatorQNN(3).description
    assert exact_simulation(EXACT) and not exact_simulation(SAMPLED)
    assert ENGINES[name].accepts(circuit, EXACT, diff_method) is accepted
    assert ENGINES[name].accepts(circuit, SAMPLED, diff_method) is (name == "qnode")


@pytest.mark.parametrize("name", list(ENGINES))
def test_engines_refuse_a_device_without_exact_simulation(name):
    circuit = EstimatorQNN(3).description
    assert ENGINES[name].refusal(circuit, EXACT) is None
    refusal = ENGINES[name].refusal(circuit, SAMPLED)
    if name == "qnode":
        assert refusal is None
    else:
        assert refusal == (f"engine {name!r} needs device 'default.qubit' with shots=None "
                           "(exact simulation); got device 'default.qubit' with shots=100.")
