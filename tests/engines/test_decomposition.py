"""Decomposition into leaf gates by an engine's rule, and the replay of the adjoint engines'
decisions."""

from functools import partial

import pennylane as qml
import pytest
import torch

from qnn_torch import EstimatorQNN, PauliFeatureMap, RealAmplitudes, ZZFeatureMap
from qnn_torch.engines import EngineUnavailable
from qnn_torch.engines.decomposition import (AngleBlock, angle_columns, angle_or_fixed, circuit_leaves,
                                             decompose, queue_tracked, replay_angles)
from qnn_torch.engines.leaf_matrices import LeafGate, fixed_matrix, generator_matrix


def test_decompose_walks_depth_first_in_order():
    ops = [qml.Hadamard(0), qml.Rot(0.1, 0.2, 0.3, wires=1), qml.CNOT([0, 1])]
    decisions = []
    leaves = decompose(ops, lambda op: None if op.name == "Rot" else "gate", decisions)
    assert [op.name for _, op in leaves] == ["Hadamard", "RZ", "RY", "RZ", "CNOT"]
    assert decisions == ["gate", "decompose", "gate", "gate", "gate", "gate"]


def test_angle_gates_are_those_that_depend_on_inputs_or_weights():
    w = torch.tensor([0.3, 0.4], requires_grad=True)
    assert angle_or_fixed(qml.RX(w[0], 0)) == "angle"
    assert angle_or_fixed(qml.RX(0.3, 0)) == "fixed"
    assert angle_or_fixed(qml.Rot(w[0], 0.1, w[1], wires=0)) is None  # three angles: decomposed

    class Opaque(qml.operation.Operation):
        num_wires = 1

    with pytest.raises(EngineUnavailable, match="Opaque has neither a generator, a matrix nor a "):
        angle_or_fixed(Opaque(w[0], wires=0))


def _built_leaves(qnn, x, w) -> list:
    """The oracle: the circuit's leaves as the templates' decompositions build them, gate by gate."""
    ops, _, _, _ = queue_tracked(qnn.description, x, w)
    with torch.enable_grad():
        return decompose(ops, angle_or_fixed)


def test_circuit_leaves_and_their_replay():
    qnn = EstimatorQNN(2, ansatz=lambda w, wires: RealAmplitudes(w, wires=wires, reps=1), num_weights=4)
    x, w = torch.tensor([[0.1, 0.2]], dtype=torch.float64), torch.linspace(0, 1, 4, dtype=torch.float64)
    decisions, leaves, measurements = circuit_leaves(qnn.description, x, w)
    angles = [op for kind, op in _built_leaves(qnn, x, w) if kind == "angle"]
    assert len(measurements) == 1 and len(angles) == 2 * (2 + 1) + 4  # two reps of phases and a ZZ phase; RY
    ops, _ = qnn.description.queue(x, w)
    replayed = replay_angles(ops, decisions)
    assert [type(a) for a in replayed] == [AngleBlock, AngleBlock]  # each template's angles at once
    assert [float(a.detach()) for a in angle_columns(replayed)] == [float(op.data[0].detach())
                                                                    for op in angles]
    with pytest.raises(EngineUnavailable, match="structure changed"):
        replay_angles(ops, decisions + ["fixed"])


class _OwnGates(RealAmplitudes):
    """A subclass with gates of its own: the inherited ``compute_angles`` is not theirs."""

    @staticmethod
    def compute_decomposition(weights, wires, reps, entanglement, skip_final_rotation_layer):
        return [qml.RY(2 * weights[..., k], wires=wires[k % len(wires)]) for k in range(weights.shape[-1])]


class _WrongAngles(RealAmplitudes):
    """A template whose ``compute_angles`` does not give its gates' angles."""

    @staticmethod
    def compute_decomposition(weights, wires, reps, entanglement, skip_final_rotation_layer):
        return RealAmplitudes.compute_decomposition(weights, wires, reps, entanglement,
                                                    skip_final_rotation_layer)

    @staticmethod
    def compute_angles(weights, reps, entanglement, skip_final_rotation_layer):
        return weights.flip(-1)


class _WrongShape(_WrongAngles):
    """A template whose ``compute_angles`` has the gates' angles, with a batch axis they lack."""

    @staticmethod
    def compute_angles(weights, reps, entanglement, skip_final_rotation_layer):
        return weights.expand(3, -1)


class _Doubled(RealAmplitudes):
    """A subclass that overrides ``decomposition`` itself (angles that agree with ``compute_angles``
    at zero weights only)."""

    def decomposition(self):
        return RealAmplitudes.compute_decomposition(2 * self.data[0], self.wires, **self.hyperparameters)


class _Scaled(_Doubled):
    """A subclass with a hyperparameter ``compute_angles`` does not take."""

    def __init__(self, weights, wires, **kwargs):
        super().__init__(weights, wires, **kwargs)
        self._hyperparameters["scale"] = 2.0

    def decomposition(self):
        options = {k: v for k, v in self.hyperparameters.items() if k != "scale"}
        return RealAmplitudes.compute_decomposition(2 * self.data[0], self.wires, **options)


@pytest.mark.parametrize("template, as_block", [
    (RealAmplitudes, True), (_OwnGates, False), (_WrongAngles, False), (_WrongShape, False),
    (_Doubled, False), (_Scaled, False)])
def test_templates_give_their_angles_at_once_only_where_they_are_their_gates(template, as_block):
    qnn = EstimatorQNN(2, ansatz=lambda w, wires: template(w, wires=wires, reps=1), num_weights=4)
    x, w = torch.tensor([[0.1, 0.2]], dtype=torch.float64), torch.linspace(0, 1, 4, dtype=torch.float64)
    if issubclass(template, _Doubled):
        w = torch.zeros(4, dtype=torch.float64)  # the angles, doubled or not, agree: the values cannot tell
    decisions, leaves, _ = circuit_leaves(qnn.description, x, w)
    assert (("template", 5) in decisions) == as_block  # four rotations and a CNOT
    ops, _ = qnn.description.queue(x, w)
    replayed = angle_columns(replay_angles(ops, decisions))
    assert [float(a.detach()) for a in replayed] == [float(op.data[0].detach()) for kind, op
                                                     in _built_leaves(qnn, x, w) if kind == "angle"]
    described = any(isinstance(op, LeafGate) and op.name == "RY" for _, op in leaves)  # the ansatz's
    assert described == (template is RealAmplitudes)


@pytest.mark.parametrize("feature_map, ansatz", [
    (partial(ZZFeatureMap, reps=2), partial(RealAmplitudes, reps=2)),
    (partial(PauliFeatureMap, reps=2, paulis=("X", "YY", "ZIY"), entanglement="circular"),
     partial(RealAmplitudes, reps=1, entanglement="full", skip_final_rotation_layer=True))])
def test_described_gates_are_the_built_gates(feature_map, ansatz):
    """A template that describes its gates (``compute_gates``) gives the leaves its decomposition
    builds: the same kinds, names and wires, the same matrices and generators bit for bit."""
    qnn = EstimatorQNN(3, feature_map=feature_map, ansatz=ansatz)
    x = torch.tensor([[0.1, 0.2, -0.7]], dtype=torch.float64)
    w = torch.linspace(0, 1, qnn.num_weights, dtype=torch.float64)
    _, leaves, _ = circuit_leaves(qnn.description, x, w)
    built = _built_leaves(qnn, x, w)
    assert all(isinstance(op, LeafGate) for _, op in leaves)
    assert [(kind, op.name, tuple(op.wires)) for kind, op in leaves] == [
        (kind, op.name, tuple(op.wires)) for kind, op in built]
    for (kind, light), (_, op) in zip(leaves, built):
        matrix = fixed_matrix if kind == "fixed" else generator_matrix
        assert matrix(light).tobytes() == matrix(op).tobytes()


def test_only_templates_of_inputs_or_weights_are_described():
    """Constant data (no angle depends on the inputs or weights) are decomposed gate by gate."""
    features = torch.tensor([0.1, 0.2], dtype=torch.float64)
    constant = ZZFeatureMap(features, wires=[0, 1], reps=1)
    with torch.enable_grad():
        leaves = decompose([constant], angle_or_fixed, [], described=True)
        tracked = ZZFeatureMap(features.clone().requires_grad_(True), wires=[0, 1], reps=1)
        described = decompose([tracked], angle_or_fixed, [], described=True)
    assert not any(isinstance(op, LeafGate) for _, op in leaves) and {k for k, _ in leaves} == {"fixed"}
    assert all(isinstance(op, LeafGate) for _, op in described)


def test_a_template_s_gates_are_not_built_again_to_replay_its_angles(monkeypatch):
    qnn = EstimatorQNN(2, ansatz=lambda w, wires: RealAmplitudes(w, wires=wires, reps=1), num_weights=4)
    x, w = torch.tensor([[0.1, 0.2]], dtype=torch.float64), torch.linspace(0, 1, 4, dtype=torch.float64)
    decisions, _, _ = circuit_leaves(qnn.description, x, w)
    ops, _ = qnn.description.queue(x, w)
    monkeypatch.setattr(RealAmplitudes, "compute_decomposition", None)
    assert isinstance(replay_angles(ops, decisions)[-1], AngleBlock)
