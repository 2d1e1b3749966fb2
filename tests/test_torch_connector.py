"""TorchConnector: shapes, weights, state dicts, gradients inside a CNN, bad input."""

import io
from functools import partial

import numpy as np
import pennylane as qml
import pytest
import torch
from qiskit.quantum_info import SparsePauliOp
from qiskit_machine_learning.connectors import TorchConnector as QkTorchConnector

from qnn_torch import EstimatorQNN, RealAmplitudes, SamplerQNN, TorchConnector, parity

from . import qiskit_reference as ref


@pytest.fixture
def qnn():
    return EstimatorQNN(2, ansatz=partial(RealAmplitudes, reps=1))


def test_is_a_torch_layer(qnn):
    model = TorchConnector(qnn)
    assert isinstance(model, qml.qnn.TorchLayer) and isinstance(model, torch.nn.Module)
    assert [name for name, _ in model.named_parameters()] == ["weight"]


@pytest.mark.parametrize(
    "make, out",
    [
        (lambda: EstimatorQNN(2), (1,)),
        (lambda: EstimatorQNN(2, observables=[qml.Z(0), qml.Z(1)]), (2,)),
        (lambda: SamplerQNN(2, interpret=parity, output_shape=2), (2,)),
        (lambda: SamplerQNN(2), (4,)),
    ],
)
def test_output_shapes(make, out):
    model = TorchConnector(make())
    assert model(torch.zeros(7, 2)).shape == (7, *out)
    assert model(torch.zeros(2)).shape == out
    assert model(torch.zeros(3, 4, 2)).shape == (3, 4, *out)


def test_default_weights_uniform_in_minus_one_one(qnn):
    torch.manual_seed(0)
    weights = torch.cat([TorchConnector(qnn).weight.detach() for _ in range(50)])
    assert weights.min() >= -1 and weights.max() <= 1
    assert weights.min() < -0.9 and weights.max() > 0.9  # spans the interval, not [0, 2pi]
    assert weights.dtype == torch.float32


def test_initial_weights_are_used(qnn):
    model = TorchConnector(qnn, initial_weights=[0.1, 0.2, 0.3, 0.4])
    assert torch.allclose(model.weight, torch.tensor([0.1, 0.2, 0.3, 0.4]))


def test_batch_equals_one_by_one(qnn):
    model = TorchConnector(qnn)
    x = torch.rand(6, 2, dtype=torch.float64)
    batched = model(x)
    for row, out in zip(x, batched):
        assert torch.allclose(model(row), out, atol=1e-12)


def test_state_dict_round_trip(qnn, tmp_path):
    a = TorchConnector(qnn)
    torch.save(a.state_dict(), tmp_path / "m.pt")
    b = TorchConnector(qnn, initial_weights=np.zeros(4))
    b.load_state_dict(torch.load(tmp_path / "m.pt", weights_only=True))
    x = torch.rand(3, 2)
    assert torch.equal(a(x), b(x))


def test_loads_qiskit_machine_learning_state_dict(rng):
    circuit, inputs, weights = ref.zz_ra_circuit(2, 2, 1, "reverse_linear")
    qk_model = QkTorchConnector(ref.estimator(circuit, inputs, weights))
    buffer = io.BytesIO()
    torch.save(qk_model.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    assert {"weight", "_weights"} <= set(state)  # what Qiskit writes

    ours = TorchConnector(EstimatorQNN(2, ansatz=partial(RealAmplitudes, reps=1)),
                          initial_weights=np.zeros(4))
    ours.load_state_dict(state)  # strict: both keys are understood
    x = torch.tensor(rng.uniform(-1, 1, (5, 2)), dtype=torch.float32)
    with torch.no_grad():
        assert torch.allclose(ours(x), qk_model(x), atol=1e-6)


def test_qiskit_state_dict_loads_inside_a_model(qnn):
    circuit, inputs, weights = ref.zz_ra_circuit(2, 2, 1, "reverse_linear")
    qk = torch.nn.Sequential(torch.nn.Linear(2, 2), QkTorchConnector(ref.estimator(circuit, inputs, weights)))
    ours = torch.nn.Sequential(torch.nn.Linear(2, 2), TorchConnector(qnn))
    result = ours.load_state_dict(qk.state_dict())
    assert not result.missing_keys and not result.unexpected_keys
    assert torch.equal(ours[1].weight, qk[1].weight)


class Hybrid(torch.nn.Module):
    def __init__(self, qnn):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 2, kernel_size=3)
        self.fc = torch.nn.Linear(2 * 4 * 4, 2)
        self.qnn = TorchConnector(qnn)
        self.out = torch.nn.Linear(1, 1)

    def forward(self, x):
        x = torch.relu(self.conv(x)).flatten(1)
        x = self.out(self.qnn(self.fc(x)))
        return torch.cat((x, 1 - x), -1)


def test_hybrid_cnn_trains_with_gradients_reaching_the_cnn(qnn):
    torch.manual_seed(1)
    model = Hybrid(qnn)
    images = torch.rand(8, 1, 6, 6)
    labels = torch.tensor([0, 1] * 4)
    images[labels == 1] += 1.0  # separable
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    losses = []
    for step in range(15):
        opt.zero_grad()
        loss = torch.nn.functional.nll_loss(model(images), labels)
        loss.backward()
        if step == 0:
            assert model.conv.weight.grad.abs().sum() > 0
            assert model.qnn.weight.grad.abs().sum() > 0
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 0.1


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "inputs, match",
    [
        (torch.zeros(3, 3), r"inputs must have last dimension 2.*got shape \(3, 3\)"),
        (torch.tensor(1.0), r"inputs must have last dimension 2.*got shape \(\)"),
        (torch.tensor([0.0, float("nan")]), "inputs must be finite"),
        (torch.tensor([[0.0, float("inf")]]), "inputs must be finite"),
    ],
)
def test_bad_inputs(qnn, inputs, match):
    with pytest.raises(ValueError, match=match):
        TorchConnector(qnn)(inputs)


@pytest.mark.parametrize(
    "weights, match",
    [
        (np.zeros(3), r"initial_weights must have shape \(4,\).*got shape \(3,\)"),
        (np.zeros((2, 2)), r"got shape \(2, 2\)"),
        (np.array([0, 0, 0, np.nan]), "initial_weights must be finite"),
    ],
)
def test_bad_initial_weights(qnn, weights, match):
    with pytest.raises(ValueError, match=match):
        TorchConnector(qnn, initial_weights=weights)


def test_not_a_qnn():
    with pytest.raises(TypeError, match="qnn must be a qnn_torch EstimatorQNN, SamplerQNN or subclass of "
                                        "qnn_torch.NeuralNetwork; got int"):
        TorchConnector(3)


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: SamplerQNN(2, interpret=parity), ValueError, "output_shape is required with interpret"),
        (lambda: SamplerQNN(2, interpret=lambda i: i, output_shape=2), ValueError,
         r"interpret must return an index within output_shape \(2,\); interpret\(2\) returned 2"),
        (lambda: SamplerQNN(2, interpret=lambda i: -1, output_shape=2), ValueError, "returned -1"),
        (lambda: SamplerQNN(2, interpret=parity, output_shape=0), ValueError,
         "output_shape must be a positive"),
        (lambda: SamplerQNN(2, interpret="parity", output_shape=2), TypeError,
         "interpret must be a callable"),
        (lambda: EstimatorQNN(0), ValueError, "num_qubits must be a positive integer; got 0"),
        (lambda: EstimatorQNN(2, ansatz=lambda w, wires: None), TypeError,
         "give its parameter count.*num_weights"),
        (lambda: EstimatorQNN(2, ansatz=partial(RealAmplitudes, reps=1), num_weights=5), ValueError,
         "num_weights must be 4 for ansatz RealAmplitudes on 2 qubits; got 5"),
        (lambda: EstimatorQNN(2, ansatz=3), TypeError, "ansatz must be a template class"),
        (lambda: EstimatorQNN(2, observables="ZZ"), TypeError, "observables must be PennyLane operators"),
        (lambda: EstimatorQNN(2, observables=qml.Z(5)), ValueError,
         r"observables must act on wires 0..1"),
        (lambda: EstimatorQNN(2, observables=SparsePauliOp("ZZZ")),
         ValueError, "observables must act on 2 qubits; got a SparsePauliOp on 3"),
    ],
)
def test_bad_qnn_arguments(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_our_state_dict_loads_into_qiskit_machine_learning(qnn, rng):
    circuit, inputs, weights = ref.zz_ra_circuit(2, 2, 1, "reverse_linear")
    qk_model = QkTorchConnector(ref.estimator(circuit, inputs, weights))
    ours = TorchConnector(qnn)
    assert set(ours.state_dict()) == {"weight", "_weights"}
    qk_model.load_state_dict(ours.state_dict())
    x = torch.tensor(rng.uniform(-1, 1, (4, 2)), dtype=torch.float32)
    with torch.no_grad():
        assert torch.allclose(ours(x), qk_model(x), atol=1e-6)


def test_constant_circuit_has_zero_gradients():
    """A network whose output depends on nothing trainable still backpropagates (zeros)."""
    qnn = EstimatorQNN(1, feature_map=lambda x, wires: None, num_inputs=1,
                       ansatz=lambda w, wires: qml.Identity(wires[0]), num_weights=1)
    model = TorchConnector(qnn, initial_weights=[0.5])
    x = torch.rand(3, 1, requires_grad=True)
    model(x).sum().backward()
    assert torch.equal(x.grad, torch.zeros(3, 1)) and torch.equal(model.weight.grad, torch.zeros(1))


# ---------------------------------------------------------------- what the layer is, and what it saves


def test_a_torch_layer_without_a_qnode(monkeypatch):
    """TorchLayer gives isinstance and the weights' view; no QNode is built unless the QNode engine runs."""
    def no_qnode(*args, **kwargs):
        raise AssertionError("a QNode was built")

    monkeypatch.setattr(qml.QNode, "__init__", no_qnode)
    model = TorchConnector(EstimatorQNN(2), initial_weights=np.zeros(8))
    model(torch.rand(3, 2, requires_grad=True)).sum().backward()
    assert model.qnode_weights == {"weight": model.weight}
    assert "qnode" not in vars(model) and not hasattr(model, "qnode")
    # what the layer relies on: TorchLayer forwards attributes to a QNode only once initialised
    assert qml.qnn.TorchLayer._initialized is False and not model._initialized


@pytest.mark.parametrize("observables, saved", [(1, "jacobians"), (3, "sweep")])
def test_saved_tensor_hooks_see_what_the_backward_pass_needs(observables, saved):
    """Every tensor the backward pass reads goes through save_for_backward: the hooks pack the
    inputs, the weight and the Jacobians (one or two outputs) or the engine's sweep state (three or
    more), and the gradients through the hooks equal those without."""
    qnn = EstimatorQNN(2, observables=[qml.Z(0), qml.X(1), qml.Y(0) @ qml.Z(1)][:observables])
    model = TorchConnector(qnn, initial_weights=np.linspace(-1, 1, 8))
    x = torch.rand(4, 2, requires_grad=True, generator=torch.Generator().manual_seed(0))
    model(x).sum().backward()
    expected = (x.grad.clone(), model.weight.grad.clone())
    x.grad, model.weight.grad = None, None
    packed = []

    def pack(tensor):
        packed.append(tensor)
        return tensor.clone()  # a copy: the backward pass must read what unpack gives back

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        out = model(x)
    out.sum().backward()
    assert any(t is x for t in packed) and any(t is model.weight for t in packed)
    shapes = [tuple(t.shape) for t in packed]
    if saved == "jacobians":
        assert (4, 1, 2) in shapes and (4, 1, 8) in shapes
    else:
        assert len(packed) > 2 and any(t.is_complex() for t in packed)  # the states of the sweep
    assert torch.equal(x.grad, expected[0]) and torch.equal(model.weight.grad, expected[1])


def test_checkpointed_layer_gives_the_same_gradients():
    model = TorchConnector(EstimatorQNN(2), initial_weights=np.linspace(-1, 1, 8))
    x = torch.rand(3, 2, requires_grad=True, generator=torch.Generator().manual_seed(1))
    model(x).sum().backward()
    expected = (x.grad.clone(), model.weight.grad.clone())
    x.grad, model.weight.grad = None, None
    torch.utils.checkpoint.checkpoint(model, x, use_reentrant=False).sum().backward()
    assert torch.equal(x.grad, expected[0]) and torch.equal(model.weight.grad, expected[1])


# ---------------------------------------------------------------- output dtypes


@pytest.mark.parametrize("kind", ["estimator", "sampler"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_outputs_take_the_weight_dtype_as_qiskit_machine_learning(kind, dtype, rng):
    """float32 outputs for float64 inputs, as qiskit-machine-learning's connector gives, so that a
    float32 ``nn.Linear`` can follow; float64 after ``model.double()``."""
    qc, inputs, weights = ref.zz_ra_circuit(2, fm_reps=1, ra_reps=1)
    theirs = (ref.estimator if kind == "estimator" else ref.sampler)(qc, inputs, weights)
    ours = (EstimatorQNN if kind == "estimator" else SamplerQNN)(
        circuit=qc, input_params=inputs, weight_params=weights, input_gradients=True)
    w = rng.uniform(-1, 1, 4).astype(np.float32)
    x = torch.as_tensor(rng.uniform(-1, 1, (3, 2)), dtype=dtype)
    expected = QkTorchConnector(theirs, initial_weights=w)(x)
    model = TorchConnector(ours, initial_weights=w)
    got = model(x)
    assert got.dtype == expected.dtype == torch.float32
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=0)
    head = torch.nn.Linear(got.shape[1], 1)
    torch.nn.Sequential(model, head)(x).sum().backward()  # a float32 layer after it
    assert model.weight.grad.dtype == torch.float32
    assert model.double()(x).dtype == torch.float64
