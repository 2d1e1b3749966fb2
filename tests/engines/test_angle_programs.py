"""The angles of a circuit's angle gates: generated NumPy programs per input shape, or computed
eagerly (the first calls of large circuits, and angles no program can compute); the same numbers
either way."""

from functools import partial

import pennylane as qml
import pytest
import torch

from qnn_torch import EstimatorQNN, RealAmplitudes, ZZFeatureMap
from qnn_torch.engines import EngineUnavailable, QNodeEngine, TorchAdjointEngine, torch_adjoint
from qnn_torch.engines.angle_programs import AnglePrograms
from qnn_torch.engines.decomposition import circuit_leaves


def _network():
    return EstimatorQNN(9, feature_map=partial(ZZFeatureMap, reps=1),
                        ansatz=partial(RealAmplitudes, reps=1, entanglement="full"),
                        observables=[qml.Z(0) @ qml.Z(8), qml.X(4), 0.5 * qml.Y(2) @ qml.X(7) - qml.Z(3)])


def _reference(qnn, x, w):
    return QNodeEngine(qnn.description, qnn.spec, "backprop", False).values_and_jacobians(x, w, True, True)


def _assert_equal(result, reference):
    assert torch.allclose(result[0], reference[0], atol=1e-10, rtol=0)
    for j, ref in zip(result[1], reference[1]):
        assert torch.allclose(j, ref, atol=1e-10, rtol=0)


@pytest.mark.parametrize("batched_weights", [False, True])
def test_a_program_and_eager_angles_agree(batched_weights, rng):
    qnn = EstimatorQNN(3, feature_map=partial(ZZFeatureMap, reps=1))
    x = torch.tensor(rng.uniform(-2, 2, (4, 3)))
    w = torch.tensor(rng.uniform(-2, 2, (4, qnn.num_weights) if batched_weights else qnn.num_weights))
    decisions, leaves, _ = circuit_leaves(qnn.description, x[:1], w if w.dim() == 1 else w[0])
    angles = AnglePrograms(qnn.description, decisions, sum(kind == "angle" for kind, _ in leaves))
    theta, dtheta = angles(x, w, True)(x.numpy(), w.numpy())
    eager_theta, eager_dtheta = angles.eager(x, w, True)
    assert torch.allclose(torch.as_tensor(theta), eager_theta, atol=1e-12)
    assert torch.allclose(torch.as_tensor(dtheta).reshape(eager_dtheta.shape), eager_dtheta, atol=1e-12)
    assert torch.allclose(torch.as_tensor(angles(x, w, False)(x.numpy(), w.numpy())), eager_theta, atol=1e-12)
    assert angles.nbytes() > 0


def test_large_registers_generate_their_angle_program_after_the_first_eager_call(rng, monkeypatch):
    """From EAGER_ANGLES_QUBITS, the first call of an input shape queues the circuit (no trace) and
    the next one generates the angle program, which later calls reuse: the same numbers each time."""
    counts = {"eager": 0, "compiled": 0}
    eager, compile_ = AnglePrograms.eager, AnglePrograms.__call__

    def counted_eager(self, *args):
        counts["eager"] += 1
        return eager(self, *args)

    def counted_compile(self, x, w, tangents):
        key = (tuple(x.shape), tuple(w.shape), tangents)
        counts["compiled"] += key not in self._programs
        return compile_(self, x, w, tangents)

    monkeypatch.setattr(AnglePrograms, "eager", counted_eager)
    monkeypatch.setattr(AnglePrograms, "__call__", counted_compile)
    monkeypatch.setattr(torch_adjoint, "EAGER_ANGLES_QUBITS", 0)
    qnn = _network()
    x = torch.tensor(rng.uniform(-2, 2, (3, qnn.num_inputs)))
    w = torch.tensor(rng.uniform(-2, 2, qnn.num_weights))
    engine = TorchAdjointEngine(qnn.description)
    _assert_equal(engine.values_and_jacobians(x, w, True, True), _reference(qnn, x, w))
    engine.values(x, w)  # first calls (with and without tangents): eager
    assert counts == {"eager": 2, "compiled": 0}
    first = engine.values_and_jacobians(x, w, True, True)
    assert counts == {"eager": 2, "compiled": 1}
    again = engine.values_and_jacobians(x, w, True, True)
    assert counts == {"eager": 2, "compiled": 1}
    for result in (first, again):
        _assert_equal(result, _reference(qnn, x, w))
    engine.values_and_jacobians(x[:2], w, True, True)  # a new shape: eager again first
    assert counts == {"eager": 3, "compiled": 1}


def _clamped(inputs, weights):
    """Angles through ``torch.clamp``, which the generated angle programs do not translate."""
    qml.AngleEmbedding(torch.clamp(inputs, -1.0, 1.0), wires=range(3), rotation="Y")
    qml.CNOT([0, 2])
    qml.RX(torch.clamp(weights[..., 0] * inputs[..., 1], -0.5, 0.5), wires=1)
    qml.CNOT([1, 2])
    qml.RY(weights[..., 1], wires=2)


def test_angles_without_a_program_stay_eager(rng, monkeypatch):
    monkeypatch.setattr(torch_adjoint, "EAGER_ANGLES_QUBITS", 0)
    qnn = EstimatorQNN(3, circuit=_clamped, num_inputs=3, num_weights=2, observables=[qml.Z(2), qml.X(1)])
    x = torch.tensor(rng.uniform(-2, 2, (4, 3)))
    w = torch.tensor(rng.uniform(-2, 2, 2))
    engine = TorchAdjointEngine(qnn.description)
    reference = _reference(qnn, x, w)
    for _ in range(3):  # eager, then a program that cannot be generated, then eager for good
        _assert_equal(engine.values_and_jacobians(x, w, True, True), reference)
    angles = engine.plan(None, None).angles
    assert ((4, 3), (2,), True) in angles._eager_only and not angles._programs
    with pytest.raises(EngineUnavailable):  # what the engine met: no program can be generated
        angles(x, w, True)


def test_sub_batches_of_one_call_count_as_one_eager_call(rng, monkeypatch):
    compiled = []
    monkeypatch.setattr(torch_adjoint, "EAGER_ANGLES_QUBITS", 0)
    monkeypatch.setattr(torch_adjoint, "CACHE_BYTES", 16 * 2**9 * 2)  # two samples per sub-batch
    qnn = _network()
    engine = TorchAdjointEngine(qnn.description)
    x = torch.tensor(rng.uniform(-2, 2, (6, qnn.num_inputs)))
    w = torch.tensor(rng.uniform(-2, 2, qnn.num_weights))
    engine.values_and_jacobians(x, w, True, True)  # three sub-batches of the same shape: all eager
    angles = engine.plan(None, None).angles
    original = type(angles).__call__
    monkeypatch.setattr(type(angles), "__call__", lambda self, *a: compiled.append(a) or original(self, *a))
    engine.values_and_jacobians(x, w, True, True)
    assert len(compiled) == 1 and len(angles._programs) == 1  # the next call generates it once
