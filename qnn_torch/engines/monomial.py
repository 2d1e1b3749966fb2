"""Monomial matrices on a register: one nonzero entry per row, kept as that entry's column and value.

Permutation gates with phases (``CNOT``, ``X``, ``CZ``, ``S``, ``SWAP``, ``Toffoli``) are monomial, and so
is any product of them. The NumPy adjoint engine's analysis multiplies the fixed gates between angle
gates into one matrix ``P`` and moves each angle gate's generator past it, ``P^dagger H P``: as dense
``2**n`` matrices that is one or two matrix products per gate, most of a new network's first call at
six qubits. While ``P`` is monomial, both are ``O(2**n)`` gathers here instead. Every entry is the one
nonzero product a dense product would form, in the same order. With the phases 1, -1, i and -i
(:func:`clifford_phases`) each such product is exact, so the numbers are the dense products' bit for
bit; a general complex product may not be (a BLAS product may fuse a multiply and an add and round
once where NumPy rounds twice), so the engine keeps such gates dense. Only signs of zeros may differ.

A matrix ``M`` in row form is ``(cols, vals)`` with ``M[r, cols[r]] = vals[r]``, all other entries 0.

**Example**

>>> import numpy as np
>>> cnot = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]], dtype=complex)
>>> cols, vals = row_form(cnot)
>>> cols.tolist(), vals.real.tolist()
([0, 1, 3, 2], [1.0, 1.0, 1.0, 1.0])
>>> lifted = lift(row_form(cnot), register_index(3, (2, 0)))  # control wire 2, target wire 0
>>> lifted[0].tolist()
[0, 5, 2, 7, 4, 1, 6, 3]
"""

from __future__ import annotations

import numpy as np

__all__ = ["Form", "Index", "axis_aligned", "clifford_phases", "conjugate_dense", "conjugate_diagonal",
           "conjugate_monomial", "dense", "identity", "lift", "lift_diagonal", "product",
           "register_index", "row_form"]

Form = tuple[np.ndarray, np.ndarray]
"""A monomial matrix in row form: ``(cols, vals)``."""

Index = tuple[np.ndarray, np.ndarray]
"""Where a gate's wires sit in a register: :func:`register_index`'s ``(local, offsets)``."""


def register_index(n: int, wires: tuple) -> Index:
    """Where a gate on ``wires`` (positions, wire 0 the most significant bit) sits in a register of
    ``n`` qubits.

    Returns:
        tuple: ``(local, offsets)``: ``local[i]`` is basis state ``i``'s index on the gate's wires
        (``(2**n,)``), and ``offsets[m]`` is local state ``m``'s bits placed in the register, so
        that ``i - offsets[local[i]] + offsets[m]`` is state ``i`` with its wires set to ``m``.
    """
    k = len(wires)
    states = np.arange(2**n)
    local = np.zeros(2**n, dtype=np.int64)
    offsets = np.zeros(2**k, dtype=np.int64)
    for j, wire in enumerate(wires):
        shift = n - 1 - int(wire)
        local |= ((states >> shift) & 1) << (k - 1 - j)
        offsets |= ((np.arange(2**k) >> (k - 1 - j)) & 1) << shift
    return local, offsets


def row_form(matrix: np.ndarray) -> Form | None:
    """``(cols, vals)`` of a matrix with exactly one nonzero entry in every row and column, or None
    (entries are compared with zero exactly: a tiny entry is still an entry)."""
    nonzero = matrix != 0
    if not (np.all(nonzero.sum(0) == 1) and np.all(nonzero.sum(1) == 1)):
        return None
    cols = np.argmax(nonzero, axis=1)
    return cols, matrix[np.arange(matrix.shape[0]), cols]


def clifford_phases(vals: np.ndarray) -> bool:
    """Whether every value is exactly 1, -1, i or -i (multiplying by one is exact)."""
    re, im = vals.real, vals.imag
    return bool(np.all(((np.abs(re) == 1) & (im == 0)) | ((re == 0) & (np.abs(im) == 1))))


def axis_aligned(vals: np.ndarray) -> bool:
    """Whether every value is real or imaginary (a product of two such is one rounded product, with
    or without a fused multiply-add)."""
    return bool(np.all((vals.real == 0) | (vals.imag == 0)))


def lift(small: Form, index: Index) -> Form:
    """A gate's row form on its wires as the row form of the gate on the register (the identity on
    the other wires), ``index`` being :func:`register_index`'s."""
    cols, vals = small
    local, offsets = index
    states = np.arange(local.shape[0])
    return states - offsets[local] + offsets[cols[local]], vals[local]


def lift_diagonal(diagonal: np.ndarray, index: Index) -> np.ndarray:
    """A gate's diagonal on its wires as the diagonal of the gate on the register."""
    return diagonal[index[0]]


def identity(dim: int) -> Form:
    """The identity's row form."""
    return np.arange(dim), np.ones(dim, dtype=np.complex128)


def product(left: Form, right: Form) -> Form:
    """``left @ right``: ``(left @ right)[r, c] = left[r, fc[r]] * right[fc[r], c]``."""
    fc, fv = left
    pc, pv = right
    return pc[fc], fv * pv[fc]


def dense(m: Form) -> np.ndarray:
    """The complex128 matrix."""
    cols, vals = m
    matrix = np.zeros((cols.shape[0], cols.shape[0]), dtype=np.complex128)
    matrix[np.arange(cols.shape[0]), cols] = vals
    return matrix


def _inverse(cols: np.ndarray) -> np.ndarray:
    inverse = np.empty_like(cols)
    inverse[cols] = np.arange(cols.shape[0])
    return inverse


def conjugate_diagonal(p: Form, diagonal: np.ndarray) -> np.ndarray:
    """The diagonal of ``P^dagger diag(d) P``, a diagonal matrix: entry ``a`` is
    ``conj(P[k, a]) d[k] P[k, a]`` for the row ``k`` whose entry is in column ``a``."""
    pc, pv = p
    k = _inverse(pc)
    return (pv[k].conj() * diagonal[k]) * pv[k]


def conjugate_monomial(p: Form, h: Form) -> Form:
    """``P^dagger H P`` for a monomial ``H`` in row form, in row form."""
    pc, pv = p
    gc, gv = h
    k = _inverse(pc)
    return pc[gc[k]], (pv[k].conj() * gv[k]) * pv[gc[k]]


def conjugate_dense(p: Form, h: np.ndarray) -> np.ndarray:
    """``P^dagger H P`` for a dense ``H``."""
    pc, pv = p
    k = _inverse(pc)
    return (pv[k].conj()[:, None] * h[np.ix_(k, k)]) * pv[k][None, :]
