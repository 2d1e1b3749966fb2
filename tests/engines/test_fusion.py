"""Gate fusion: groups of gates on few wires, fused into one gate whose matrix is the product of
theirs, diagonal or real where it always is."""

import numpy as np
import pennylane as qml
import pytest

from qnn_torch.engines.fusion import Gate, GateGroup, embed, fuse, group_gates, local_gate

HADAMARD = qml.matrix(qml.Hadamard(0))


def test_dense_groups_stay_on_consecutive_wires_and_diagonal_ones_span_the_register():
    gates = [Gate((w,), matrix=HADAMARD) for w in range(6)]
    gates += [Gate((0, 5), angle=0, generator=np.diag([1.0, -1, -1, 1]).astype(complex))]
    groups = group_gates(gates, 4, 10)
    assert [sorted(g.wires) for g in groups] == [[0, 1, 2, 3], [4, 5], [0, 5]]
    assert [g.diagonal for g in groups] == [False, False, True]


def test_embed_puts_a_matrix_on_its_wires():
    x_on_1 = embed(qml.matrix(qml.X(0)), (1,), (0, 1))
    assert np.allclose(x_on_1, qml.matrix(qml.X(1), wire_order=[0, 1]))


def _matrix(fused, theta):
    u = np.eye(2 ** len(fused.wires), dtype=np.complex128)
    for step in fused.steps:
        if step[0] == "fixed":
            m = step[1]
        else:
            _, index, values, projectors, _ = step
            m = np.einsum("l,lij->ij", np.exp(1j * theta[index] * values), projectors)
        u = m @ u
    return u


@pytest.mark.parametrize("ops", [
    [qml.RY(0.2, 0), qml.CNOT([0, 1]), qml.RY(0.4, 1)],
    [qml.Hadamard(0), qml.CRX(0.5, [0, 1]), qml.S(1)],
])
def test_a_fused_gate_is_the_product_of_its_gates(ops, rng):
    leaves = [("fixed" if not op.num_params else "angle", op) for op in ops]
    angles = iter(range(len(ops)))
    gates = [local_gate(kind, op, next(angles) if kind == "angle" else None) for kind, op in leaves]
    group = GateGroup(set().union(*(g.wires for g in gates)), gates, all(g.diagonal for g in gates))
    fused = fuse(group, (0, 1), sum(op.num_params for op in ops), np.random.default_rng(1))
    theta = np.array([op.data[0] for op in ops if op.num_params])
    expected = qml.matrix(qml.prod(*reversed(ops)), wire_order=[0, 1])
    assert np.allclose(_matrix(fused, theta), expected)
    assert fused.real == bool(np.allclose(expected.imag, 0)) and fused.diagonal is None


def test_a_structurally_diagonal_group_is_applied_elementwise():
    gates = [local_gate("fixed", qml.CNOT([0, 1]), None), local_gate("angle", qml.RZ(0.3, 1), 0),
             local_gate("fixed", qml.CNOT([0, 1]), None)]
    group = GateGroup({0, 1}, gates, False)  # CNOT is not diagonal: the group is not, the product is
    fused = fuse(group, (0, 1), 1, np.random.default_rng(1))
    base, g = fused.diagonal
    expected = qml.matrix(qml.prod(qml.CNOT([0, 1]), qml.RZ(0.3, 1), qml.CNOT([0, 1])), wire_order=[0, 1])
    assert np.allclose(np.diag(base * np.exp(1j * (np.array([0.3]) @ g))), expected)
