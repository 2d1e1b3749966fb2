"""qiskit-machine-learning code runs on qnn_torch with only its imports changed.

The seed tutorial's three LBFGS experiments are written once, as a qiskit-machine-learning 0.9
user writes them (Qiskit circuits, ``input_params``/``weight_params``, ``TorchConnector``), and
run with both libraries' classes: the losses of every evaluation, the accuracies and the state
dicts must agree.
"""

import numpy as np
import pytest
import torch
from qiskit import QuantumCircuit
from qiskit.circuit.library import real_amplitudes, zz_feature_map
from qiskit.quantum_info import SparsePauliOp

from .. import qiskit_reference as ref
from ..seed_tutorial import seed_experiments


@pytest.fixture(scope="module")
def both():
    import qiskit_machine_learning.connectors as qk_connectors
    import qiskit_machine_learning.neural_networks as qk_networks

    import qnn_torch

    theirs = seed_experiments(qk_networks.EstimatorQNN, qk_networks.SamplerQNN, qk_connectors.TorchConnector)
    ours = seed_experiments(qnn_torch.EstimatorQNN, qnn_torch.SamplerQNN, qnn_torch.TorchConnector)
    return ours, theirs


@pytest.mark.slow
@pytest.mark.parametrize("part", ["classification-estimator", "classification-sampler", "regression"])
def test_the_seed_code_gives_the_same_numbers(both, part):
    ours, theirs = both
    (losses, accuracy, state), (q_losses, q_accuracy, q_state) = ours[part], theirs[part]
    assert len(losses) == len(q_losses)
    np.testing.assert_allclose(losses, q_losses, rtol=1e-5)
    assert accuracy == q_accuracy
    assert set(state) == set(q_state) == {"weight", "_weights"}
    np.testing.assert_allclose(state["weight"].numpy(), q_state["weight"].numpy(), rtol=1e-4, atol=1e-6)


def test_num_qubits_comes_from_the_circuit():
    import qnn_torch

    feature_map, ansatz = zz_feature_map(3), real_amplitudes(3, reps=1)
    qnn = qnn_torch.EstimatorQNN(circuit=feature_map.compose(ansatz), input_params=feature_map.parameters,
                                 weight_params=ansatz.parameters)
    assert (qnn.num_qubits, qnn.num_inputs, qnn.num_weights) == (3, 3, 6)
    assert qnn.input_gradients is False  # qiskit-machine-learning's default
    assert qnn.qiskit_circuit is not None and qnn.input_params == list(feature_map.parameters)
    template_network = qnn_torch.EstimatorQNN(2)
    assert template_network.qiskit_circuit is template_network.input_params is None
    assert template_network.weight_params is None
    with pytest.raises(ValueError, match="num_qubits must be the circuit's 3 qubits"):
        qnn_torch.EstimatorQNN(2, circuit=feature_map.compose(ansatz), input_params=feature_map.parameters,
                               weight_params=ansatz.parameters)
    with pytest.raises(ValueError, match="input_params and weight_params name the parameters of a Qiskit"):
        qnn_torch.EstimatorQNN(2, input_params=feature_map.parameters)


@pytest.mark.parametrize("input_gradients", [False, True])
def test_backward_and_input_gradients_as_qiskit_machine_learning(input_gradients, rng):
    from qiskit_machine_learning.neural_networks import SamplerQNN as QkSamplerQNN

    import qnn_torch

    feature_map, ansatz = zz_feature_map(2), real_amplitudes(2, reps=1)
    qc = feature_map.compose(ansatz)
    kwargs = dict(circuit=qc, input_params=feature_map.parameters, weight_params=ansatz.parameters,
                  interpret=lambda i: (i % 2, i // 2), output_shape=(2, 2), input_gradients=input_gradients)
    ours, theirs = qnn_torch.SamplerQNN(**kwargs), QkSamplerQNN(**kwargs)
    x, w = rng.uniform(-1, 1, (3, 2)), rng.uniform(-1, 1, 4)
    np.testing.assert_allclose(ours.forward(x, w), theirs.forward(x, w), atol=1e-10)
    (gx, gw), (qgx, qgw) = ours.backward(x, w), theirs.backward(x, w)
    assert gw.shape == qgw.shape == (3, 2, 2, 4)
    np.testing.assert_allclose(gw, qgw, atol=1e-6)
    if input_gradients:
        assert gx.shape == qgx.shape == (3, 2, 2, 2)
        np.testing.assert_allclose(gx, qgx, atol=1e-6)
    else:
        assert gx is None and qgx is None


def test_blocked_input_gradients_warn_and_block(recwarn):
    import qnn_torch

    feature_map, ansatz = zz_feature_map(2), real_amplitudes(2, reps=1)
    qnn = qnn_torch.EstimatorQNN(circuit=feature_map.compose(ansatz), input_params=feature_map.parameters,
                                 weight_params=ansatz.parameters)
    model = qnn_torch.TorchConnector(neural_network=qnn)
    assert model.neural_network is qnn
    x = torch.rand(3, 2, requires_grad=True)
    with pytest.warns(UserWarning, match="input_gradients=False, so no gradient flows to them"):
        model(x).sum().backward()
    assert x.grad is None and model.weight.grad is not None
    qnn.input_gradients = True  # settable, as in qiskit-machine-learning
    model(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


@pytest.mark.parametrize("kwargs", [{"engine": "auto"}, {"engine": "compiled"}, {"engine": "qnode"},
                                    {"device": "lightning.qubit"}, {"device": "qiskit.aer"}],
                         ids=lambda k: "/".join(k.values()))
def test_qiskit_circuits_on_every_engine_and_device(kwargs, rng):
    """A Qiskit circuit with expressions of inputs and weights (``w*x``, ``(pi - x0)*(pi - x1)``)."""
    from qiskit.circuit import ParameterVector
    from qiskit.quantum_info import SparsePauliOp

    from qnn_torch import EstimatorQNN as Ours

    from .. import qiskit_reference as ref
    from .parity_check import assert_parity, float32_weights

    x, w = ParameterVector("x", 3), ParameterVector("w", 6)
    qc = QuantumCircuit(3)
    qc.compose(zz_feature_map(3, reps=1, parameter_prefix="x").assign_parameters(list(x)), inplace=True)
    for layer in range(2):
        for i in range(3):
            qc.ry(w[3 * layer + i] * x[i], i)
        qc.cx(0, 1)
        qc.crz(w[3 * layer] - 0.5 * x[2], 1, 2)
    observables = [SparsePauliOp("ZZI"), SparsePauliOp.from_list([("XIY", 0.5), ("IZZ", -1.0)])]
    qk = ref.estimator(qc, list(x), list(w), observables)
    qnn = Ours(circuit=qc, input_params=list(x), weight_params=list(w), observables=observables,
               input_gradients=True, **kwargs)
    weights = float32_weights(rng, 6)
    from qnn_torch import TorchConnector as OurConnector

    assert_parity(OurConnector(qnn, initial_weights=weights), qk, rng.uniform(-1, 1, (3, 3)), weights)


def _two_qubit_circuit():
    from qiskit.circuit import ParameterVector

    x, w = ParameterVector("x", 2), ParameterVector("w", 2)
    qc = QuantumCircuit(2)
    qc.ry(x[0], 0)
    qc.ry(x[1], 1)
    qc.cx(0, 1)
    qc.ry(w[0], 0)
    qc.rx(w[1] * x[0], 1)
    return qc, list(x), list(w)


@pytest.mark.parametrize("interpret, output_shape", [(None, None), (lambda i: i % 2, 2)])
def test_sampler_outcomes_are_the_classical_bits(interpret, output_shape, rng):
    """A circuit measuring one of two qubits reports the value of its one classical bit, padded
    to 2**2 outcomes, as qiskit-machine-learning does (the probabilities of both qubits before).
    The register is named "meas": qiskit-machine-learning 0.9.1 reads other registers' counts
    summed over the whole batch."""
    from qiskit import ClassicalRegister
    from qiskit_machine_learning.neural_networks import SamplerQNN as QkSamplerQNN

    import qnn_torch

    logical, x, w = _two_qubit_circuit()
    qc = QuantumCircuit(2)
    qc.add_register(ClassicalRegister(1, "meas"))
    qc.compose(logical, inplace=True)
    qc.measure(1, 0)
    kwargs = dict(circuit=qc, input_params=x, weight_params=w, interpret=interpret, output_shape=output_shape,
                  input_gradients=True)
    ours, theirs = qnn_torch.SamplerQNN(**kwargs), QkSamplerQNN(**kwargs)
    inputs, weights = rng.uniform(-1, 1, (3, 2)), rng.uniform(-1, 1, 2)
    assert ours.output_shape == theirs.output_shape
    np.testing.assert_allclose(ours.forward(inputs, weights), theirs.forward(inputs, weights), atol=1e-10)
    for got, expected in zip(ours.backward(inputs, weights), theirs.backward(inputs, weights)):
        np.testing.assert_allclose(got, expected, atol=1e-6)


@pytest.mark.parametrize("measured", [False, True])
@pytest.mark.parametrize("kwargs", [{}, {"device": "qiskit.aer"}], ids=["default", "qiskit.aer"])
def test_transpiled_circuit_equals_the_logical_one(measured, kwargs, rng):
    """A circuit transpiled onto 5 qubits with its qubits at 3 and 1 gives the 4 probabilities
    of its logical qubits (qiskit-machine-learning 0.9.1 fails here: an IndexError without
    measurements, the bits at the wrong positions with them, so the oracles are Qiskit's
    Statevector and the untranspiled circuit)."""
    from qiskit import transpile
    from qiskit.providers.fake_provider import GenericBackendV2
    from qiskit.quantum_info import Statevector

    import qnn_torch

    logical, x, w = _two_qubit_circuit()
    qc = logical.copy()
    if measured:
        qc.measure_all()
    isa = transpile(qc, GenericBackendV2(5, seed=1), initial_layout=[3, 1], optimization_level=0)
    assert isa.num_qubits == 5
    qnn = qnn_torch.SamplerQNN(circuit=isa, input_params=x, weight_params=w, input_gradients=True, **kwargs)
    reference = qnn_torch.SamplerQNN(circuit=logical, input_params=x, weight_params=w, input_gradients=True)
    inputs, weights = rng.uniform(-1, 1, (3, 2)), rng.uniform(-1, 1, 2)
    assert qnn.output_shape == (4,)
    out = qnn.forward(inputs, weights)
    for row, probabilities in zip(inputs, out):
        bound = logical.assign_parameters({**dict(zip(x, row)), **dict(zip(w, weights))})
        np.testing.assert_allclose(probabilities, Statevector(bound).probabilities(), atol=1e-10)
    for got, expected in zip(qnn.backward(inputs, weights), reference.backward(inputs, weights)):
        np.testing.assert_allclose(got, expected, atol=1e-6)


def test_forward_takes_qiskit_machine_learning_input_shapes(rng):
    """A number for one input, and inputs of any leading shape: outputs ``(*lead, *output_shape)``."""
    import qnn_torch

    qc, x, w = ref.ry_ry_circuit()
    qnn = qnn_torch.EstimatorQNN(circuit=qc, input_params=x, weight_params=w,
                                 observables=[SparsePauliOp("Z"), SparsePauliOp("X")])
    inputs, weights = rng.uniform(-1, 1, (2, 3, 1)), rng.uniform(-1, 1, 1)
    out = qnn.forward(inputs, weights)
    assert out.shape == (2, 3, 2)
    np.testing.assert_allclose(out.reshape(6, 2), qnn.forward(inputs.reshape(6, 1), weights))
    np.testing.assert_allclose(qnn.forward(0.5, weights), qnn.forward([[0.5]], weights))
    with pytest.raises(ValueError, match=r"input_data must have shape .*num_inputs=1; got shape \(2, 3, 2\)"):
        qnn.forward(np.zeros((2, 3, 2)), weights)


def test_circuit_and_observables_as_qiskit_machine_learning_returns_them():
    import pennylane as qml

    import qnn_torch

    qc, x, w = ref.ry_ry_circuit()
    observable = SparsePauliOp.from_list([("Z", 1.0), ("X", 0.5)])
    qnn = qnn_torch.EstimatorQNN(circuit=qc, input_params=x, weight_params=w, observables=observable)
    assert qnn.circuit is qc
    assert qnn.observables == (observable,)  # one observable: a 1-tuple, as in qiskit-machine-learning
    default = qnn_torch.EstimatorQNN(circuit=qc, input_params=x, weight_params=w)
    assert default.observables == (SparsePauliOp("Z"),)
    template = qnn_torch.EstimatorQNN(2, observables=[qml.Z(0), qml.X(1)])
    assert template.observables == [qml.Z(0), qml.X(1)]
    assert template.circuit == template.qfunc  # not built from a Qiskit circuit: the function that queues it
