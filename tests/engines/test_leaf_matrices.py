"""Leaf gates' matrices kept per process: always ``qml.matrix``'s numbers, bit for bit, whatever
was asked before (wires, parameter types, Pauli words), and never writable."""

import numpy as np
import pennylane as qml
import pytest
import torch

from qnn_torch.engines import leaf_matrices
from qnn_torch.engines.leaf_matrices import fixed_matrix, generator_matrix

FIXED = [
    qml.Hadamard(3), qml.CNOT([0, 1]), qml.CNOT([1, 0]), qml.CZ([2, 0]), qml.SWAP([1, 2]), qml.T(0),
    qml.PhaseShift(0.3, 1), qml.PhaseShift(0.3, 2), qml.PhaseShift(0.7, 1),
    qml.RZ(torch.tensor(0.3, dtype=torch.float32), 0), qml.RZ(torch.tensor(0.3, dtype=torch.float64), 0),
    qml.RZ(np.float32(0.3), 0), qml.RZ(0.3, 0), qml.RZ(torch.tensor(0.5, dtype=torch.float32), 0),
    qml.RZ(torch.tensor(0.5, dtype=torch.float64), 0), qml.CRX(0.4, [2, 1]), qml.PauliRot(0.2, "XY", [0, 1]),
    qml.PauliRot(0.2, "YX", [0, 1]), qml.QubitUnitary(qml.matrix(qml.RY(0.1, 0)), 0),
    qml.ctrl(qml.IsingXX(0.4, [1, 2]), control=0),
]
ANGLE = [qml.RY(0.1, 0), qml.RY(0.2, 4), qml.RX(0.1, 0), qml.PhaseShift(0.5, 2), qml.CRX(0.1, [0, 1]),
         qml.CRX(0.1, [1, 0]), qml.IsingXY(0.3, [2, 0]), qml.MultiRZ(0.2, [0, 1, 2]),
         qml.PauliRot(0.2, "XZ", [1, 0]), qml.PauliRot(0.2, "ZX", [1, 0]), qml.RZ(0.3, 1), qml.U1(0.2, 3)]


def _same(a, b) -> bool:
    return a.dtype == np.complex128 and np.array_equal(a.view(np.float64), np.asarray(b).view(np.float64))


@pytest.mark.parametrize("order", [1, -1], ids=["forward", "backward"])
def test_the_numbers_are_qml_matrix_s_in_any_order_of_asking(order, monkeypatch):
    monkeypatch.setattr(leaf_matrices, "_cache", {})
    for _ in range(2):  # the second round reads the cache
        for op in FIXED[::order]:
            expected = np.asarray(qml.math.toarray(qml.matrix(op, wire_order=op.wires)), dtype=np.complex128)
            assert _same(fixed_matrix(op), expected), op
        for op in ANGLE[::order]:
            generator = qml.matrix(qml.generator(op, format="observable"), wire_order=op.wires)
            assert _same(generator_matrix(op), np.asarray(generator, dtype=np.complex128)), op
    assert 0 < len(leaf_matrices._cache) < len(FIXED) + len(ANGLE)  # repeats were kept once


def test_matrices_are_shared_read_only():
    matrix = fixed_matrix(qml.Hadamard(0))
    assert fixed_matrix(qml.Hadamard(5)) is matrix
    with pytest.raises(ValueError, match="read-only"):
        matrix[0, 0] = 2.0


def test_operations_with_a_trainable_or_array_parameter_are_not_kept(monkeypatch):
    monkeypatch.setattr(leaf_matrices, "_cache", {})
    fixed_matrix(qml.RZ(torch.tensor(0.3, requires_grad=True), 0))
    fixed_matrix(qml.QubitUnitary(np.eye(2), 0))
    fixed_matrix(qml.ctrl(qml.IsingXX(0.4, [1, 2]), control=0))
    assert leaf_matrices._cache == {}


def test_the_cache_starts_again_when_full(monkeypatch):
    monkeypatch.setattr(leaf_matrices, "_cache", {})
    monkeypatch.setattr(leaf_matrices, "CACHE_SIZE", 3)
    for angle in (0.1, 0.2, 0.3, 0.4):
        fixed_matrix(qml.RZ(angle, 0))
    assert len(leaf_matrices._cache) == 1


@pytest.mark.parametrize("op", [qml.CNOT([0, 1]), qml.Hadamard(0), qml.CZ([0, 1]), qml.SWAP([0, 1]),
                                qml.S(0)])
def test_pennylane_keeps_writable_matrices(op, monkeypatch):
    """The kept matrix is a copy: PennyLane hands out some matrices from its own constants, and
    lightning.qubit refuses read-only ones (a fixed-gates circuit failed there after the first
    engine call)."""
    monkeypatch.setattr(leaf_matrices, "_cache", {})
    fixed_matrix(op)
    assert type(op).compute_matrix().flags.writeable
    assert qml.matrix(op).flags.writeable


@pytest.mark.parametrize("cls", sorted(leaf_matrices._GENERATORS, key=lambda c: c.__name__),
                         ids=lambda c: c.__name__)
def test_written_out_generators_are_pennylane_s_bit_for_bit(cls, monkeypatch):
    """The generators kept as literals (no operator arithmetic on a process's first call) against
    PennyLane's own, signs of zeros included, for an operator and for a template's described gate."""
    monkeypatch.setattr(leaf_matrices, "_cache", {})
    op = cls(0.4, wires=[2])
    expected = np.asarray(qml.matrix(qml.generator(op, format="observable"), wire_order=op.wires),
                          dtype=np.complex128)
    for gate in (op, leaf_matrices.LeafGate(cls, (5,), None)):
        leaf_matrices._cache.clear()  # each made anew, not read back from the other's entry
        kept = generator_matrix(gate)
        assert kept.dtype == np.complex128 and kept.tobytes() == expected.tobytes()
    assert not generator_matrix(op).flags.writeable
