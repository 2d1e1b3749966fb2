"""Sandwiches F, A(theta), F^-1 found and merged into one diagonal gate: by name for PennyLane
operations, by matrix for fused gates."""

import numpy as np
import pennylane as qml
import pytest

from qnn_torch.engines.fusion import Gate
from qnn_torch.engines import sandwiches
from qnn_torch.engines.sandwiches import ParityPhase, cnot_phase_cnot, diagonal_sandwich, merge_sandwiches

CNOT = qml.matrix(qml.CNOT([0, 1]))


def test_cnot_rz_cnot_is_one_diagonal_gate():
    rz = Gate((1,), angle=0, generator=np.diag([-0.5, 0.5]).astype(complex))
    gates = [Gate((0, 1), matrix=CNOT), rz, Gate((0, 1), matrix=CNOT)]
    merged = list(merge_sandwiches(gates, diagonal_sandwich))
    assert len(merged) == 1 and merged[0].diagonal and merged[0].angle == 0
    assert np.allclose(np.diag(merged[0].generator), [-0.5, 0.5, 0.5, -0.5])  # -Z Z / 2


def test_a_middle_gate_that_does_not_stay_diagonal_is_left_alone():
    hadamard = Gate((0,), matrix=qml.matrix(qml.Hadamard(0)))
    gates = [Gate((0, 1), matrix=CNOT), hadamard, Gate((0, 1), matrix=CNOT)]
    assert list(merge_sandwiches(gates, diagonal_sandwich)) == gates


def test_runs_are_found_left_to_right_without_overlap():
    merge = lambda a, b, c: a + b + c if (a, c) == ("[", "]") else None  # noqa: E731
    assert list(merge_sandwiches(list("x[a][b]y"), merge)) == ["x", "[a]", "[b]", "y"]
    assert list(merge_sandwiches(list("[]"), merge)) == ["[", "]"]


@pytest.mark.parametrize("ops, found", [
    ([qml.CNOT([0, 2]), qml.PhaseShift(0.3, 2), qml.CNOT([0, 2])], True),
    ([qml.CNOT([0, 2]), qml.PhaseShift(0.3, 0), qml.CNOT([0, 2])], False),  # the phase on the control
    ([qml.CNOT([0, 2]), qml.PhaseShift(0.3, 2), qml.CNOT([2, 0])], False),
    ([qml.CNOT([0, 2]), qml.RZ(0.3, 2), qml.CNOT([0, 2])], False),
])
def test_cnot_phase_cnot_by_name(ops, found):
    merged = cnot_phase_cnot(*ops)
    assert (merged is not None) == found
    if found:
        assert merged == ParityPhase(ops[1], 0, 2)


@pytest.mark.parametrize("middle_wire", [0, 1])
def test_sandwiches_are_worked_out_once_per_layout(middle_wire, monkeypatch):
    """The moved generator depends on the matrices and on where the middle gate sits in the
    sandwich: each layout is worked out once per process, and gives what working it out gives."""
    made = []
    original = sandwiches._moved_generator
    monkeypatch.setattr(sandwiches, "_moved", {})
    monkeypatch.setattr(sandwiches, "_moved_generator", lambda *a: made.append(a) or original(*a))
    cnot = qml.matrix(qml.CNOT([0, 1]))
    rz = qml.matrix(qml.generator(qml.RZ(0.1, middle_wire), format="observable"), wire_order=[middle_wire])
    for _ in range(2):
        middle = Gate((3 + 2 * middle_wire,), angle=4, generator=rz)
        gate = diagonal_sandwich(Gate((3, 5), matrix=cnot), middle, Gate((3, 5), matrix=cnot))
        expected = original(cnot, rz, cnot, (3 + 2 * middle_wire,), (3, 5))
        assert np.array_equal(gate.generator, expected) and gate.angle == 4
        assert not gate.generator.flags.writeable
    assert len(made) == 1
    other = diagonal_sandwich(Gate((3, 5), matrix=cnot), Gate((5 - 2 * middle_wire,), angle=4, generator=rz),
                              Gate((3, 5), matrix=cnot))
    assert len(made) == 2 and not np.array_equal(other.generator, gate.generator)
