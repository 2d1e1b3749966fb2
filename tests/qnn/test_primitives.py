"""``estimator=`` and ``sampler=``: every primitive a qiskit-machine-learning 0.9 user passes runs, with
qiskit-machine-learning's results (exact primitives: the same numbers) and statistics; the seeded
statevector primitives are tested in test_statevector_draws.py.

qiskit-machine-learning 0.9, in this process, is the oracle.
"""

from __future__ import annotations

import numpy as np
import pennylane as qml
import pytest
import torch
from qiskit.circuit.library import real_amplitudes, zz_feature_map
from qiskit.primitives import BaseEstimatorV2, StatevectorEstimator
from qiskit.providers.fake_provider import GenericBackendV2
from qiskit.quantum_info import SparsePauliOp, Statevector
from qiskit.transpiler.preset_passmanagers import generate_preset_pass_manager
from qiskit_ibm_runtime.fake_provider import FakeManilaV2

import qnn_torch

qk = pytest.importorskip("qiskit_machine_learning.neural_networks")
qml_primitives = pytest.importorskip("qiskit_machine_learning.primitives")
QMLEstimator, QMLSampler = qml_primitives.QMLEstimator, qml_primitives.QMLSampler

SIGMAS = 5.0
FEATURES = zz_feature_map(2)
ANSATZ = real_amplitudes(2, reps=1)
CIRCUIT = FEATURES.compose(ANSATZ)
X = np.array([[0.1, 0.2], [0.3, -0.4], [-1.2, 0.7]])
W = np.linspace(-1.0, 1.0, ANSATZ.num_parameters)
OBSERVABLES = [SparsePauliOp("ZZ"), SparsePauliOp.from_list([("XI", 0.5), ("IZ", -1.0)])]


def build(kind: str, ours: bool, **kwargs):
    """An EstimatorQNN (two observables) or SamplerQNN on CIRCUIT, qnn_torch's or qiskit-ml's."""
    if kind == "estimator":
        cls = qnn_torch.EstimatorQNN if ours else qk.EstimatorQNN
        kwargs.setdefault("observables", OBSERVABLES)
    else:
        cls = qnn_torch.SamplerQNN if ours else qk.SamplerQNN
    kwargs.setdefault("input_gradients", True)
    return cls(circuit=CIRCUIT, input_params=FEATURES.parameters, weight_params=ANSATZ.parameters, **kwargs)


def exact_outputs(kind: str) -> np.ndarray:
    """Statevector's expectation values ``(B, 2)`` or probabilities ``(B, 4)``."""
    rows = []
    for x in X:
        state = Statevector(CIRCUIT.assign_parameters(np.concatenate([x, W])))
        rows.append([state.expectation_value(o).real for o in OBSERVABLES] if kind == "estimator"
                    else state.probabilities())
    return np.array(rows)


def assert_same(ours, theirs, atol=1e-6):
    np.testing.assert_allclose(ours.forward(X, W), theirs.forward(X, W), atol=atol)
    for mine, their in zip(ours.backward(X, W), theirs.backward(X, W)):
        assert (mine is None) == (their is None)
        if mine is not None:
            np.testing.assert_allclose(mine, their, atol=atol)


@pytest.mark.parametrize("kind, make", [
    ("estimator", lambda: None),
    ("estimator", QMLEstimator),
    ("estimator", StatevectorEstimator),  # run at default_precision=0, its gradients at its own 0
    ("sampler", lambda: None),
    ("sampler", QMLSampler),
])
def test_exact_primitives_run_on_the_exact_engines(kind, make):
    precision = {"default_precision": 0.0} if kind == "estimator" and make() is not None else {}
    ours = build(kind, True, **{kind: make()}, **precision)
    assert ours.spec.label == "default.qubit" and ours.engine != "qnode"
    assert_same(ours, build(kind, False, **{kind: make()}, **precision))


def test_statevector_estimator_adds_the_default_precision_as_noise():
    precision = 0.05
    ours = build("estimator", True, estimator=StatevectorEstimator(), default_precision=precision)
    assert ours.default_precision == precision
    samples = np.stack([ours.forward(X, W) for _ in range(40)])  # (40, B, 2)
    exact = exact_outputs("estimator")
    np.testing.assert_allclose(samples.mean(0), exact, atol=SIGMAS * precision / np.sqrt(40))
    assert abs((samples - exact).std() - precision) < SIGMAS * precision / np.sqrt(2 * samples.size)
    # its gradient circuits run at the estimator's own default precision, 0: exact
    _, grad = ours.backward(X, W)
    _, exact_grad = build("estimator", True).backward(X, W)
    np.testing.assert_allclose(grad, exact_grad, atol=1e-6)


@pytest.mark.parametrize("kind", ["estimator", "sampler"])
def test_aer_primitives_run_with_their_options(kind):
    from qiskit_aer.noise import NoiseModel, depolarizing_error
    from qiskit_aer.primitives import EstimatorV2, SamplerV2

    shots = 4000
    if kind == "sampler":
        primitive = SamplerV2(default_shots=shots, seed=3)
    else:
        primitive = EstimatorV2(options={"run_options": {"seed": 3}})
    ours = build(kind, True, **{kind: primitive})
    out, exact = ours.forward(X, W), exact_outputs(kind)
    if kind == "sampler":  # binomial noise of each probability
        sigma = np.sqrt(exact * (1 - exact) / shots)
        np.testing.assert_array_less(np.abs(out - exact), SIGMAS * sigma + 1e-9)
    else:  # run at default_precision 0.015625
        np.testing.assert_array_less(np.abs(out - exact), SIGMAS * ours.default_precision)
    # the options are the primitive's own: a noise model that flips every bit is honoured
    noise = NoiseModel()
    noise.add_all_qubit_quantum_error(depolarizing_error(1.0, 1), ["sx", "x", "rz", "ry", "h", "p", "u"])
    noisy = SamplerV2(default_shots=shots, seed=3, options={"backend_options": {"noise_model": noise}})
    flat = build("sampler", True, sampler=noisy).forward(X, W)
    np.testing.assert_array_less(np.abs(flat - 0.25), SIGMAS * np.sqrt(0.25 * 0.75 / shots))


@pytest.mark.parametrize("kind", ["estimator", "sampler"])
def test_a_training_step_on_a_runtime_primitive_is_one_job(kind):
    """EstimatorV2(mode=fake_backend): a forward pass with all its parameter-shift circuits in one
    job, as device='fake:...' runs it."""
    from qiskit_ibm_runtime import EstimatorV2, SamplerV2

    backend = FakeManilaV2()
    primitive = EstimatorV2(mode=backend) if kind == "estimator" else SamplerV2(mode=backend)
    qnn = build(kind, True, **{kind: primitive})
    dev = qnn.spec.device
    assert dev.backend is backend and dev.primitive is primitive
    model = qnn_torch.TorchConnector(qnn, initial_weights=W)
    x = torch.tensor(X[:2], requires_grad=True)
    with qml.Tracker(dev) as tracker:  # the first output: the probabilities of a sampler sum to 1
        model(x)[:, 0].sum().backward()
    assert tracker.totals["jobs"] == 1 == dev.jobs
    assert model.weight.grad.abs().sum() > 0 and x.grad.abs().sum() > 0


def test_runtime_primitive_in_a_session_keeps_its_mode():
    from qiskit_ibm_runtime import EstimatorV2, Session

    backend = GenericBackendV2(2, noise_info=False, seed=3)
    session = Session(backend=backend)
    estimator = EstimatorV2(mode=session, options={"default_shots": 4000})
    pm = generate_preset_pass_manager(backend=backend, optimization_level=0)
    ours = build("estimator", True, estimator=estimator, pass_manager=pm)
    assert ours.spec.device.session is session
    out = ours.forward(X, W)
    np.testing.assert_array_less(np.abs(out - exact_outputs("estimator")), SIGMAS * 0.015625 * 1.5)


class _CountingEstimator(BaseEstimatorV2):
    """A primitive of the user's own: Statevector expectation values, its run calls counted."""

    def __init__(self):
        self.calls, self._inner = 0, QMLEstimator()  # exact: ignores every precision

    def run(self, pubs, *, precision=None):
        self.calls += 1
        return self._inner.run(pubs, precision=precision)


def test_any_other_primitive_runs_through_its_own_run_once_per_step():
    estimator = _CountingEstimator()
    ours = build("estimator", True, estimator=estimator)
    model = qnn_torch.TorchConnector(ours, initial_weights=W)
    out = model(torch.tensor(X))
    out.sum().backward()
    assert estimator.calls == 1
    np.testing.assert_allclose(out.detach().numpy(), exact_outputs("estimator"), atol=1e-6)
    _, grad = build("estimator", True).backward(X, W)
    np.testing.assert_allclose(model.weight.grad.numpy(), grad.sum(axis=(0, 1)), atol=1e-6)


def test_pass_manager_transpiles_as_qiskit_ml_does():
    pm = generate_preset_pass_manager(backend=GenericBackendV2(4, seed=1), optimization_level=1)
    ours = build("sampler", True, sampler=QMLSampler(), pass_manager=pm)
    theirs = build("sampler", False, sampler=QMLSampler(), pass_manager=pm)
    assert ours.circuit.layout is not None and ours.output_shape == theirs.output_shape == (4,)
    assert_same(ours, theirs)
    ours_e = qnn_torch.EstimatorQNN(circuit=CIRCUIT, input_params=FEATURES.parameters,
                                    weight_params=ANSATZ.parameters, pass_manager=pm)
    theirs_e = qk.EstimatorQNN(circuit=CIRCUIT, input_params=FEATURES.parameters,
                               weight_params=ANSATZ.parameters, pass_manager=pm)
    assert_same(ours_e, theirs_e)


def test_bad_primitives_and_conflicts_are_named():
    with pytest.raises(TypeError, match="estimator must be None or a Qiskit BaseEstimatorV2.*got 'fast'"):
        build("estimator", True, estimator="fast")
    with pytest.raises(TypeError, match="sampler must be None or a Qiskit BaseSamplerV2.*got <"):
        build("sampler", True, sampler=StatevectorEstimator())
    with pytest.raises(TypeError, match="SamplerQNN takes sampler=, not estimator="):
        build("sampler", True, estimator=StatevectorEstimator())
    with pytest.raises(ValueError, match="give estimator= or device=, not both.*got device='fake:Fake"):
        build("estimator", True, estimator=StatevectorEstimator(), device="fake:FakeManilaV2")
    with pytest.raises(ValueError, match="give sampler= or shots=, not both"):
        build("sampler", True, sampler=QMLSampler(), shots=100)
    with pytest.raises(ValueError, match="default_precision must be a number >= 0; got -0.1"):
        build("estimator", True, default_precision=-0.1)
    with pytest.raises(TypeError, match="pass_manager must be a Qiskit pass manager.*got 3"):
        build("estimator", True, pass_manager=3)
    # consistent: an exact primitive on the default device
    assert build("estimator", True, estimator=QMLEstimator(), device="default.qubit").engine != "qnode"
