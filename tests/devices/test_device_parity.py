"""The device switch never changes the answer: one model, every device, the same numbers.

Each network of :mod:`tests.devices.networks` is built by the same code on every device;
outputs, input Jacobians and (batch-summed) weight gradients are compared with PennyLane's own
``default.qubit`` QNode (itself checked against Qiskit's ``Statevector`` below and against
qiskit-machine-learning in ``tests/qnn/test_qiskit_ml_parity.py``):

* exact devices to 1e-6;
* sampled devices within five standard deviations of the shot noise, derived for every entry
  from the shots, the observable's coefficients and the parameter-shift rule (see
  :func:`~tests.devices.networks.noise_scale`).
"""

from __future__ import annotations

import numpy as np
import pennylane as qml
import pytest
import torch
from qiskit.circuit.library import pauli_feature_map, real_amplitudes, zz_feature_map
from qiskit.providers.fake_provider import GenericBackendV2
from qiskit.quantum_info import SparsePauliOp, Statevector

from qnn_torch import EstimatorQNN, SamplerQNN, TorchConnector

from .. import qiskit_reference as ref
from .networks import (BATCH, CIRCUITS, SIGMAS, noise_scale, num_qubits, observables_4q, reference, run,
                       training_losses)

ATOL = 1e-6

EXACT_DEVICES = {
    "default.qubit": {"device": "default.qubit"},
    "default.qubit/compiled": {"device": "default.qubit", "engine": "compiled"},
    "default.qubit/qnode": {"device": "default.qubit", "engine": "qnode"},
    "lightning.qubit": {"device": "lightning.qubit"},
    "qiskit.aer": {"device": "qiskit.aer"},
    # pennylane-qiskit's own device object, one transpilation per circuit: built per network below
    "pennylane-qiskit qiskit.aer object": None,
}

pytestmark = pytest.mark.filterwarnings("ignore:Qiskit backend .* has no QubitProperties:UserWarning")

SAMPLED_DEVICES = {
    "qiskit.aer shots=100000": ({"device": "qiskit.aer"}, 100_000),
    # a noiseless IBM-style backend: the whole remote path (transpilation to a coupling map,
    # runtime EstimatorV2/SamplerV2) with nothing but shot noise
    "GenericBackendV2 noiseless shots=20000": (None, 20_000),
}


def assert_same(got, want, out_atol, gx_atol, gw_atol):
    names = ("outputs", "input Jacobians", "weight gradients")
    for name, g, r, atol in zip(names, got, want, (out_atol, gx_atol, gw_atol)):
        np.testing.assert_allclose(g, r.reshape(g.shape), rtol=0, atol=atol, err_msg=name)


def _stock_aer(n):
    return qml.device("qiskit.aer", wires=n, method="statevector")


# the stock device transpiles each of its circuits on its own (the 4-qubit network's gradients
# take ~200 circuits and 45 s): it runs the circuits up to 3 qubits
EXACT_CASES = [pytest.param(d, c, marks=[pytest.mark.slow] if EXACT_DEVICES[d] is None else [])
               for d in EXACT_DEVICES for c in CIRCUITS
               if EXACT_DEVICES[d] is not None or num_qubits(c) <= 3]


@pytest.mark.parametrize("device, circuit", EXACT_CASES)
def test_exact_devices_match_default_qubit(device, circuit):
    (x, w), want = reference(circuit)
    kwargs = EXACT_DEVICES[device] or {"device": _stock_aer(num_qubits(circuit))}
    qnn = CIRCUITS[circuit][0](**kwargs)
    assert_same(run(qnn, x, w), want, ATOL, ATOL, ATOL)


@pytest.mark.slow
@pytest.mark.parametrize("circuit", list(CIRCUITS))
@pytest.mark.parametrize("device", list(SAMPLED_DEVICES))
def test_sampled_devices_match_within_shot_noise(device, circuit):
    kwargs, shots = SAMPLED_DEVICES[device]
    n = num_qubits(circuit)
    kwargs = kwargs or {"device": GenericBackendV2(max(n, 2), noise_info=False, seed=11)}
    build, coefficients = CIRCUITS[circuit]
    (x, w), want = reference(circuit)
    qnn = build(shots=shots, **kwargs)
    got = run(qnn, x, w)

    k_out = got[0].shape[1]
    if isinstance(qnn, SamplerQNN):  # a (sum of) probabilities: a binomial frequency
        sigma = np.full(k_out, 0.5 / np.sqrt(shots))
    else:  # std of a sum of Pauli terms <= sum of |coefficients| / sqrt(shots)
        sigma = np.asarray(coefficients or [1.0] * k_out) / np.sqrt(shots)
    s = noise_scale(qnn, x, w)  # (B, I + W)
    s_x, s_w = s[:, :qnn.num_inputs], s[:, qnn.num_inputs:]
    out_tol = SIGMAS * sigma[None, :]
    gx_tol = SIGMAS * sigma[None, :, None] * np.sqrt(s_x[:, None, :] / 2)
    gw_tol = SIGMAS * sigma[:, None] * np.sqrt(s_w.sum(0)[None, :] / 2)
    for name, g, r, tol in zip(("outputs", "input Jacobians", "weight gradients"), got, want,
                               (out_tol, gx_tol, gw_tol)):
        error = np.abs(g - r.reshape(g.shape))
        worst = np.broadcast_to(tol, error.shape).flat[error.argmax()]
        assert np.all(error <= tol + 1e-12), f"{name}: largest error {error.max():.4g}, tolerance {worst:.4g}"


@pytest.mark.slow
def test_noisy_fake_backend_still_trains():
    """A noisy IBM device model: the loss of the tutorial's default network still goes down."""
    from qiskit_ibm_runtime.fake_provider import FakeManilaV2

    torch.manual_seed(0)
    qnn = EstimatorQNN(2, device=FakeManilaV2(), shots=2048)
    model = TorchConnector(qnn)
    rng = np.random.default_rng(3)
    x = torch.tensor(rng.uniform(-1, 1, (8, 2)))
    y = torch.tensor(np.where(x[:, 0] * x[:, 1] > 0, 1.0, -1.0))[:, None]
    optimizer = torch.optim.Adam(model.parameters(), lr=0.2)
    losses = training_losses(model, x, y, optimizer, 6, lambda out, target: torch.mean((out - target) ** 2))
    assert min(losses[-2:]) < losses[0] - 0.1


# ---------------------------------------------------------------- the reference's own oracle

def _statevector_values(qc, inputs, weights, x, w, observables):
    values = {**dict(zip(inputs, x)), **dict(zip(weights, w))}
    state = Statevector(qc.assign_parameters(values))
    return np.array([state.expectation_value(o).real for o in observables])


@pytest.mark.parametrize("circuit", ["4q-48-params-3-observables", "6q-35-params", "pauli-xy-3q"])
def test_reference_equals_qiskit_statevector(circuit):
    (x, w), (out, _, _) = reference(circuit)
    if circuit == "4q-48-params-3-observables":
        qc, inputs, weights = ref.zz_ra_circuit(4, 2, 6)
        observables = observables_4q()
    elif circuit == "6q-35-params":
        fm, an = zz_feature_map(6, reps=1, entanglement="linear"), real_amplitudes(6, reps=3)
        qc, inputs, weights = fm.compose(an), list(fm.parameters), list(an.parameters)
        observables = [SparsePauliOp("Z" * 6)]
    else:
        fm = pauli_feature_map(3, reps=1, paulis=["X", "YZ"])
        an = real_amplitudes(3, reps=2)
        qc = fm.compose(an)
        inputs, weights = list(fm.parameters), list(an.parameters)
        observables = [SparsePauliOp("XII"), SparsePauliOp("IYZ")]
    for b in range(BATCH):
        np.testing.assert_allclose(out[b], _statevector_values(qc, inputs, weights, x[b], w, observables),
                                   atol=1e-10)
