"""Outputs and gradients equal qiskit-machine-learning 0.9's networks on exact devices."""

from functools import partial

import numpy as np
import pennylane as qml
import pytest
import torch
from qiskit.quantum_info import SparsePauliOp

from qnn_torch import EstimatorQNN, RealAmplitudes, SamplerQNN, TorchConnector, ZZFeatureMap, parity

from .. import qiskit_reference as ref
from .parity_check import assert_parity, float32_weights

# default.qubit runs on the adjoint path by default; "/compiled" and "/qnode" force the others
DEVICES = ["default.qubit", "default.qubit/compiled", "default.qubit/qnode", "lightning.qubit"]


def device_kwargs(device):
    name, _, engine = device.partition("/")
    return {"device": name, "engine": engine or "auto"}


ESTIMATOR_CASES = [
    # n, fm_reps, ra_reps, entanglement, observables (Qiskit labels) or None
    (2, 2, 3, "reverse_linear", None),
    (2, 1, 1, "linear", ["ZI", "IZ", "XY"]),
    (3, 2, 2, "full", None),
    (3, 1, 2, "sca", ["ZII", "XYZ", "IIY"]),
    (3, 2, 1, "circular", [[("ZZI", 0.5), ("XIX", -1.5)], "YIZ"]),
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("n, fm_reps, ra_reps, ent, labels", ESTIMATOR_CASES)
def test_estimator_matches_qiskit(device, n, fm_reps, ra_reps, ent, labels, rng):
    qk_obs = None
    if labels is not None:
        qk_obs = [SparsePauliOp.from_list(label) if isinstance(label, list) else SparsePauliOp(label)
                  for label in labels]
    circuit, inputs, weights = ref.zz_ra_circuit(n, fm_reps, ra_reps, ent)
    qk = ref.estimator(circuit, inputs, weights, qk_obs)
    qnn = EstimatorQNN(
        n, feature_map=partial(ZZFeatureMap, reps=fm_reps),
        ansatz=partial(RealAmplitudes, reps=ra_reps, entanglement=ent),
        observables=qk_obs, **device_kwargs(device),
    )
    assert (qnn.num_inputs, qnn.num_weights) == (qk.num_inputs, qk.num_weights)
    assert qnn.output_shape == qk.output_shape
    w = float32_weights(rng, qnn.num_weights)
    x = rng.uniform(-1, 1, (4, n))
    assert_parity(TorchConnector(qnn, initial_weights=w), qk, x, w)


def test_pennylane_observables_equal_sparse_pauli_ops(rng):
    """qml.Z(1) is Qiskit's 'ZI' (little-endian), and sums convert with their coefficients."""
    x, w = rng.uniform(-1, 1, (3, 2)), float32_weights(rng, 8)
    pl = EstimatorQNN(2, observables=[qml.Z(1), 0.5 * qml.X(0) @ qml.Y(1) - qml.Z(0)])
    qk = EstimatorQNN(2, observables=[SparsePauliOp("ZI"),
                                      SparsePauliOp.from_list([("YX", 0.5), ("IZ", -1)])])
    a = TorchConnector(pl, initial_weights=w)(torch.tensor(x))
    b = TorchConnector(qk, initial_weights=w)(torch.tensor(x))
    assert torch.allclose(a, b, atol=1e-12)


SAMPLER_CASES = [
    (2, 1, "linear", parity, 2),
    (2, 3, "reverse_linear", None, None),
    (3, 1, "full", lambda i: min(i, 2), 3),  # not symmetric under bit reversal
    (3, 2, "sca", lambda i: (i % 2, (i >> 2) % 2), (2, 2)),
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("n, ra_reps, ent, interpret, shape", SAMPLER_CASES)
def test_sampler_matches_qiskit(device, n, ra_reps, ent, interpret, shape, rng):
    circuit, inputs, weights = ref.zz_ra_circuit(n, 2, ra_reps, ent)
    qk = ref.sampler(circuit, inputs, weights, interpret, shape)
    qnn = SamplerQNN(
        n, ansatz=partial(RealAmplitudes, reps=ra_reps, entanglement=ent),
        interpret=interpret, output_shape=shape, **device_kwargs(device),
    )
    assert qnn.output_shape == qk.output_shape
    w = float32_weights(rng, qnn.num_weights)
    x = rng.uniform(-1, 1, (3, n))
    model = TorchConnector(qnn, initial_weights=w)
    assert model(torch.tensor(x)).shape == (3, *qk.output_shape)
    assert_parity(model, qk, x, w)


def test_plain_function_blocks_match_qiskit(rng):
    """The seed's regression network: RY(x) then RY(w) on one qubit, given as plain functions."""
    circuit, inputs, weights = ref.ry_ry_circuit()
    qk = ref.estimator(circuit, inputs, weights)
    qnn = EstimatorQNN(
        1, feature_map=lambda x, wires: qml.RY(x[..., 0], wires[0]), num_inputs=1,
        ansatz=lambda w, wires: qml.RY(w[..., 0], wires[0]), num_weights=1,
    )
    w = float32_weights(rng, 1)
    assert_parity(TorchConnector(qnn, initial_weights=w), qk, rng.uniform(-3, 3, (5, 1)), w)


def test_pennylane_templates_as_blocks(rng):
    """PennyLane's own templates size themselves from their ``shape``."""
    qnn = EstimatorQNN(
        3, feature_map=partial(qml.AngleEmbedding, rotation="Y"),
        ansatz=partial(qml.StronglyEntanglingLayers, n_layers=2),
    )
    assert (qnn.num_inputs, qnn.num_weights) == (3, 18)
    w = rng.uniform(-1, 1, 18)
    x = rng.uniform(-1, 1, 3)
    dev = qml.device("default.qubit", wires=3)

    @qml.qnode(dev)
    def by_hand():
        qml.AngleEmbedding(x, wires=range(3), rotation="Y")
        qml.StronglyEntanglingLayers(w.reshape(2, 3, 3), wires=range(3))
        return qml.expval(qml.Z(0) @ qml.Z(1) @ qml.Z(2))

    model = TorchConnector(qnn, initial_weights=w.astype(np.float32))
    model.weight.data = torch.tensor(w)  # exact comparison in float64
    assert np.isclose(model(torch.tensor(x)).item(), by_hand(), atol=1e-12)


@pytest.mark.parametrize("engine", ["adjoint", "torch-adjoint", "auto"])
def test_parameters_in_exponents_run_on_the_adjoint_engines(engine, rng):
    """Angles with a parameter in an exponent (``2 ** x``, ``(x + 4) ** (v / 4)``) run on the adjoint
    engines' generated programs (they refused them: "pow with a tensor exponent"). The outputs equal
    qiskit-machine-learning's; the gradients equal central differences of its outputs: its own
    gradients are wrong here (qiskit 2.3 differentiates these expressions wrongly: -0.319 where the
    differences give 0.128)."""
    from qiskit import QuantumCircuit
    from qiskit.circuit import ParameterVector

    x, v = ParameterVector("x", 2), ParameterVector("v", 2)
    qc = QuantumCircuit(2)
    qc.h([0, 1])
    qc.ry(2 ** (x[0] + 1) - 1.5, 0)
    qc.rz((x[1] + 4) ** (v[0] / 4), 1)
    qc.cx(0, 1)
    qc.rx(0.5 ** (x[0] * v[1]), 1)
    qc.ry(x[1] ** 2 * v[1], 0)
    qk = ref.estimator(qc, list(x), list(v))
    qnn = EstimatorQNN(circuit=qc, input_params=list(x), weight_params=list(v), engine=engine,
                       input_gradients=True)
    assert qnn.engine == ("adjoint" if engine == "auto" else engine)
    xs, w = rng.uniform(-1, 1, (3, 2)), rng.uniform(-1, 1, 2)
    out, (gin, gw) = qnn.forward(xs, w), qnn.backward(xs, w)
    np.testing.assert_allclose(out, qk.forward(xs, w), atol=1e-10)
    eps = 1e-5
    for i in range(2):
        step = eps * np.eye(2)[i]
        d_input = (qk.forward(xs + step, w) - qk.forward(xs - step, w)) / (2 * eps)
        d_weight = (qk.forward(xs, w + step) - qk.forward(xs, w - step)) / (2 * eps)
        np.testing.assert_allclose(gin[:, :, i], d_input, atol=1e-8)
        np.testing.assert_allclose(gw[:, :, i], d_weight, atol=1e-8)
