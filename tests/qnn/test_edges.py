"""Edges: empty batches on every engine and device, non-Hermitian observables, complex and
bool values, weights of the wrong size."""

import numpy as np
import pennylane as qml
import pytest
import torch

from qnn_torch import EstimatorQNN, SamplerQNN, TorchConnector, parity

# ---------------------------------------------------------------- empty batches

CONFIGS = [
    pytest.param(dict(), id="auto"),
    pytest.param(dict(engine="adjoint"), id="adjoint"),
    pytest.param(dict(engine="compiled"), id="compiled"),
    pytest.param(dict(engine="qnode"), id="qnode"),
    pytest.param(dict(shots=64), id="default.qubit-shots"),
    pytest.param(dict(device="lightning.qubit"), id="lightning"),
    pytest.param(dict(device="qiskit.aer"), id="aer"),
    pytest.param(dict(device="qiskit.aer", shots=64), id="aer-shots"),
]


def _build(kind, n, kwargs):
    torch.manual_seed(0)
    if kind == "estimator":
        return EstimatorQNN(n, **kwargs)
    kwargs = {**kwargs, "engine": "auto"} if kwargs.get("engine") == "adjoint" else kwargs
    return SamplerQNN(n, interpret=parity, output_shape=2, **kwargs)


@pytest.mark.parametrize("kind", ["estimator", "sampler"])
@pytest.mark.parametrize("kwargs", CONFIGS)
def test_empty_batch(kind, kwargs):
    qnn = _build(kind, 2, kwargs)
    model = TorchConnector(qnn)
    engine = qnn.engine
    x = torch.zeros(0, qnn.num_inputs, requires_grad=True)
    out = model(x)
    assert out.shape == (0, *qnn.output_shape)
    out.sum().backward()  # gradients flow: zero-size for the inputs, zeros for the weights
    assert x.grad.shape == x.shape
    assert model.weight.grad.shape == (qnn.num_weights,) and not model.weight.grad.any()
    with torch.no_grad():
        assert model(torch.zeros(0, qnn.num_inputs)).shape == (0, *qnn.output_shape)
    out = qnn.forward(np.zeros((0, qnn.num_inputs)), np.zeros(qnn.num_weights))
    assert out.shape == (0, *qnn.output_shape)
    assert qnn.engine == engine and qnn.engine_fallback is None  # nothing given up


def test_empty_batch_nine_qubits_keeps_the_torch_adjoint_path():
    qnn = EstimatorQNN(9)
    model = TorchConnector(qnn)
    assert qnn.engine == "torch-adjoint"
    x = torch.zeros(0, 9, requires_grad=True)
    model(x).sum().backward()
    assert model(torch.zeros(0, 9)).shape == (0, 1)
    assert qnn.engine == "torch-adjoint" and qnn.engine_fallback is None


def test_empty_batch_with_extra_batch_dimensions():
    qnn = EstimatorQNN(2, observables=[qml.Z(0), qml.Z(1)])
    model = TorchConnector(qnn)
    assert model(torch.zeros(3, 0, 2)).shape == (3, 0, 2)


def test_empty_batch_create_graph():
    model = TorchConnector(EstimatorQNN(2))
    x = torch.zeros(0, 2, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(model(x).sum(), x, create_graph=True)
    assert g.shape == (0, 2)


# ---------------------------------------------------------------- Hermitian observables

@pytest.mark.parametrize("obs", [qml.S(0), qml.T(1), qml.prod(qml.S(0), qml.Z(1)),
                                 qml.Hermitian(np.array([[1, 1j], [1j, 0]]), wires=0)],
                         ids=["S", "T", "S@Z", "non-Hermitian-matrix"])
@pytest.mark.parametrize("engine", ["auto", "compiled", "qnode"])
def test_non_hermitian_observables_refused_at_construction(obs, engine):
    with pytest.raises(ValueError, match="observables must be Hermitian"):
        EstimatorQNN(2, observables=obs, engine=engine)


@pytest.mark.parametrize("obs", [qml.Z(0), qml.X(0) @ qml.Y(1), qml.dot([0.5, -2.0], [qml.Z(0), qml.X(1)]),
                                 qml.Hermitian(np.array([[1, 1j], [-1j, 0]]), wires=1),
                                 qml.Projector([1], 0)],
                         ids=["Z", "XY", "sum", "Hermitian", "Projector"])
def test_hermitian_observables_accepted(obs):
    qnn = EstimatorQNN(2, observables=obs)
    out = qnn.forward(np.array([0.3, 0.4]), np.linspace(0, 1, 8))
    assert out.shape == (1, 1) and np.isfinite(out).all()


def test_complex_sparse_pauli_op_refused():
    from qiskit.quantum_info import SparsePauliOp

    with pytest.raises(ValueError, match="Hermitian"):
        EstimatorQNN(2, observables=SparsePauliOp(["ZI"], coeffs=[1j]))


# ---------------------------------------------------------------- complex and bool values

BAD_VALUES = {
    "complex tensor": lambda shape: torch.zeros(shape, dtype=torch.complex64),
    "bool tensor": lambda shape: torch.zeros(shape, dtype=torch.bool),
    "complex array": lambda shape: np.zeros(shape, dtype=np.complex128) + 0.5j,
    "bool array": lambda shape: np.zeros(shape, dtype=bool),
    "complex list": lambda shape: (np.zeros(shape) + 1j).tolist(),
}


@pytest.mark.parametrize("make", BAD_VALUES.values(), ids=BAD_VALUES.keys())
def test_complex_and_bool_inputs_refused(make):
    model = TorchConnector(EstimatorQNN(2))
    with pytest.raises(TypeError, match=r"inputs must hold real numbers; got dtype"):
        model(make((3, 2)))


@pytest.mark.parametrize("make", BAD_VALUES.values(), ids=BAD_VALUES.keys())
def test_complex_and_bool_initial_weights_refused(make):
    with pytest.raises(TypeError, match=r"initial_weights must hold real numbers; got dtype"):
        TorchConnector(EstimatorQNN(2), initial_weights=make((8,)))


@pytest.mark.parametrize("make", BAD_VALUES.values(), ids=BAD_VALUES.keys())
def test_complex_and_bool_in_qnn_forward_refused(make):
    qnn = EstimatorQNN(2)
    with pytest.raises(TypeError, match=r"input_data must hold real numbers"):
        qnn.forward(make((2,)), np.zeros(8))
    with pytest.raises(TypeError, match=r"weights must hold real numbers"):
        qnn.forward(np.zeros(2), make((8,)))


@pytest.mark.parametrize("dtype", [torch.complex64, torch.bool])
def test_complex_and_bool_weight_parameter_refused(dtype):
    model = TorchConnector(EstimatorQNN(2))
    model.weight = torch.nn.Parameter(torch.zeros(8, dtype=dtype), requires_grad=False)
    with pytest.raises(TypeError, match=r"weight must hold real numbers"):
        model(torch.zeros(1, 2))


def test_integer_inputs_still_accepted():
    model = TorchConnector(EstimatorQNN(2), initial_weights=np.arange(8))
    ref = model(torch.tensor([[1.0, 0.0]]))
    torch.testing.assert_close(model(torch.tensor([[1, 0]])), ref)


# ---------------------------------------------------------------- weights of the wrong size

@pytest.mark.parametrize("shape", [(5,), (9,), (2, 4)])
def test_wrong_size_weight_names_the_parameter(shape):
    model = TorchConnector(EstimatorQNN(2))
    model.weight.data = torch.zeros(shape)
    with pytest.raises(ValueError, match=r"weight must have shape \(8,\).*got shape"):
        model(torch.zeros(1, 2))
    with pytest.raises(ValueError, match=r"weight must have shape \(8,\)"):
        with torch.no_grad():
            model(torch.zeros(4, 2))


def test_wrong_size_state_dict_names_the_parameter():
    model = TorchConnector(EstimatorQNN(2))
    with pytest.raises(RuntimeError, match="size mismatch for weight"):
        model.load_state_dict({"weight": torch.zeros(5)})
    with pytest.raises(ValueError, match=r"^weights must have shape \(8,\)"):
        EstimatorQNN(2).forward(np.zeros(2), np.zeros(5))
