"""Networks in the forms qiskit-machine-learning accepts: fixed-gate blocks, no inputs or no
weights, NumPy-valued ``interpret``, Qiskit ``Pauli``/``SparseObservable`` observables; template
options checked at construction; networks that pickle.

qiskit-machine-learning 0.9 is the oracle wherever it takes the same network.
"""

from __future__ import annotations

import copy
import io
import pickle
from functools import partial

import numpy as np
import pennylane as qml
import pytest
import torch
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from qiskit.circuit.library import zz_feature_map
from qiskit.quantum_info import Pauli, SparseObservable, SparsePauliOp
from qiskit_machine_learning.neural_networks import EstimatorQNN as QkEstimatorQNN

from qnn_torch import EstimatorQNN, RealAmplitudes, SamplerQNN, TorchConnector, ZZFeatureMap, parity

from .. import qiskit_reference as ref

ENGINES = ["auto", "compiled", "qnode"]


def _x_gate(params, wires):
    qml.PauliX(wires=wires[0])


def _ry(params, wires):
    qml.RY(params[..., 0], wires=wires[0])


def _qiskit_x_then_ry():
    w = Parameter("w")
    qc = QuantumCircuit(1)
    qc.x(0)
    qc.ry(w, 0)
    return qc, w


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("weight", [0.0, 0.7])
def test_fixed_gate_feature_map_is_applied(engine, weight):
    qnn = EstimatorQNN(1, feature_map=_x_gate, num_inputs=0, ansatz=_ry, num_weights=1, engine=engine)
    qc, w = _qiskit_x_then_ry()
    qk = QkEstimatorQNN(circuit=qc, input_params=[], weight_params=[w])
    want = qk.forward(None, [weight])
    np.testing.assert_allclose(qnn.forward(np.zeros((1, 0)), [weight]), want, atol=1e-10)
    np.testing.assert_allclose(qnn.forward(None, [weight]), want, atol=1e-10)
    assert qnn.forward(None, [0.0])[0, 0] == pytest.approx(-1.0)


@pytest.mark.parametrize("device", ["default.qubit", "lightning.qubit", "qiskit.aer"])
def test_network_without_inputs_trains_through_the_connector(device):
    qnn = EstimatorQNN(1, feature_map=_x_gate, num_inputs=0, ansatz=_ry, num_weights=1, device=device)
    model = TorchConnector(qnn, initial_weights=[0.3])
    out = model()  # one sample, like qiskit-machine-learning's TorchConnector without input
    assert out.shape == (1,)
    out.sum().backward()
    # <Z> after X then RY(w) is -cos(w): gradient sin(w)
    assert out.item() == pytest.approx(-np.cos(0.3), abs=1e-6)
    assert model.weight.grad.item() == pytest.approx(np.sin(0.3), abs=1e-6)
    assert model(torch.zeros(3, 0)).shape == (3, 1)


@pytest.mark.parametrize("kwargs", [{"engine": e} for e in ENGINES]
                         + [{"device": "lightning.qubit"}, {"device": "qiskit.aer"}])
@pytest.mark.parametrize("grad", [False, True])
def test_network_without_inputs_gives_every_sample_every_output(kwargs, grad):
    """A batch of empty inputs: each row holds all outputs (the QNode runs once, unbroadcast)."""
    observables = [qml.Z(0), qml.X(1), qml.Z(0) @ qml.Z(1), qml.Y(0)]
    qnn = EstimatorQNN(2, feature_map=_x_gate, num_inputs=0, ansatz=partial(RealAmplitudes, reps=1),
                       observables=observables, **kwargs)
    w = np.linspace(-0.8, 0.9, 4)
    want = EstimatorQNN(2, feature_map=_x_gate, num_inputs=0, ansatz=partial(RealAmplitudes, reps=1),
                        observables=observables, engine="qnode").forward(None, w)[0]
    np.testing.assert_allclose(qnn.forward(np.zeros((3, 0)), w), np.tile(want, (3, 1)), atol=1e-6)
    model = TorchConnector(qnn, initial_weights=w)
    with torch.set_grad_enabled(grad):
        out = model(torch.zeros(2, 0))
    np.testing.assert_allclose(out.detach().numpy(), np.tile(want, (2, 1)), atol=1e-6)


@pytest.mark.parametrize("engine", ENGINES)
def test_network_without_weights(engine):
    circuit = zz_feature_map(2)
    qk = QkEstimatorQNN(circuit=circuit, input_params=list(circuit.parameters), weight_params=[])
    qnn = EstimatorQNN(2, ansatz=lambda p, w: None, num_weights=0, engine=engine)
    x = np.array([[0.1, -0.4], [0.9, 0.3]])
    np.testing.assert_allclose(qnn.forward(x, None), qk.forward(x, None), atol=1e-10)
    model = TorchConnector(qnn)
    assert model.weight.shape == (0,)
    np.testing.assert_allclose(model(torch.tensor(x)).detach().numpy(), qk.forward(x, None), atol=1e-6)


def test_missing_inputs_or_weights_name_the_argument():
    qnn = EstimatorQNN(2)
    with pytest.raises(ValueError, match="input_data must be given: the network has 2"):
        qnn.forward(None, np.zeros(8))
    with pytest.raises(ValueError, match="weights must be given: the network has 8"):
        qnn.forward(np.zeros(2), None)
    with pytest.raises(ValueError, match=r"weights must have shape \(8,\).*got shape \(7,\)"):
        qnn.forward(np.zeros(2), np.zeros(7))
    with pytest.raises(ValueError, match=r"input_data must have shape .*num_inputs=2; got shape \(3,\)"):
        qnn.forward(np.zeros(3), np.zeros(8))
    with pytest.raises(ValueError, match=r"input_data must have shape .*num_inputs=2; got shape \(2, 3\)"):
        qnn.backward(np.zeros((2, 3)), np.zeros(8))  # not silently read as three samples


def test_forward_is_float64_and_equals_evaluate():
    qnn = EstimatorQNN(2)
    rng = np.random.default_rng(5)
    x, w = rng.uniform(-1, 1, (3, 2)), rng.uniform(-1, 1, 8)
    got = qnn.forward(x, w)
    assert got.dtype == np.float64
    want = qnn.evaluate(torch.tensor(x), torch.tensor(w)).numpy()
    np.testing.assert_array_equal(got, want)


# (interpret, output_shape, the same interpret in plain Python ints for qiskit-machine-learning,
# which does not take 0-d arrays)
@pytest.mark.parametrize("interpret, shape, plain", [
    (lambda i: np.int64(parity(i)), 2, parity),
    (lambda i: np.array(parity(i)), 2, parity),
    (lambda i: np.array([i % 2, i // 2]), (2, 2), lambda i: (i % 2, i // 2)),
    (lambda i: (np.int32(i % 2), i // 2), (2, 2), lambda i: (i % 2, i // 2)),
    (lambda i: [i % 2, i // 2], (2, 2), lambda i: (i % 2, i // 2)),
])
def test_interpret_may_return_numpy_integers_tuples_and_arrays(interpret, shape, plain):
    qnn = SamplerQNN(2, interpret=interpret, output_shape=shape,
                     ansatz=partial(RealAmplitudes, reps=1, entanglement="linear"))
    circuit, inputs, weights = ref.zz_ra_circuit(2, 2, 1, "linear")
    qk = ref.sampler(circuit, inputs, weights, interpret=plain, output_shape=shape)
    rng = np.random.default_rng(2)
    x, w = rng.uniform(-1, 1, (3, 2)), rng.uniform(-1, 1, 4)
    np.testing.assert_allclose(qnn.forward(x, w), qk.forward(x, w), atol=1e-10)


@pytest.mark.parametrize("bad", [lambda i: True, lambda i: 0.5, lambda i: np.array([[0]]), lambda i: "0"])
def test_interpret_returning_no_integer_is_refused(bad):
    with pytest.raises(ValueError, match=r"interpret must return an index within output_shape \(2,\); "
                                         r"interpret\(0\) returned"):
        SamplerQNN(2, interpret=bad, output_shape=2)


@pytest.mark.parametrize("observable", [
    Pauli("XZ"), Pauli("-YY"), SparseObservable("ZX"),
    SparseObservable.from_list([("XX", 0.5), ("ZI", -2.0)]),
])
def test_qiskit_pauli_and_sparse_observable(observable):
    circuit, inputs, weights = ref.zz_ra_circuit(2)
    spo = SparsePauliOp(observable) if isinstance(observable, Pauli) else \
        SparsePauliOp.from_sparse_observable(observable)
    qk = ref.estimator(circuit, inputs, weights, [spo])
    qnn = EstimatorQNN(2, observables=observable)
    rng = np.random.default_rng(4)
    x, w = rng.uniform(-1, 1, (3, 2)), rng.uniform(-1, 1, 8)
    np.testing.assert_allclose(qnn.forward(x, w), qk.forward(x, w), atol=1e-10)


def test_non_hermitian_pauli_is_refused():
    with pytest.raises(ValueError, match="observables must be Hermitian"):
        EstimatorQNN(1, feature_map=_ry, num_inputs=1, ansatz=_ry, num_weights=1, observables=Pauli("iY"))


@pytest.mark.parametrize("ansatz, message", [
    (partial(RealAmplitudes, entanglement="diagonal"),
     "ansatz RealAmplitudes on 2 qubits: entanglement must be"),
    (partial(RealAmplitudes, reps=-1), "reps must be an integer >= 0; got -1"),
])
def test_template_options_are_checked_at_construction(ansatz, message):
    with pytest.raises(ValueError, match=message):
        EstimatorQNN(2, ansatz=ansatz)


def test_feature_map_options_are_checked_at_construction():
    with pytest.raises(ValueError, match="feature_map ZZFeatureMap on 3 qubits: entanglement"):
        SamplerQNN(3, feature_map=partial(ZZFeatureMap, entanglement="nope"))


# ---------------------------------------------------------------- pickling

def _hybrid(qnn):
    torch.manual_seed(3)
    return torch.nn.Sequential(torch.nn.Linear(3, 2), TorchConnector(qnn),
                               torch.nn.Linear(qnn.output_shape[0], 2))


NETWORKS = {
    "estimator/default.qubit": lambda: EstimatorQNN(2),
    "estimator/compiled": lambda: EstimatorQNN(2, engine="compiled"),
    "estimator/qnode": lambda: EstimatorQNN(2, engine="qnode"),
    "sampler-parity/default.qubit": lambda: SamplerQNN(2, interpret=parity, output_shape=2),
    "estimator/lightning.qubit": lambda: EstimatorQNN(2, device="lightning.qubit"),
    "sampler-parity/qiskit.aer": lambda: SamplerQNN(2, interpret=parity, output_shape=2, device="qiskit.aer"),
}


def _round_trips(model):
    buffer = io.BytesIO()
    torch.save(model, buffer)
    buffer.seek(0)
    yield "torch.save", torch.load(buffer, weights_only=False)
    yield "pickle", pickle.loads(pickle.dumps(model))
    yield "deepcopy", copy.deepcopy(model)


@pytest.mark.parametrize("network", list(NETWORKS))
def test_models_pickle_and_give_identical_outputs(network):
    model = _hybrid(NETWORKS[network]())
    x = torch.rand(4, 3, generator=torch.Generator().manual_seed(0))
    want = model(x)
    for how, copy_ in _round_trips(model):
        got = copy_(x)
        assert torch.equal(got, want), how
        got.sum().backward()  # the copy trains
        assert copy_[1].weight.grad is not None, how
        assert copy_[1].qnn is not model[1].qnn


def test_pickled_qnn_keeps_its_engine():
    qnn = EstimatorQNN(2, engine="compiled")
    x, w = np.array([[0.2, 0.1]]), np.linspace(0, 1, 8)
    clone = pickle.loads(pickle.dumps(qnn))
    assert clone.engine == "compiled"
    np.testing.assert_array_equal(clone.forward(x, w), qnn.forward(x, w))
