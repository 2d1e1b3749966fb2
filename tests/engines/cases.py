"""Networks that meet every kind of gate and measurement, for the tests that compare one engine
with the QNode engine (a helper module, not a test module)."""

from functools import partial

import numpy as np
import pennylane as qml
import torch
from qiskit.quantum_info import SparsePauliOp

from qnn_torch import EstimatorQNN, PauliFeatureMap, RealAmplitudes, SamplerQNN, TorchConnector, ZZFeatureMap

CASES = {
    "pauli-words": lambda **kw: EstimatorQNN(
        3, feature_map=partial(PauliFeatureMap, paulis=("X", "YZ", "ZXY"), reps=2, entanglement="circular"),
        ansatz=partial(RealAmplitudes, reps=2, entanglement="sca"),
        observables=[SparsePauliOp.from_list([("XYZ", 0.7), ("IIZ", -0.2)]), qml.Y(1) @ qml.X(2)], **kw),
    "pennylane-templates": lambda **kw: EstimatorQNN(
        3, feature_map=partial(qml.AngleEmbedding, rotation="X"),
        ansatz=partial(qml.StronglyEntanglingLayers, n_layers=2), observables=[qml.Hermitian(
            np.diag([1.0, -2.0, 0.5, 3.0]), wires=[0, 2])], **kw),
    "probabilities": lambda **kw: SamplerQNN(
        3, feature_map=ZZFeatureMap, ansatz=partial(RealAmplitudes, reps=1), **kw),
    "custom-gates": lambda **kw: EstimatorQNN(
        2, feature_map=lambda x, wires: [qml.RX(x[..., 0], wires[0]), qml.IsingXX(x[..., 1], wires)],
        num_inputs=2,
        ansatz=lambda w, wires: [qml.CRY(w[..., 0], wires),
                                 qml.Rot(w[..., 1], w[..., 2], w[..., 3], wires[1]), qml.S(wires[0])],
        num_weights=4, observables=[qml.X(0), qml.Z(0) @ qml.Y(1)], **kw),
}
"""dict: network factories taking the network's keyword arguments (``engine=``)."""


def assert_equals_the_qnode_engine(engine: str, case: str, batch: int, rng) -> None:
    """Outputs and gradients (inputs, weight) of a float64 ``TorchConnector`` on ``engine`` equal those
    on the QNode engine, for the same inputs, weights and output weighting."""
    compiled, plain = CASES[case](engine=engine), CASES[case](engine="qnode")
    assert compiled.engine == engine and plain.engine == "qnode"
    w = rng.uniform(-1, 1, compiled.num_weights)
    x = rng.uniform(-1, 1, (batch, compiled.num_inputs))
    results = []
    for qnn in (compiled, plain):
        model = TorchConnector(qnn, initial_weights=w)
        model.weight.data = torch.tensor(w)  # compare in float64
        xt = torch.tensor(x, requires_grad=True)
        out = model(xt)
        g = torch.randn(out.shape, generator=torch.Generator().manual_seed(0), dtype=out.dtype)
        gx, gw = torch.autograd.grad((out * g).sum(), (xt, model.weight))
        results.append((out.detach(), gx, gw))
    assert compiled.engine == engine  # it did not fall back
    for a, b in zip(*results):
        assert torch.allclose(a, b, atol=1e-10)
