"""Qiskit's statevector primitives with a precision or shots: the exact engines, the primitives' draws.

qiskit-machine-learning 0.9 in this process is the oracle: with the same seed (an integer, or a
``numpy.random.Generator`` in the same state) its networks on ``StatevectorEstimator``,
``StatevectorSampler``, ``QMLEstimator`` and ``QMLSampler`` give the same numbers, call after call;
with ``seed=None`` the numbers are checked against ``Statevector`` within 5 standard deviations.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from qiskit.primitives import StatevectorEstimator, StatevectorSampler
from qiskit.providers.fake_provider import GenericBackendV2
from qiskit.transpiler.preset_passmanagers import generate_preset_pass_manager

import qnn_torch
from qnn_torch.devices.primitive import PrimitiveDevice

from .test_primitives import SIGMAS, W, X, build, exact_outputs

qml_primitives = pytest.importorskip("qiskit_machine_learning.primitives")
grads = pytest.importorskip("qiskit_machine_learning.gradients")
qk_torch = pytest.importorskip("qiskit_machine_learning.connectors")
QMLEstimator, QMLSampler = qml_primitives.QMLEstimator, qml_primitives.QMLSampler


def on_exact_engines(qnn) -> bool:
    return qnn.spec.label == "default.qubit" and qnn.engine != "qnode"


PRIMITIVES = [  # (kind, a factory: called once per library, so generators start in the same state)
    ("estimator", lambda: StatevectorEstimator(seed=7)),  # forward noise, exact gradients
    ("estimator", lambda: StatevectorEstimator(seed=7, default_precision=0.05)),  # noise cancels
    ("estimator", lambda: StatevectorEstimator(seed=np.random.default_rng(3), default_precision=0.05)),
    ("estimator", lambda: QMLEstimator(default_precision=0.02, seed=np.random.default_rng(4))),
    ("sampler", lambda: StatevectorSampler(default_shots=300, seed=5)),
    ("sampler", lambda: StatevectorSampler(default_shots=300, seed=np.random.default_rng(6))),
    ("sampler", lambda: QMLSampler(shots=200, seed=np.random.default_rng(8))),
]


IDS = ["sv-est-int", "sv-est-int-grad-noise", "sv-est-generator", "qml-est-generator", "sv-sampler-int",
       "sv-sampler-generator", "qml-sampler-generator"]


@pytest.mark.parametrize("input_gradients", [True, False])
@pytest.mark.parametrize("kind, make", PRIMITIVES, ids=IDS)
def test_seeded_primitives_give_qiskit_ml_numbers_call_after_call(kind, make, input_gradients):
    """Two observables (one PUB each, an integer seed restarting in each), input angles shifted only
    with input gradients (fewer draws without): forward, backward, forward again agree."""
    kwargs = {"input_gradients": input_gradients}
    if kind == "sampler":
        kwargs.update(interpret=lambda b: b % 3, output_shape=3)
    ours = build(kind, True, **{kind: make()}, **kwargs)
    theirs = build(kind, False, **{kind: make()}, **kwargs)
    assert on_exact_engines(ours)
    for _ in range(2):
        np.testing.assert_allclose(ours.forward(X, W), theirs.forward(X, W), atol=1e-6)
        for mine, their in zip(ours.backward(X, W), theirs.backward(X, W)):
            assert (mine is None) == (their is None)
            if mine is not None:
                np.testing.assert_allclose(mine, their, atol=1e-6)


def test_the_draws_are_there():
    """Not exact: the forward noise, and the gradient noise where it does not cancel."""
    estimator = StatevectorEstimator(seed=np.random.default_rng(3), default_precision=0.05)
    noisy = build("estimator", True, estimator=estimator)
    exact = build("estimator", True)
    assert np.abs(noisy.forward(X, W) - exact.forward(X, W)).max() > 1e-3
    for mine, their in zip(noisy.backward(X, W), exact.backward(X, W)):
        assert np.abs(mine - their).max() > 1e-3
    sampled = build("sampler", True, sampler=StatevectorSampler(default_shots=300, seed=5))
    assert np.abs(sampled.forward(X, W) - exact_outputs("sampler")).max() > 1e-3


@pytest.mark.parametrize("kind, make", [PRIMITIVES[2], PRIMITIVES[5]], ids=[IDS[2], IDS[5]])
def test_training_steps_through_torch_connector_give_qiskit_ml_gradients(kind, make):
    """The forward pass draws before the gradient, step after step, as in qiskit-ml's TorchConnector."""
    models = []
    for ours in (True, False):
        qnn = build(kind, ours, **{kind: make()})
        cls = qnn_torch.TorchConnector if ours else qk_torch.TorchConnector
        models.append(cls(qnn, initial_weights=W))
    for _ in range(2):
        outs, grads_ = [], []
        for model in models:
            x = torch.tensor(X, requires_grad=True)
            out = model(x)
            (out * torch.arange(1.0, out.shape[1] + 1)).sum().backward()
            outs.append(out.detach().numpy())
            grads_.append((model.weight.grad.numpy().copy(), x.grad.numpy()))
            model.weight.grad = None
        np.testing.assert_allclose(outs[0], outs[1], atol=1e-5)  # float32 outputs
        for mine, their in zip(*grads_):
            np.testing.assert_allclose(mine, their, atol=1e-5)


def test_spsa_on_a_noisy_estimator_gives_qiskit_ml_estimates():
    """SPSA's perturbed points at the estimator's precision 0: exact; the forward pass noisy."""
    nets = []
    for ours in (True, False):
        estimator = StatevectorEstimator(seed=9)
        gradient = grads.SPSAEstimatorGradient(estimator, epsilon=0.01, batch_size=2, seed=11)
        nets.append(build("estimator", ours, estimator=estimator, gradient=gradient))
    assert on_exact_engines(nets[0])
    np.testing.assert_allclose(nets[0].forward(X, W), nets[1].forward(X, W), atol=1e-6)
    for mine, their in zip(nets[0].backward(X, W), nets[1].backward(X, W)):
        np.testing.assert_allclose(mine, their, atol=1e-6)


def test_unseeded_sampler_has_the_shot_statistics():
    shots, repeats = 400, 20
    qnn = build("sampler", True, sampler=StatevectorSampler(default_shots=shots))
    assert on_exact_engines(qnn)
    samples = np.stack([qnn.forward(X, W) for _ in range(repeats)])  # (R, B, 4)
    exact = exact_outputs("sampler")
    assert np.abs(samples[0] - samples[1]).max() > 0  # fresh entropy every call
    sigma = np.sqrt(exact * (1 - exact) / (shots * repeats))  # of the mean of R binomial frequencies
    np.testing.assert_array_less(np.abs(samples.mean(0) - exact), SIGMAS * sigma + 1e-12)
    spread = samples.std(0, ddof=1)
    np.testing.assert_array_less(np.abs(spread - np.sqrt(exact * (1 - exact) / shots)),
                                 SIGMAS * np.sqrt(exact * (1 - exact) / shots / (2 * (repeats - 1))) + 1e-12)


@pytest.mark.parametrize("kind", ["estimator", "sampler"])
def test_unseeded_gradients_scatter_around_the_exact_ones(kind):
    repeats = 30
    prim = StatevectorEstimator(default_precision=0.05) if kind == "estimator" else \
        StatevectorSampler(default_shots=1000)
    qnn = build(kind, True, **{kind: prim})
    _, exact = build(kind, True).backward(X, W)
    samples = np.stack([qnn.backward(X, W)[1] for _ in range(repeats)])
    spread = samples.std(0, ddof=1)
    assert spread.min() > 0
    np.testing.assert_array_less(np.abs(samples.mean(0) - exact), SIGMAS * spread / np.sqrt(repeats) + 1e-12)


def test_what_runs_the_primitive_as_given():
    """A pass manager, a linear-combination gradient with a precision, a sampler's SPSA: the primitive
    itself on PrimitiveDevice (their draws are not reproduced on the engines)."""
    pm = generate_preset_pass_manager(backend=GenericBackendV2(3, seed=1), optimization_level=0)
    sampler = StatevectorSampler(default_shots=100, seed=1)
    estimator = StatevectorEstimator(default_precision=0.05, seed=1)
    for kind, primitive, extra in (("estimator", estimator, {"observables": None}), ("sampler", sampler, {})):
        qnn = build(kind, True, **{kind: primitive}, pass_manager=pm, **extra)
        assert isinstance(qnn.spec.device, PrimitiveDevice)
    with pytest.warns(UserWarning, match="LinCombEstimatorGradient on a sampling primitive"):
        lin_comb = build("estimator", True, estimator=estimator,
                         gradient=grads.LinCombEstimatorGradient(estimator))
    assert isinstance(lin_comb.spec.device, PrimitiveDevice)
    spsa = build("sampler", True, sampler=sampler, gradient=grads.SPSASamplerGradient(sampler, seed=1))
    assert isinstance(spsa.spec.device, PrimitiveDevice)
    # an exact gradient with a noisy forward pass stays on the engines, with device= refused
    exact_gradient = StatevectorEstimator()
    assert on_exact_engines(build("estimator", True, estimator=exact_gradient,
                                  gradient=grads.LinCombEstimatorGradient(exact_gradient)))
    with pytest.raises(ValueError, match=r"give estimator= or shots=, not both \(estimator "
                                         r"StatevectorEstimator \(its draws on the exact engines\)"):
        build("estimator", True, estimator=StatevectorEstimator(), shots=100)


def test_gradient_circuits_of_more_than_ten_angles():
    """Qiskit orders the angles ``__gθ<k>`` by name (``__gθ10`` before ``__gθ2``): 21 angles here."""
    from qiskit.circuit.library import real_amplitudes, zz_feature_map

    features, ansatz = zz_feature_map(3), real_amplitudes(3, reps=2)
    rng = np.random.default_rng(0)
    x, w = rng.uniform(-1, 1, (2, 3)), rng.uniform(-1, 1, ansatz.num_parameters)
    nets = []
    qk = pytest.importorskip("qiskit_machine_learning.neural_networks")
    for cls in (qnn_torch.SamplerQNN, qk.SamplerQNN):
        sampler = StatevectorSampler(default_shots=100, seed=np.random.default_rng(2))
        nets.append(cls(circuit=features.compose(ansatz), input_params=features.parameters,
                        weight_params=ansatz.parameters, input_gradients=True, sampler=sampler))
    np.testing.assert_allclose(nets[0].forward(x, w), nets[1].forward(x, w), atol=1e-6)
    for mine, their in zip(nets[0].backward(x, w), nets[1].backward(x, w)):
        np.testing.assert_allclose(mine, their, atol=1e-6)
