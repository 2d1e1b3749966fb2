"""The adjoint and compiled paths equal the plain QNode path, and fall back when they must."""

from functools import partial

import numpy as np
import pennylane as qml
import pytest
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
        num_inputs=2, ansatz=lambda w, wires: [qml.CRY(w[..., 0], wires), qml.Rot(w[..., 1], w[..., 2], w[..., 3],
                                                                                 wires[1]), qml.S(wires[0])],
        num_weights=4, observables=[qml.X(0), qml.Z(0) @ qml.Y(1)], **kw),
}


@pytest.mark.parametrize("engine", ["adjoint", "compiled"])
@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("batch", [1, 5])
def test_fast_paths_equal_qnode(engine, case, batch, rng):
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


def test_value_dependent_circuit_falls_back_to_the_qnode(rng):
    def branching(x, wires):
        if x[..., 0].sum() > 0:  # reads a value: cannot be traced
            qml.RX(x[..., 0], wires[0])
        else:
            qml.RY(x[..., 0], wires[0])

    qnn = EstimatorQNN(1, feature_map=branching, num_inputs=1, ansatz=lambda w, wires: qml.RZ(w[..., 0], wires[0]),
                       num_weights=1)
    model = TorchConnector(qnn, initial_weights=[0.3])
    with pytest.warns(RuntimeWarning) as record:
        out = model(torch.tensor([[0.5]]))
    messages = [str(r.message) for r in record]
    assert any("the adjoint engine is unavailable, using the torch-adjoint engine" in m for m in messages)
    assert any("the torch-adjoint engine is unavailable, using the compiled engine" in m for m in messages)
    assert any("the compiled engine is unavailable, using the qnode engine" in m for m in messages)
    assert qnn.engine == "qnode" and qnn.engine_fallback
    assert torch.allclose(out, torch.cos(torch.tensor([[0.5]])), atol=1e-6)


def test_engine_argument():
    with pytest.raises(ValueError, match="engine must be one of 'auto', 'adjoint', 'torch-adjoint', 'compiled', 'qnode'; got 'fast'"):
        EstimatorQNN(2, engine="fast")
    with pytest.raises(ValueError, match="engine 'compiled' needs device 'default.qubit' with shots=None"):
        EstimatorQNN(2, engine="compiled", device="lightning.qubit")
    with pytest.raises(ValueError, match="engine 'adjoint' needs device 'default.qubit' with shots=None"):
        EstimatorQNN(2, engine="adjoint", shots=100)
    with pytest.raises(ValueError, match="engine 'adjoint' takes at most 8 qubits; got num_qubits=9"):
        EstimatorQNN(9, engine="adjoint")
    assert EstimatorQNN(2, shots=100).engine == "qnode"


@pytest.mark.parametrize("kind, qubits, engine", [
    (EstimatorQNN, 1, "adjoint"), (EstimatorQNN, 6, "adjoint"), (EstimatorQNN, 7, "torch-adjoint"),
    (SamplerQNN, 5, "adjoint"), (SamplerQNN, 6, "torch-adjoint"),  # 64 probabilities: 64 bras
    (SamplerQNN, 7, "compiled"),  # 128 probabilities: too many bras to sweep
])
def test_auto_engine_by_size(kind, qubits, engine):
    qnn = kind(qubits, feature_map=qml.AngleEmbedding, ansatz=partial(RealAmplitudes, reps=1))
    assert qnn.engine == engine
    assert kind(2, diff_method="backprop").engine == "compiled"
    assert EstimatorQNN(9, diff_method="adjoint").engine == "torch-adjoint"
    parity_network = SamplerQNN(9, interpret=lambda b: b % 2, output_shape=2)  # two outputs: two bras
    assert parity_network.engine == "torch-adjoint"


def _ansatz_then_hadamards(w, wires):
    RealAmplitudes(w, wires=wires, reps=1)
    for wire in wires:  # a last constant block that is not a permutation: it cannot fold into probabilities
        qml.Hadamard(wire)


@pytest.mark.slow
@pytest.mark.parametrize("kind", [EstimatorQNN, SamplerQNN])
@pytest.mark.parametrize("ansatz", ["real-amplitudes", "then-hadamards"])
def test_adjoint_on_eight_qubits_equals_compiled(kind, ansatz, rng):
    """The largest register the adjoint path takes, with many outputs for probabilities."""
    block = partial(RealAmplitudes, reps=1) if ansatz == "real-amplitudes" else _ansatz_then_hadamards
    make = partial(kind, 8, feature_map=partial(ZZFeatureMap, reps=1), ansatz=block, num_weights=16
                   if ansatz == "then-hadamards" else None)
    adjoint, compiled = make(engine="adjoint"), make(engine="compiled")
    w = rng.uniform(-1, 1, adjoint.num_weights)
    x = torch.tensor(rng.uniform(-1, 1, (3, 8)))
    outs = []
    for qnn in (adjoint, compiled):
        out, jacobians = qnn.differentiate(x, torch.tensor(w))
        outs.append([out, *jacobians])
    for a, b in zip(*outs):
        assert torch.allclose(a, b, atol=1e-10)


def test_batched_weights_on_the_adjoint_path(rng):
    qnn = CASES["custom-gates"](engine="adjoint")
    x = torch.tensor(rng.uniform(-1, 1, (4, qnn.num_inputs)))
    w = torch.tensor(rng.uniform(-1, 1, (4, qnn.num_weights)))
    with torch.no_grad():
        together = qnn.evaluate(x, w)
        alone = torch.cat([qnn.evaluate(x[i:i + 1], w[i]) for i in range(4)])
    assert torch.allclose(together, alone, atol=1e-12)


def test_required_engine_raises_instead_of_falling_back():
    def branching(x, wires):
        if x[..., 0].sum() > 0:
            qml.RX(x[..., 0], wires[0])

    qnn = EstimatorQNN(1, feature_map=branching, num_inputs=1, engine="adjoint",
                       ansatz=lambda w, wires: qml.RZ(w[..., 0], wires[0]), num_weights=1)
    with pytest.raises(RuntimeError, match="Tracing|data-dependent|Boolean|bool"):
        TorchConnector(qnn, initial_weights=[0.3])(torch.tensor([[0.5]]))
