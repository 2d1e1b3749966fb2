"""Monomial matrices in row form against dense matrices: PennyLane's register matrices and NumPy's
products are the oracles."""

import numpy as np
import pennylane as qml
import pytest

from qnn_torch.engines import monomial, numpy_adjoint

PHASES = {
    "ones": lambda rng, d: np.ones(d, dtype=complex),
    "signs-and-i": lambda rng, d: rng.choice(np.array([1, -1, 1j, -1j]), d),
    "any": lambda rng, d: np.exp(1j * rng.uniform(0, 2 * np.pi, d)) * rng.uniform(0.5, 2, d),
}


def _random(rng, dim: int, phases: str) -> tuple:
    return rng.permutation(dim), PHASES[phases](rng, dim)


@pytest.mark.parametrize("op", [qml.CNOT([2, 0]), qml.CZ([1, 3]), qml.PauliX(1), qml.S(3), qml.SWAP([0, 2]),
                                qml.Toffoli([3, 0, 1]), qml.PauliY(0), qml.ISWAP([1, 2])])
def test_gates_lifted_to_the_register_are_pennylane_s_matrices(op):
    small = monomial.row_form(qml.matrix(op, wire_order=op.wires))
    lifted = monomial.lift(small, monomial.register_index(4, tuple(op.wires)))
    assert np.array_equal(monomial.dense(lifted), qml.matrix(op, wire_order=range(4)))


def test_diagonals_lifted_to_the_register_are_pennylane_s():
    op = qml.IsingZZ(0.3, [3, 1])
    diagonal = np.diag(qml.matrix(op, wire_order=op.wires))
    lifted = monomial.lift_diagonal(diagonal, monomial.register_index(4, (3, 1)))
    assert np.array_equal(lifted, np.diag(qml.matrix(op, wire_order=range(4))))


@pytest.mark.parametrize("matrix, expected", [
    (np.eye(2), True),
    (np.array([[0, 1j], [1, 0]]), True),
    (np.array([[1, 1e-300], [0, 1]]), False),  # a tiny entry is an entry: the dense product keeps it
    (np.array([[1, 0], [1, 0]]), False),
    (np.zeros((2, 2)), False),
])
def test_row_form_only_of_one_entry_per_row_and_column(matrix, expected):
    form = monomial.row_form(matrix)
    assert (form is not None) == expected
    if expected:
        assert np.array_equal(monomial.dense(form), matrix)


@pytest.mark.parametrize("phases", list(PHASES))
def test_products_and_conjugations_are_numpy_s_dense_ones(phases, rng):
    dim = 16
    for _ in range(20):
        p, f = _random(rng, dim, phases), _random(rng, dim, phases)
        dp, df = monomial.dense(p), monomial.dense(f)
        # general phases: BLAS may fuse a multiply and an add (another CPU, another rounding), so to
        # round-off here; bit for bit with phases 1, -1, i and -i (the test below)
        assert np.allclose(monomial.dense(monomial.product(f, p)), df @ dp, atol=1e-14)
        d = rng.normal(size=dim)
        moved = dp.conj().T @ np.diag(d) @ dp
        assert np.allclose(np.diag(monomial.conjugate_diagonal(p, d)), moved, atol=1e-14)
        h = rng.normal(size=(dim, dim)) + 1j * rng.normal(size=(dim, dim))
        assert np.allclose(monomial.conjugate_dense(p, h), dp.conj().T @ h @ dp, atol=1e-14)
        moved = monomial.dense(monomial.conjugate_monomial(p, f))
        assert np.allclose(moved, dp.conj().T @ df @ dp, atol=1e-14)


def test_clifford_phases_give_the_dense_products_bit_for_bit(rng):
    """Permutations with phases 1, -1, i and -i: every entry is one exact product, as in BLAS."""
    for _ in range(20):
        p, f = _random(rng, 32, "signs-and-i"), _random(rng, 32, "signs-and-i")
        dp, df = monomial.dense(p), monomial.dense(f)
        assert np.array_equal(monomial.dense(monomial.product(f, p)), df @ dp)
        assert np.array_equal(monomial.dense(monomial.conjugate_monomial(p, f)), dp.conj().T @ df @ dp)
        hadamard = qml.matrix(qml.Hadamard(0))  # a gate after them, on its own wire
        after = numpy_adjoint._gate_times(hadamard, (0,), 5, dp)
        assert np.array_equal(after, np.kron(hadamard, np.eye(16)) @ dp)


def _kinds_agree(cols, vals):
    label, info = numpy_adjoint._monomial_kind(cols, vals)
    dense_label, dense_info = numpy_adjoint._kind(monomial.dense((cols, vals)))
    if label == "dense":  # never claimed without reason: only where the dense rule looks past tiny entries
        return dense_label == "dense" or np.any(np.abs(vals) <= numpy_adjoint._TOL)
    if label != dense_label:
        return False
    if label == "diagonal":
        return np.allclose(info, dense_info, rtol=0, atol=0)
    return (np.isclose(info[0], dense_info[0], rtol=1e-15) and np.array_equal(info[1], dense_info[1])
            and np.allclose(info[2], dense_info[2], rtol=1e-15, atol=0))


@pytest.mark.parametrize("phases", list(PHASES))
def test_the_kind_of_a_monomial_is_the_dense_rule_s(phases, rng):
    dim = 8
    for _ in range(200):
        cols, vals = _random(rng, dim, phases)
        choice = rng.integers(5)
        if choice == 0:  # an involution: a Pauli word's permutation
            word = rng.integers(1, dim)
            cols = np.arange(dim) ^ word
        elif choice == 1:  # a Pauli word scaled, with a Hermitian pairing of the phases
            cols = np.arange(dim) ^ rng.integers(1, dim)
            vals = np.exp(1j * rng.uniform(0, 2 * np.pi, dim)) * rng.uniform(0.1, 3)
            first = cols > np.arange(dim)
            vals[cols[first]] = vals[first].conj()
        elif choice == 2:
            cols = np.arange(dim)
        elif choice == 3:  # entries at and below the tolerance
            vals[rng.integers(dim)] = rng.choice([numpy_adjoint._TOL, numpy_adjoint._TOL / 2, 0.0])
        assert _kinds_agree(cols, vals), (cols, vals)
    assert numpy_adjoint._monomial_kind(np.arange(2), np.array([1.0, np.nan]))[0] == "dense"
    for deviation in (1e-6, 1e-4):  # within and beyond the dense rule's relative tolerance of 1e-5
        vals = np.ones(4, dtype=complex)
        vals[:2] += deviation
        assert _kinds_agree(np.array([1, 0, 3, 2]), vals)
