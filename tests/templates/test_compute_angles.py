"""Templates' ``compute_angles``: the angles of their decompositions' parametrised gates, in order,
bit for bit (the decomposition is the oracle), for single and batched inputs, numpy and torch; and
their ``compute_gates``: the decompositions' gates, classes, wires and fixed parameters, in order."""

import numpy as np
import pytest
import torch

from qnn_torch import ENTANGLEMENT_PATTERNS, PauliFeatureMap, RealAmplitudes, ZZFeatureMap

PAULI_SETS = [("Z", "ZZ"), ("X", "YY", "ZXZ"), ("Y", "XZ"), ("IZ", "XIY", "YX"), ("I", "II", "Z"), ("ZZZZ",)]


def _gate_angles(op) -> list:
    """The parameters of the decomposition's gates whose parameter is computed from the template's."""
    return [gate.data[0] for gate in op.decomposition() if gate.name in ("PhaseShift", "RY")]


def _assert_same(op, batch):
    angles = type(op).compute_angles(*op.data, **op.hyperparameters)
    expected = _gate_angles(op)
    gates = [(type(g), tuple(g.wires), None if g.name in ("PhaseShift", "RY") else tuple(g.data))
             for g in op.decomposition()]
    assert type(op).compute_gates(op.wires, **op.hyperparameters) == gates
    assert tuple(angles.shape) == (*batch, len(expected))
    for j, angle in enumerate(expected):
        assert np.array_equal(_numbers(angles[..., j]), _numbers(angle))


def _numbers(a):
    return a.detach().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)


@pytest.mark.parametrize("n", [1, 2, 3, 5])
@pytest.mark.parametrize("reps", [1, 3])
@pytest.mark.parametrize("entanglement", [*ENTANGLEMENT_PATTERNS, ((0,), (2, 0), (1, 2), (0, 1, 2))])
@pytest.mark.parametrize("paulis", PAULI_SETS)
@pytest.mark.parametrize("batch", [(), (4,)])
def test_pauli_feature_map_angles_are_its_phase_shifts(n, reps, entanglement, paulis, batch, rng):
    paulis = tuple(p for p in paulis if len(p) <= n) or ("X",)
    x = torch.tensor(rng.uniform(-np.pi, np.pi, (*batch, n)), requires_grad=True)
    explicit_beyond_wires = not isinstance(entanglement, str) and n < 3
    if explicit_beyond_wires or (entanglement == "pairwise" and max(map(len, paulis)) > 2):
        with pytest.raises(ValueError):  # blocks beyond the wires; pairwise blocks of three
            PauliFeatureMap(x, range(n), reps=reps, paulis=paulis, entanglement=entanglement)
        return
    _assert_same(PauliFeatureMap(x, range(n), reps=reps, paulis=paulis, entanglement=entanglement, alpha=1.3),
                 batch)


def test_feature_map_angles_of_numpy_features_and_of_no_gate(rng):
    x = rng.uniform(-1, 1, (3, 4))
    _assert_same(ZZFeatureMap(x, range(4), reps=2, entanglement="circular"), (3,))
    op = PauliFeatureMap(x, range(4), reps=2, paulis=("II",))
    assert PauliFeatureMap.compute_angles(*op.data, **op.hyperparameters).shape == (3, 0)
    assert not _gate_angles(op)


@pytest.mark.parametrize("reps", [0, 1, 3])
@pytest.mark.parametrize("skip", [False, True])
@pytest.mark.parametrize("batch", [(), (2,)])
def test_real_amplitudes_angles_are_its_rotations(reps, skip, batch, rng):
    n = 3
    w = torch.tensor(rng.uniform(-1, 1, (*batch, *RealAmplitudes.shape(n, reps, skip))), requires_grad=True)
    op = RealAmplitudes(w, range(n), reps=reps, entanglement="full", skip_final_rotation_layer=skip)
    _assert_same(op, batch)


def _recorded_operations(reps: int, entanglement: str) -> list:
    from qnn_torch.engines.tracing import record

    def angles(x):
        return PauliFeatureMap.compute_angles(x, reps=reps, paulis=("Z", "ZZ"), entanglement=entanglement,
                                              alpha=2.0)

    recording = record(angles, torch.zeros(2, 5, dtype=torch.float64))
    return [str(node.target) for node in recording.nodes if node.op in ("call_function", "get_attr")]


@pytest.mark.parametrize("entanglement", ["linear", "full"])
def test_repetitions_with_the_same_blocks_compute_their_angles_once(entanglement):
    """The angle program a first call records and generates: a repetition whose blocks an earlier
    one had adds no operation, only inputs to the final concatenation (the numbers are the same: the
    tests above)."""
    assert _recorded_operations(3, entanglement) == _recorded_operations(1, entanglement)


def test_runs_of_consecutive_features_are_slices_not_gathers():
    """``linear`` blocks read consecutive features: slices, so the program holds no index table."""
    operations = _recorded_operations(1, "linear")
    assert "aten.slice.Tensor" in operations
    assert not any(op.startswith(("aten.index", "_tensor_constant")) for op in operations)


@pytest.mark.parametrize("blocks", [((-2, -1),), ((-1,), (0,)), ((0, 1), (1, 2)), ((0,), (1,), (2,))])
def test_direct_calls_with_any_positions_read_the_features_numpy_s_way(blocks):
    """``compute_angles`` called directly (no constructor to check the blocks): negative positions
    count from the end as before, and slices serve only runs of non-negative ones."""
    x = np.array([0.1, 0.2, 0.3])
    expected = []
    for block in blocks:
        expected.append(x[block[0]] if len(block) == 1 else np.prod([np.pi - x[q] for q in block]))
    angles = PauliFeatureMap.compute_angles(x, reps=1, paulis=("Z" * len(blocks[0]),), entanglement=blocks,
                                            alpha=1.0)
    np.testing.assert_allclose(angles, expected, rtol=1e-15)
