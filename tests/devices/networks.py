"""The networks every device runs in the device tests, their reference numbers on PennyLane's
``default.qubit``, and the shot noise a sampled device may add to them (:func:`noise_scale`).

The circuits are the ones users run: the tutorial's four networks (which have more than ten gate
parameters: Qiskit orders parameters by name, ``p10`` before ``p2``), larger registers with
30 or more parameters, several observables, Pauli feature maps with X and Y words and
probabilities without ``interpret``.
"""

from __future__ import annotations

from functools import lru_cache, partial

import numpy as np
import pennylane as qml
import torch
from qiskit.quantum_info import SparsePauliOp

from qnn_torch import (
    EstimatorQNN,
    PauliFeatureMap,
    RealAmplitudes,
    SamplerQNN,
    TorchConnector,
    ZZFeatureMap,
    parity,
)

SIGMAS = 5.0
"""float: how many standard deviations of shot noise a sampled device may be off."""
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


def observables_4q():
    """Three observables of a 4-qubit network, one a weighted sum."""
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
        lambda **kw: EstimatorQNN(4, ansatz=partial(RealAmplitudes, reps=6), observables=observables_4q(),
                                  **kw),
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
                                ansatz=partial(RealAmplitudes, reps=1), interpret=parity, output_shape=2,
                                **kw),
        None),
    "sampler-probabilities-3q": (
        lambda **kw: SamplerQNN(3, ansatz=partial(RealAmplitudes, reps=2), **kw), None),
}


def network(kind: str, device, **kwargs):
    """A 2-qubit network with 4 weights: an estimator, or a sampler with a parity head."""
    if kind == "estimator":
        return EstimatorQNN(2, ansatz=partial(RealAmplitudes, reps=1), device=device, **kwargs)
    return SamplerQNN(2, ansatz=partial(RealAmplitudes, reps=1), interpret=parity, output_shape=2,
                      device=device, **kwargs)


def training_losses(model, x, y, optimizer, steps: int, loss_fn=torch.nn.functional.mse_loss) -> list[float]:
    """The loss before each of ``steps`` full-batch steps of ``optimizer``."""
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def num_qubits(name: str) -> int:
    """The qubits of network ``name``."""
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
