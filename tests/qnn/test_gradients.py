"""``gradient=``: qiskit-machine-learning's gradient objects and qnn_torch's SPSA.

qiskit-machine-learning 0.9, in this process, is the oracle: its SPSA gradients with the same seed
give the same estimates; its parameter-shift and linear-combination gradients on exact primitives
the same values.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from qiskit.primitives import BaseEstimatorV2, StatevectorSampler

import qnn_torch
from qnn_torch.devices.primitive import PrimitiveDevice

from .test_primitives import ANSATZ, W, X, build

grads = pytest.importorskip("qiskit_machine_learning.gradients")
from qiskit_machine_learning.primitives import QMLEstimator, QMLSampler  # noqa: E402

SIGMAS = 5.0


def primitive(kind):
    return QMLEstimator() if kind == "estimator" else QMLSampler()


def gradient(kind, family, prim, **kwargs):
    name = f"{family}{'Estimator' if kind == 'estimator' else 'Sampler'}Gradient"
    return getattr(grads, name)(prim, **kwargs)


@pytest.mark.parametrize("kind", ["estimator", "sampler"])
@pytest.mark.parametrize("input_gradients", [True, False])
def test_spsa_gives_qiskit_ml_estimates_for_the_same_seed(kind, input_gradients):
    def make(ours):
        prim = primitive(kind)
        qnn = build(kind, ours, **{kind: prim},
                    gradient=gradient(kind, "SPSA", prim, epsilon=0.01, batch_size=3, seed=11))
        qnn.input_gradients = input_gradients
        return qnn

    ours, theirs = make(True), make(False)
    for _ in range(2):  # the generator advances with every step, as qiskit-ml's
        for mine, their in zip(ours.backward(X, W), theirs.backward(X, W)):
            assert (mine is None) == (their is None)
            if mine is not None:
                np.testing.assert_allclose(mine, their, atol=1e-6)


@pytest.mark.parametrize("kind", ["estimator", "sampler"])
@pytest.mark.parametrize("family", ["ParamShift", "LinComb"])
def test_exact_gradients_run_on_the_exact_engines(kind, family):
    prim = primitive(kind)
    ours = build(kind, True, **{kind: prim}, gradient=gradient(kind, family, prim))
    theirs = build(kind, False, **{kind: prim}, gradient=gradient(kind, family, prim))
    assert ours.engine != "qnode" and ours.gradient is not None
    for mine, their in zip(ours.backward(X, W), theirs.backward(X, W)):
        np.testing.assert_allclose(mine, their, atol=1e-6)


def test_spsa_is_unbiased_and_costs_two_circuits_per_sample_and_draw():
    """Averaged over many draws, SPSA estimates the exact gradient; on a sampling primitive one
    step is one run call of 2 * batch_size circuits per sample, however many weights."""
    draws = 2000
    ours = build("estimator", True, gradient=qnn_torch.SPSA(epsilon=1e-4, batch_size=draws, seed=3))
    exact_in, exact_w = build("estimator", True).backward(X, W)
    spsa_in, spsa_w = ours.backward(X, W)
    # one draw's error along parameter j: sum over the others of g_i delta_i, variance sum g_i^2
    exact = np.concatenate([exact_in, exact_w], axis=-1)
    spread = np.sqrt((exact**2).sum(-1, keepdims=True) - exact**2) / np.sqrt(draws)
    estimate = np.concatenate([spsa_in, spsa_w], -1)
    np.testing.assert_array_less(np.abs(estimate - exact), SIGMAS * spread + 1e-6)

    sampler = StatevectorSampler(default_shots=100, seed=1)
    net = build("sampler", True, sampler=sampler, gradient=qnn_torch.SPSA(epsilon=0.1, batch_size=2, seed=1))
    model = qnn_torch.TorchConnector(net, initial_weights=W)
    model(torch.tensor(X, requires_grad=True)).sum().backward()
    device = net.spec.device
    assert device.jobs == 1 and device.circuits_run == len(X) * (1 + 2 * 2)
    assert ANSATZ.num_parameters + 2 > 2 * 2  # more parameters than SPSA's circuits per sample


def test_lin_comb_on_a_sampling_primitive_says_it_runs_parameter_shifts():
    sampler = StatevectorSampler(default_shots=100, seed=1)
    with pytest.warns(UserWarning, match="LinCombSamplerGradient on a sampling primitive runs as param"):
        build("sampler", True, sampler=sampler, gradient=gradient("sampler", "LinComb", sampler))


def test_bad_gradients_are_named():
    with pytest.raises(TypeError, match="gradient of EstimatorQNN must be None, qnn_torch.SPSA.*got 'adj"):
        build("estimator", True, gradient="adjoint")
    with pytest.raises(TypeError, match="gradient of SamplerQNN must be.*ParamShiftSamplerGradient.*got <"):
        build("sampler", True, gradient=gradient("estimator", "ParamShift", QMLEstimator()))
    with pytest.raises(ValueError, match="epsilon must be a positive number; got 0"):
        qnn_torch.SPSA(epsilon=0)
    with pytest.raises(ValueError, match="batch_size must be a positive integer; got 0"):
        qnn_torch.SPSA(batch_size=0)
    with pytest.raises(TypeError, match="seed must be None, an integer or a numpy Generator; got 'x'"):
        qnn_torch.SPSA(seed="x")


class _RecordingEstimator(BaseEstimatorV2):
    """Exact expectation values; records each run call's PUB sizes and precisions."""

    def __init__(self):
        self.calls, self._inner = [], QMLEstimator()

    def run(self, pubs, *, precision=None):
        pubs = list(pubs)
        self.calls.append([(np.asarray(pub[2]).shape[0], pub[3] if len(pub) > 3 else None) for pub in pubs])
        return self._inner.run(pubs, precision=precision)


def test_spsa_on_an_estimator_device_is_one_job_at_both_precisions():
    """The batch at default_precision, the perturbed points at the estimator's own, in one run call;
    the estimates those of qnn_torch's SPSA on the exact engines with the same seed."""
    estimator = _RecordingEstimator()
    spsa = qnn_torch.SPSA(epsilon=0.01, batch_size=2, seed=4)
    net = build("estimator", True, estimator=estimator, gradient=spsa, default_precision=0.02)
    assert isinstance(net.spec.device, PrimitiveDevice)
    model = qnn_torch.TorchConnector(net, initial_weights=W)
    x = torch.tensor(X, requires_grad=True)
    model(x).sum().backward()
    assert net.spec.device.jobs == 1 and len(estimator.calls) == 1
    # rows of the batch, then 2 * batch_size perturbed points per sample (every output measured in both)
    assert estimator.calls[0] == [(len(X), 0.02), (len(X) * 2 * 2, None)]
    exact = build("estimator", True, gradient=qnn_torch.SPSA(epsilon=0.01, batch_size=2, seed=4))
    _, grad_w = exact.backward(X, W)
    np.testing.assert_allclose(model.weight.grad.numpy(), grad_w.sum(axis=(0, 1)), atol=1e-6)
