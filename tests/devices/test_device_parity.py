"""The device switch never changes the answer: one model, every device, the same numbers.

Each circuit of the matrix is built by the same code on every device; outputs, input Jacobians
and (batch-summed) weight gradients are compared with PennyLane's own ``default.qubit`` QNode
(itself checked against Qiskit's ``Statevector`` below and against qiskit-machine-learning in
``test_qnn_parity.py``):

* exact devices to 1e-6;
* sampled devices within five standard deviations of the shot noise, derived for every entry
  from the shots, the observable's coefficients and the parameter-shift rule (see
  :func:`noise_scale`).

The circuits are the ones users run: the tutorial's four networks (which have more than ten gate
parameters: Qiskit orders parameters by name, ``p10`` before ``p2``), larger registers with
30 or more parameters, several observables, Pauli feature maps with X and Y words and
probabilities without ``interpret``.
"""

from __future__ import annotations

from functools import lru_cache, partial

import numpy as np
import pennylane as qml
import pytest
import torch
from qiskit.circuit.library import pauli_feature_map, real_amplitudes, zz_feature_map
from qiskit.providers.fake_provider import GenericBackendV2
from qiskit.quantum_info import SparsePauliOp, Statevector

from qnn_torch import (
    EstimatorQNN,
    PauliFeatureMap,
    RealAmplitudes,
    SamplerQNN,
    TorchConnector,
    ZZFeatureMap,
    parity,
)

from .. import qiskit_reference as ref

ATOL = 1e-6
SIGMAS = 5.0
BATCH = 2


def _ry(params, wires):
    qml.RY(params[..., 0], wires=wires[0])


_UNITARY = np.linalg.qr(np.array([[1.0, 2.0j], [0.5, -1.0 + 1.0j]]))[0]


def _fixed_then_encoded(params, wires):
    """Fixed gates (a unitary matrix, a Hadamard) before the encoding: applied on every device."""
    qml.QubitUnitary(_UNITARY, wires=wires[0])
    qml.Hadamard(wires=wires[1])
    qml.RY(params[..., 0], wires=wires[0])
    qml.RX(2.0 * params[..., 1], wires=wires[1])


def _controlled_rotations(params, wires):
    """Controlled rotations with input and weight angles (Aer drops such angles when they are
    bound as arrays, qiskit-aer #2323: the Aer device must not hand them to it as native gates)."""
    for w in wires:
        qml.Hadamard(wires=w)
    qml.CRX(params[..., 0], wires=[wires[0], wires[1]])
    qml.CRY(params[..., 1], wires=[wires[1], wires[2]])
    qml.CRZ(params[..., 0] * 0.5, wires=[wires[2], wires[0]])
    qml.ControlledPhaseShift(params[..., 1], wires=[wires[0], wires[2]])
    qml.RY(params[..., 2], wires=wires[1])


def _observables_4q():
    return [SparsePauliOp("ZZII"), SparsePauliOp("IXYI"),
            SparsePauliOp.from_list([("ZIIZ", 0.5), ("IXXI", -1.5)])]


# name -> (build(**device_kwargs) -> QNN, sum of |observable coefficients| per output or None for
# probabilities). Every network holds more than 10 gate parameters except the regression's.
CIRCUITS = {
    "tutorial-estimator": (lambda **kw: EstimatorQNN(2, **kw), None),
    "tutorial-sampler-parity": (
        lambda **kw: SamplerQNN(2, ansatz=partial(RealAmplitudes, reps=1, entanglement="linear"),
                                interpret=parity, output_shape=2, **kw), None),
    "tutorial-regression": (
        lambda **kw: EstimatorQNN(1, feature_map=_ry, num_inputs=1, ansatz=_ry, num_weights=1, **kw), None),
    "tutorial-hybrid": (lambda **kw: EstimatorQNN(2, ansatz=partial(RealAmplitudes, reps=1), **kw), None),
    "4q-48-params-3-observables": (
        lambda **kw: EstimatorQNN(4, ansatz=partial(RealAmplitudes, reps=6), observables=_observables_4q(), **kw),
        [1.0, 1.0, 2.0]),
    "6q-35-params": (
        lambda **kw: EstimatorQNN(6, feature_map=partial(ZZFeatureMap, reps=1, entanglement="linear"), **kw),
        None),
    "pauli-xy-3q": (
        lambda **kw: EstimatorQNN(3, feature_map=partial(PauliFeatureMap, paulis=("X", "YZ"), reps=1),
                                  ansatz=partial(RealAmplitudes, reps=2),
                                  observables=[SparsePauliOp("XII"), SparsePauliOp("IYZ")], **kw), None),
    "fixed-gates-2q": (
        lambda **kw: EstimatorQNN(2, feature_map=_fixed_then_encoded, num_inputs=2,
                                  observables=[qml.Z(0), qml.X(0) @ qml.Y(1)], **kw), None),
    "controlled-rotations-3q": (
        lambda **kw: EstimatorQNN(3, feature_map=_controlled_rotations, num_inputs=3,
                                  ansatz=partial(RealAmplitudes, reps=1),
                                  observables=[qml.Z(0) @ qml.Z(2), qml.X(1)], **kw), None),
    "controlled-rotations-sampler-3q": (
        lambda **kw: SamplerQNN(3, feature_map=_controlled_rotations, num_inputs=3,
                                ansatz=partial(RealAmplitudes, reps=1), interpret=parity, output_shape=2, **kw),
        None),
    "sampler-probabilities-3q": (
        lambda **kw: SamplerQNN(3, ansatz=partial(RealAmplitudes, reps=2), **kw), None),
}

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


def _num_qubits(name: str) -> int:
    return CIRCUITS[name][0]().num_qubits


def _data(qnn, seed=7):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (BATCH, qnn.num_inputs))
    # float32 values, as TorchConnector's weights are
    w = rng.uniform(-1, 1, qnn.num_weights).astype(np.float32).astype(np.float64)
    return x, w


def run(qnn, x, w):
    """Outputs ``(B, K)``, input Jacobians ``(B, K, I)`` and batch-summed weight gradients ``(K, W)``."""
    model = TorchConnector(qnn, initial_weights=w)
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    out = model(xt).reshape(len(x), -1)
    gx, gw = [], []
    for k in range(out.shape[1]):
        a, b = torch.autograd.grad(out[:, k].sum(), (xt, model.weight), retain_graph=True)
        gx.append(a)
        gw.append(b)
    return (out.detach().numpy(), torch.stack(gx, 1).numpy(), torch.stack(gw, 0).double().numpy())


@lru_cache(maxsize=None)
def reference(name: str):
    """PennyLane's ``default.qubit`` QNode (backpropagation) on the circuit's data."""
    qnn = CIRCUITS[name][0](device="default.qubit", engine="qnode")
    x, w = _data(qnn)
    return (x, w), run(qnn, x, w)


# variance of a gate's parameter-shift derivative, in units of σ²/2 (σ: the std of one estimate):
# the two-term rule (f(θ+π/2) - f(θ-π/2))/2 has σ²/2; the four-term rule of the controlled
# rotations (PennyLane's, frequencies 1/2 and 1) has 2σ²(c₊² + c₋²) = 3σ²/8 with
# c± = (√2 ± 1)/(4√2)
_SHIFT_VARIANCE = {"RX": 1.0, "RY": 1.0, "RZ": 1.0, "PhaseShift": 1.0, "ControlledPhaseShift": 1.0,
                   "CRX": 0.75, "CRY": 0.75, "CRZ": 0.75}


def _gates(op):
    """The trainable one-parameter gates ``op`` runs as, with their shift rule's variance factor."""
    if op.num_params == 0:
        return []
    if op.name in _SHIFT_VARIANCE:
        return [(op, _SHIFT_VARIANCE[op.name])]
    return [g for sub in op.decomposition() for g in _gates(sub)]


def noise_scale(qnn, x, w):
    """``S[b, p] = sum_g v_g (d theta_g / d p)^2`` over the gates of sample ``b``, for the inputs
    and then the weights ``p``.

    Each gate derivative is a parameter-shift combination of independent estimates of standard
    deviation at most ``σ``: variance ``v_g σ²/2`` (``v_g = 1`` for the two-term rule
    ``(f(θ + π/2) - f(θ - π/2)) / 2``, see ``_SHIFT_VARIANCE``). By the chain rule a
    parameter's derivative has variance at most ``σ²/2 * S[b, p]``.
    """
    rows = []
    for xb in x:
        xt = torch.tensor(xb[None], requires_grad=True)
        wt = torch.tensor(w, requires_grad=True)
        ops, _ = qnn.description.queue(xt, wt)
        angles = [(g.data[0], v) for op in ops for g, v in _gates(op)
                  if isinstance(g.data[0], torch.Tensor) and g.data[0].requires_grad]
        s = torch.zeros(qnn.num_inputs + qnn.num_weights, dtype=torch.float64)
        for angle, v in angles:
            dx, dw = torch.autograd.grad(angle.sum(), (xt, wt), retain_graph=True, allow_unused=True)
            dx = torch.zeros(qnn.num_inputs, dtype=torch.float64) if dx is None else dx.reshape(-1)
            dw = torch.zeros(qnn.num_weights, dtype=torch.float64) if dw is None else dw.reshape(-1)
            s += v * torch.cat([dx, dw]) ** 2
        rows.append(s.numpy())
    return np.array(rows)


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
               if EXACT_DEVICES[d] is not None or _num_qubits(c) <= 3]


@pytest.mark.parametrize("device, circuit", EXACT_CASES)
def test_exact_devices_match_default_qubit(device, circuit):
    (x, w), want = reference(circuit)
    kwargs = EXACT_DEVICES[device] or {"device": _stock_aer(_num_qubits(circuit))}
    qnn = CIRCUITS[circuit][0](**kwargs)
    assert_same(run(qnn, x, w), want, ATOL, ATOL, ATOL)


@pytest.mark.slow
@pytest.mark.parametrize("circuit", list(CIRCUITS))
@pytest.mark.parametrize("device", list(SAMPLED_DEVICES))
def test_sampled_devices_match_within_shot_noise(device, circuit):
    kwargs, shots = SAMPLED_DEVICES[device]
    n = _num_qubits(circuit)
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
        assert np.all(error <= tol + 1e-12), (
            f"{name}: largest error {error.max():.4g} against tolerance {np.broadcast_to(tol, error.shape).flat[error.argmax()]:.4g}")


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
    losses = []
    for _ in range(6):
        optimizer.zero_grad()
        loss = torch.mean((model(x) - y) ** 2)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
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
        observables = _observables_4q()
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
