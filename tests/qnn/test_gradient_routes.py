"""A gradient with a primitive of its own: the network's outputs on the network's primitive, its
Jacobians on the gradient's, as qiskit-machine-learning runs them; and SPSA on networks without
weights, inputs or parameters.

Oracles: qiskit-machine-learning 0.9 in this process (exact parts within 1e-6, SPSA draws equal for
the same seed) and ``Statevector`` (sampled parts within 5 standard deviations of the shot noise or
precision).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from qiskit.circuit import Parameter, QuantumCircuit
from qiskit.primitives import StatevectorEstimator, StatevectorSampler
from qiskit.providers.fake_provider import GenericBackendV2
from qiskit.quantum_info import Statevector
from qiskit.transpiler.preset_passmanagers import generate_preset_pass_manager

import qnn_torch

from ..qiskit_ml_port import shift_rule_sigma
from .test_primitives import ANSATZ, CIRCUIT, FEATURES, SIGMAS, W, X, build, exact_outputs

grads = pytest.importorskip("qiskit_machine_learning.gradients")
from qiskit_machine_learning.primitives import QMLEstimator, QMLSampler  # noqa: E402

SHOTS = 2000


def _sampled(kind: str, seed: int):
    """A sampling primitive: the estimator at EstimatorQNN's default precision 0.015625, the sampler
    at SHOTS shots."""
    return StatevectorEstimator(seed=seed) if kind == "estimator" else StatevectorSampler(
        default_shots=SHOTS, seed=seed)


def _exact(kind: str):
    return QMLEstimator() if kind == "estimator" else QMLSampler()


def _param_shift(kind: str, primitive):
    cls = grads.ParamShiftEstimatorGradient if kind == "estimator" else grads.ParamShiftSamplerGradient
    return cls(primitive)


def _forward_sigma(kind: str) -> np.ndarray:
    """The standard deviation of one sampled forward value."""
    exact = exact_outputs(kind)
    if kind == "estimator":
        return np.full_like(exact, 0.015625)
    return np.sqrt(exact * (1 - exact) / SHOTS)


@pytest.mark.parametrize("kind", ["estimator", "sampler"])
def test_sampled_network_with_an_exact_gradient_primitive(kind):
    """Outputs sampled by the network's primitive, Jacobians exact from the gradient's: the same
    Jacobians as qiskit-ml's, a training step one job on the network's primitive."""
    def make(ours):
        exact = _exact(kind)
        return build(kind, ours, **{kind: _sampled(kind, 7)}, gradient=_param_shift(kind, exact))

    ours, theirs = make(True), make(False)
    assert ours.spec.label.startswith("backend:") and ours._gradient_engines.engine != "qnode"
    for mine, their in zip(ours.backward(X, W), theirs.backward(X, W)):
        np.testing.assert_allclose(mine, their, atol=1e-6)
    bound = SIGMAS * _forward_sigma(kind) + 1e-9
    np.testing.assert_array_less(np.abs(ours.forward(X, W) - exact_outputs(kind)), bound)

    model = qnn_torch.TorchConnector(ours, initial_weights=W).double()
    x = torch.tensor(X, requires_grad=True)
    jobs = ours.spec.device.jobs
    out = model(x)
    out.sum().backward()
    assert ours.spec.device.jobs == jobs + 1  # the forward pass; the Jacobians ran on the exact engines
    np.testing.assert_array_less(np.abs(out.detach().numpy() - exact_outputs(kind)), bound)
    theirs_x, theirs_w = theirs.backward(X, W)
    np.testing.assert_allclose(model.weight.grad.numpy(), theirs_w.sum(axis=(0, 1)), atol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), theirs_x.sum(axis=1), atol=1e-6)


@pytest.mark.parametrize("outputs", [None, 2])  # 2**n probabilities (a pending VJP), or parity
def test_exact_network_with_a_sampled_gradient_primitive(outputs):
    """Outputs exact, as qiskit-ml's; Jacobians by parameter shifts through the gradient's own
    sampler, within 5 standard deviations of the exact ones, in one job per step."""
    parity = {"interpret": lambda b: bin(b).count("1") % 2, "output_shape": 2} if outputs else {}
    ours = build("sampler", True, sampler=QMLSampler(), **parity,
                 gradient=_param_shift("sampler", StatevectorSampler(default_shots=SHOTS, seed=3)))
    theirs = build("sampler", False, sampler=QMLSampler(), **parity)
    np.testing.assert_allclose(ours.forward(X, W), theirs.forward(X, W), atol=1e-6)
    assert ours.spec.label == "default.qubit"
    gradient_device = ours._gradient_engines.spec.device
    parameters = [*FEATURES.parameters, *ANSATZ.parameters]
    for (mine_x, mine_w), (their_x, their_w), row in zip(
            (ours.backward(x, W) for x in X), (theirs.backward(x, W) for x in X), X):
        sigma = shift_rule_sigma(CIRCUIT, parameters, dict(zip(parameters, [*row, *W])), SHOTS)
        if outputs:  # a class sums probabilities of two outcomes: twice the deviation at most
            sigma = 2 * sigma
        for mine, their, bound in ((mine_x, their_x, sigma[:2]), (mine_w, their_w, sigma[2:])):
            diff = np.abs(mine - their)
            np.testing.assert_array_less(diff, np.broadcast_to(SIGMAS * bound + 1e-9, diff.shape))

    jobs = gradient_device.jobs
    model = qnn_torch.TorchConnector(ours, initial_weights=W)
    model(torch.tensor(X, requires_grad=True)).sum().backward()
    assert gradient_device.jobs == jobs + 1


def test_two_sampled_primitives_run_one_job_each_per_step():
    sampler = StatevectorSampler(default_shots=100, seed=1)
    gradient_sampler = StatevectorSampler(default_shots=200, seed=2)
    ours = build("sampler", True, sampler=sampler, gradient=_param_shift("sampler", gradient_sampler))
    network, gradient = ours.spec.device, ours._gradient_engines.spec.device
    assert network.primitive is sampler and gradient.primitive is gradient_sampler
    model = qnn_torch.TorchConnector(ours, initial_weights=W)
    model(torch.tensor(X, requires_grad=True)).sum().backward()
    assert (network.jobs, gradient.jobs) == (1, 1)
    assert model.weight.grad.abs().sum() > 0
    ours.set_interpret(lambda b: b % 2, 2)  # a new head: both routes follow it
    assert ours._gradient_engines.circuit is ours.description
    assert ours.backward(X, W)[1].shape == (len(X), 2, ANSATZ.num_parameters)


def test_a_backward_pass_that_wants_no_gradient_runs_no_circuit():
    """No weights and input_gradients=False: qiskit-ml's backward runs no job and gives (None, None)."""
    from qiskit_machine_learning.neural_networks import SamplerQNN

    inputs = [*FEATURES.parameters, *ANSATZ.parameters]
    rows = np.concatenate([X, np.tile(W, (len(X), 1))], axis=1)
    nets = [cls(circuit=CIRCUIT, input_params=inputs, sampler=StatevectorSampler(default_shots=10, seed=1),
                gradient=_param_shift("sampler", StatevectorSampler(default_shots=10, seed=2)))
            for cls in (qnn_torch.SamplerQNN, SamplerQNN)]
    assert [net.backward(rows, None) for net in nets] == [(None, None)] * 2
    assert (nets[0].spec.device.jobs, nets[0]._gradient_engines.spec.device.jobs) == (0, 0)


def test_spsa_with_a_primitive_of_its_own_perturbs_there():
    """SPSAEstimatorGradient(QMLEstimator()) beside a sampling estimator: the forward rows on the
    network's estimator, the perturbed points on the exact one: qiskit-ml's estimates."""
    def make(ours):
        gradient = grads.SPSAEstimatorGradient(QMLEstimator(), epsilon=0.01, batch_size=2, seed=5)
        return build("estimator", ours, estimator=StatevectorEstimator(seed=1), gradient=gradient)

    ours, theirs = make(True), make(False)
    for mine, their in zip(ours.backward(X, W), theirs.backward(X, W)):
        np.testing.assert_allclose(mine, their, atol=1e-6)
    network_jobs = ours.spec.device.jobs
    out, _ = ours.differentiate(torch.tensor(X), torch.tensor(W))
    assert ours.spec.device.jobs == network_jobs + 1  # the forward rows only
    bound = SIGMAS * _forward_sigma("estimator")
    np.testing.assert_array_less(np.abs(out.numpy() - exact_outputs("estimator")), bound)


def test_upstream_runtime_session_with_an_exact_gradient():
    """qiskit-ml's own test set-up: SamplerV2(mode=Session(generic backend)) on a transpiled
    circuit, ParamShiftSamplerGradient(sampler=QMLSampler(), pass_manager=...): the Jacobians of
    qiskit-ml, the outputs sampled on the backend (one job, 2**2 logical outcomes)."""
    from qiskit_ibm_runtime import SamplerV2, Session

    backend = GenericBackendV2(num_qubits=5, seed=1)
    pm = generate_preset_pass_manager(optimization_level=1, backend=backend)
    circuit = CIRCUIT.copy()
    circuit.measure_all()
    circuit = pm.run(circuit)

    def make(cls):
        return cls(sampler=SamplerV2(mode=Session(backend=backend)), circuit=circuit,
                   input_params=FEATURES.parameters, weight_params=ANSATZ.parameters, input_gradients=True,
                   gradient=grads.ParamShiftSamplerGradient(sampler=QMLSampler(), pass_manager=pm))

    from qiskit_machine_learning.neural_networks import SamplerQNN

    ours, theirs = make(qnn_torch.SamplerQNN), make(SamplerQNN)
    for mine, their in zip(ours.backward(X, W), theirs.backward(X, W)):
        np.testing.assert_allclose(mine, their, atol=1e-6)
    out = ours.forward(X, W)
    assert out.shape == (len(X), 4) and ours.spec.device.jobs == 1
    np.testing.assert_allclose(out.sum(axis=1), 1.0, atol=1e-9)


def _two_parameter_circuit(measured: bool):
    params = [Parameter("p0"), Parameter("p1")]
    qc = QuantumCircuit(1)
    qc.h(0)
    qc.ry(params[0], 0)
    qc.rx(params[1], 0)
    if measured:  # qiskit-ml's sampler networks read the classical bits
        qc.measure_all()
    return qc, params


@pytest.mark.parametrize("kind", ["estimator", "sampler"])
@pytest.mark.parametrize("parts", ["inputs", "weights", "none"])
def test_spsa_without_weights_inputs_or_parameters(kind, parts):
    """qiskit-ml's SPSA gradients on networks with only inputs, only weights, or no parameters
    (upstream's test_no_parameters): the same results and, since a backward pass that wants no
    gradient draws nothing, the same draws afterwards."""
    qc, params = _two_parameter_circuit(kind == "sampler")
    arguments = {"inputs": {"input_params": params}, "weights": {"weight_params": params},
                 "none": {"circuit": qc.assign_parameters([1.0, 2.0])}}[parts]
    x = [1.0, 2.0] if parts == "inputs" else None
    w = [1.0, 2.0] if parts == "weights" else None

    def make(ours):
        import qiskit_machine_learning.neural_networks as qk

        cls = (qnn_torch if ours else qk).EstimatorQNN if kind == "estimator" else (
            qnn_torch if ours else qk).SamplerQNN
        gradient_cls = grads.SPSAEstimatorGradient if kind == "estimator" else grads.SPSASamplerGradient
        gradient = gradient_cls(_exact(kind), epsilon=0.01, batch_size=2, seed=4)
        return cls(**{"circuit": qc, **arguments}, **{kind: _exact(kind)}, gradient=gradient)

    ours, theirs = make(True), make(False)
    expected = theirs.forward(x, w)
    if parts == "none" and kind == "sampler":  # qiskit-ml 0.9.1 gives zeros here: Statevector's
        bound = qc.remove_final_measurements(inplace=False).assign_parameters([1.0, 2.0])
        expected = Statevector(bound).probabilities()[None]
    np.testing.assert_allclose(ours.forward(x, w), expected, atol=1e-6)
    for _ in range(2):  # the first without input gradients, the second with them
        for mine, their in zip(ours.backward(x, w), theirs.backward(x, w)):
            assert (mine is None) == (their is None)
            if mine is not None:
                np.testing.assert_allclose(mine, their, atol=1e-6)
        ours.input_gradients = theirs.input_gradients = True
    if parts == "none":  # the tensor API: Jacobians without columns, nothing drawn
        state = ours._spsa.rng.bit_generator.state
        out, jacobians = ours.differentiate(torch.zeros(2, 0, dtype=torch.float64), torch.zeros(0))
        assert [tuple(j.shape) for j in jacobians] == [(2, out.shape[1], 0)] * 2
        assert ours._spsa.rng.bit_generator.state == state
