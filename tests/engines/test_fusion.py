"""Gate fusion: groups of gates on few wires, fused into one gate whose matrix is the product of
theirs, diagonal or real where it always is."""

import numpy as np
import pennylane as qml
import pytest

from qnn_torch.engines import fusion
from qnn_torch.engines.fusion import Gate, GateGroup, embed, fuse, group_gates, is_diagonal, local_gate

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


@pytest.mark.parametrize("d", [2, 4, 8])
def test_the_diagonal_test_answers_as_allclose(d, rng):
    """``is_diagonal`` decides as the NumPy call it replaces (the oracle), near its tolerance and
    with infinities and NaN anywhere."""
    for _ in range(3000):
        m = np.diag(rng.normal(size=d) + 1j * rng.normal(size=d))
        m = m + (rng.random((d, d)) < 0.3) * rng.normal(size=(d, d)) * 10.0 ** rng.uniform(-12, -8)
        if rng.random() < 0.2:
            odd = [np.nan, np.inf, -np.inf, complex(np.inf, -np.inf), complex(0, np.nan), 1e-10, -1e-10]
            m[rng.integers(d), rng.integers(d)] = rng.choice(odd)
        with np.errstate(invalid="ignore"):
            assert is_diagonal(m) == np.allclose(m, np.diag(np.diag(m)), atol=1e-10), m


def test_embeddings_and_eigenprojectors_are_computed_once_and_handed_out_as_copies(monkeypatch):
    """A circuit embeds the same few matrices again and again: each is computed once, and every
    caller gets its own writable copy (one that wrote into a shared array would change the others;
    torch warns of read-only arrays), equal to a fresh computation to the last bit."""
    monkeypatch.setattr(fusion, "_embedded", {})
    monkeypatch.setattr(fusion, "_eigen", {})
    cnot = qml.matrix(qml.CNOT([0, 1]))
    first = embed(cnot, (3, 5), (3, 4, 5))
    embeds = []
    original = fusion._embed
    monkeypatch.setattr(fusion, "_embed", lambda *a: embeds.append(a) or original(*a))
    again = embed(cnot, (7, 9), (7, 8, 9))  # the same positions: the same embedding
    assert embeds == [] and again is not first and again.flags.writeable
    np.testing.assert_array_equal(again, original(cnot, (0, 2), 3))
    assert np.array_equal(first, qml.matrix(qml.CNOT([3, 5]), wire_order=[3, 4, 5]))
    again[0, 0] = 7
    assert embed(cnot, (3, 5), (3, 4, 5))[0, 0] == 1 and embeds == []
    embed(cnot, (5, 3), (3, 4, 5))
    assert len(embeds) == 1  # other positions: another embedding

    h = embed(qml.matrix(qml.Y(0)) / 2, (0,), (0, 1))
    values, projectors = fusion._eig_projectors(h)
    fresh = fusion._eig_projectors_of(h)
    np.testing.assert_array_equal(values, fresh[0])
    np.testing.assert_array_equal(projectors, fresh[1])
    projectors[0] = 0
    assert np.array_equal(fusion._eig_projectors(h)[1], fresh[1]) and len(fusion._eigen) == 1


def test_only_small_matrices_are_kept_and_copies_keep_their_layout(monkeypatch):
    """Kept matrices outlive their networks: a whole register's (the NumPy adjoint engine embeds
    gates in it) is computed every time; a copy has the layout the computation gave (an adjoint
    gate's matrix is in Fortran order, and torch keeps a tensor's strides)."""
    monkeypatch.setattr(fusion, "_embedded", {})
    monkeypatch.setattr(fusion, "_eigen", {})
    cnot = qml.matrix(qml.CNOT([0, 1]))
    assert embed(cnot, (0, 1), tuple(range(4))).shape == (16, 16) and len(fusion._embedded) == 1
    for k in (5, 8):
        assert embed(cnot, (0, 1), tuple(range(k))).shape == (2**k, 2**k)
    assert len(fusion._embedded) == 1
    fusion._eig_projectors(embed(qml.matrix(qml.Y(0)), (0,), tuple(range(5))))
    assert len(fusion._eigen) == 0
    fortran = np.asfortranarray(qml.matrix(qml.adjoint(qml.S(0)) @ qml.adjoint(qml.CNOT([0, 1]))))
    computed = fusion._embed(fortran, (0, 1), 2)
    assert computed.flags.f_contiguous and not computed.flags.c_contiguous  # (what the test is about)
    for _ in range(2):  # computed, then kept
        again = embed(fortran, (0, 1), (0, 1))
        assert again.strides == computed.strides and np.array_equal(again, computed)


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


def test_a_gate_s_diagonality_is_kept_only_for_read_only_matrices(monkeypatch):
    """Leaf matrices are shared and read-only: their diagonality is worked out once; a matrix that
    may still change is tested every time."""
    monkeypatch.setattr(fusion, "_diagonality", {})
    calls = []
    monkeypatch.setattr(fusion, "is_diagonal",
                        lambda m: calls.append(1) or bool(np.all(m == np.diag(np.diag(m)))))
    shared = np.diag([1.0, -1.0]).astype(complex)
    shared.setflags(write=False)
    assert Gate((0,), matrix=shared).diagonal and Gate((1,), matrix=shared).diagonal and len(calls) == 1
    own = np.eye(2, dtype=complex)
    assert Gate((0,), matrix=own).diagonal
    own[0, 1] = 1.0
    assert not Gate((0,), matrix=own).diagonal and len(calls) == 3
