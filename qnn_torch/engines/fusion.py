"""Gate fusion: a circuit's leaf gates grouped by the wires they touch, each group fused into one
gate applied as one small matrix.

A state-vector simulator pays one pass over the whole state for every gate, and at 12 qubits
and more those passes are all of its cost. Consecutive gates on few wires multiply into one
small matrix, applied in one pass as a matrix product. :func:`group_gates` groups the leaf gates
of :mod:`~qnn_torch.engines.decomposition` greedily: a gate joins the latest group that shares a
wire with it (it commutes with every later group) if the union fits in ``max_wires``; otherwise a
later group with room; otherwise it opens a group of its own. Groups of diagonal gates span any
``max_diagonal_wires`` wires; other groups at most ``max_wires`` *consecutive* wires, which keeps
them contiguous axes of the state (no transposition). :func:`fuse` then turns a group into a
:class:`FusedGate`: the factors its matrix is built from on every call, and whether the matrix is
*structurally diagonal* (diagonal for every angle, as a ``CNOT``-``RZ``-``CNOT`` sandwich is), in
which case it is applied elementwise.

An angle gate is :math:`U(\\theta) = e^{i\\theta H} = \\sum_l e^{i\\theta\\lambda_l}\\Pi_l`
(its generator's distinct eigenvalues and eigenprojectors), so each call builds it with one
small product.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .leaf_matrices import fixed_matrix, generator_matrix

__all__ = ["FusedGate", "Gate", "GateGroup", "embed", "fuse", "group_gates", "is_diagonal", "local_gate"]

_TOL = 1e-10
_CACHE_SIZE = 256  # embeddings and eigendecompositions kept (a circuit repeats a few); cleared when full
_CACHED_DIMENSION = 16  # only matrices on at most 4 wires are kept: a few KiB each, 16 MiB at most in all
_embedded: dict = {}
_eigen: dict = {}
_diagonality: dict = {}  # id(read-only matrix) -> (the matrix, is_diagonal(matrix)): leaf matrices repeat


def _kept(cache: dict, dimension: int, key, compute) -> tuple:
    """``compute()`` (a tuple of arrays), computed once per ``key()`` if the matrices are
    ``dimension x dimension`` with ``dimension`` at most :data:`_CACHED_DIMENSION` (larger ones, such as
    the NumPy adjoint engine's whole-register matrices, are computed every time, their key never
    made: kept, they would outlive their networks); the caller gets copies in the same memory
    layout, its own to keep or hand to torch (which warns of read-only arrays)."""
    if dimension > _CACHED_DIMENSION:
        return compute()
    key = key()
    found = cache.get(key)
    if found is None:
        found = compute()
        if len(cache) >= _CACHE_SIZE:
            cache.clear()
        cache[key] = found
    return tuple(a.copy(order="K") for a in found)


def _array_key(a: np.ndarray) -> tuple:
    return a.shape, a.dtype.str, a.tobytes()


def is_diagonal(m: np.ndarray) -> bool:
    """``np.allclose(m, np.diag(np.diag(m)), atol=1e-10)``, in fewer passes: off the diagonal every
    magnitude at most ``1e-10``, on it no NaN (an infinity is close to itself)."""
    close = np.abs(m) <= _TOL
    np.fill_diagonal(close, ~np.isnan(np.diagonal(m)))
    return bool(close.all())


def _is_diagonal_kept(m: np.ndarray) -> bool:
    """:func:`is_diagonal`, kept per read-only matrix (the shared leaf matrices of
    :mod:`~.leaf_matrices`, which cannot change; the entry holds the matrix, so its id is not reused)."""
    if m.flags.writeable:
        return is_diagonal(m)
    entry = _diagonality.get(id(m))
    if entry is None or entry[0] is not m:
        if len(_diagonality) >= _CACHE_SIZE:
            _diagonality.clear()
        entry = _diagonality[id(m)] = (m, is_diagonal(m))
    return entry[1]


@dataclass
class Gate:
    """A leaf on its own wires.

    Attributes:
        wires (tuple[int, ...]): the wires, in the order of the matrices.
        matrix (numpy.ndarray or None): a fixed gate's matrix.
        angle (int or None): an angle gate's index in the angle vector.
        generator (numpy.ndarray or None): an angle gate's ``H`` with ``U = exp(i theta H)``.
    """

    wires: tuple
    matrix: np.ndarray | None = None
    angle: int | None = None
    generator: np.ndarray | None = None

    def __post_init__(self):
        self.diagonal = _is_diagonal_kept(self.matrix if self.matrix is not None else self.generator)
        """bool: whether the gate's matrix is diagonal for every angle."""


def local_gate(kind: str, op, angle: int | None) -> Gate:
    """A leaf ``(kind, op)`` of :func:`~qnn_torch.engines.decomposition.circuit_leaves` as a
    :class:`Gate` (``angle``: an angle gate's index in the angle vector)."""
    wires = tuple(int(w) for w in op.wires)
    if kind == "fixed":
        return Gate(wires, matrix=fixed_matrix(op))
    return Gate(wires, angle=angle, generator=generator_matrix(op))


@dataclass
class GateGroup:
    """Gates in circuit order, to be fused; ``diagonal`` if every one of them is."""

    wires: set = field(default_factory=set)
    gates: list = field(default_factory=list)
    diagonal: bool = True

    def takes(self, gate: Gate, max_wires: int, max_diagonal_wires: int) -> bool:
        """Whether ``gate`` fits: diagonal groups grow to ``max_diagonal_wires`` wires, others to
        ``max_wires`` consecutive wires (so that they stay contiguous axes of the state)."""
        union = self.wires | set(gate.wires)
        if self.diagonal and gate.diagonal:
            return len(union) <= max_diagonal_wires
        return max(union) - min(union) < max_wires


def group_gates(gates: list[Gate], max_wires: int, max_diagonal_wires: int) -> list[GateGroup]:
    """Group ``gates`` into groups of at most ``max_wires`` wires (``max_diagonal_wires`` for
    groups of diagonal gates, which are applied elementwise); a gate on more wires gets a group
    of its own. The product of the groups' matrices, in order, is the circuit's."""
    groups: list[GateGroup] = []
    for gate in gates:
        wires = set(gate.wires)
        latest = max((i for i, g in enumerate(groups) if g.wires & wires), default=-1)
        target = None
        if latest >= 0 and groups[latest].takes(gate, max_wires, max_diagonal_wires):
            target = groups[latest]
        else:  # a later group with room: the gate commutes with every group after ``latest``
            room = [g for g in groups[latest + 1:] if g.takes(gate, max_wires, max_diagonal_wires)]
            if room:
                target = room[-1]
        if target is None:
            target = GateGroup()
            groups.append(target)
        target.wires |= wires
        target.gates.append(gate)
        target.diagonal = target.diagonal and gate.diagonal
    return groups


def embed(matrix: np.ndarray, wires: tuple, order: tuple) -> np.ndarray:
    """``matrix`` on ``wires`` as a matrix on ``order`` (a superset; first wire most significant).

    A circuit embeds the same few matrices at the same relative positions again and again: each
    embedding on at most 4 wires is computed once per process (by its matrix's bytes and the
    positions) and copied."""
    positions = tuple(order.index(w) for w in wires)
    k = len(order)
    return _kept(_embedded, 2**k, lambda: (_array_key(matrix), positions, k),
                 lambda: (_embed(matrix, positions, k),))[0]


def _embed(matrix: np.ndarray, positions: tuple, k: int) -> np.ndarray:
    """``matrix`` on the wires at ``positions`` of ``k`` wires."""
    rest = [p for p in range(k) if p not in positions]
    full = np.kron(matrix, np.eye(2 ** len(rest))).reshape((2,) * (2 * k))
    current = list(positions) + rest  # the axes' positions, rows then columns
    perm = [current.index(p) for p in range(k)]
    return full.transpose(perm + [k + p for p in perm]).reshape(2**k, 2**k)


@dataclass
class FusedGate:
    """A group of gates fused into one: its wires in matrix order and how to build its matrix.

    Attributes:
        wires (tuple[int, ...]): the gate's wires, the first the most significant.
        steps (list): ``("fixed", M)`` and ``("angle", index, values, projectors, generator)``
            in circuit order; the gate's matrix is their product.
        angles (list[int]): the angle indices of the group's angle gates, in order.
        diagonal (tuple or None): for a structurally diagonal gate, ``(U(0) diagonal, g)`` with
            ``g`` ``(J, d)`` such that ``U(theta) = diag(U0 * exp(i theta @ g))``.
        real (bool): whether the gate's matrix is real for every angle.
    """

    wires: tuple
    steps: list
    angles: list
    diagonal: tuple | None
    real: bool = False


def _eig_projectors(h: np.ndarray):
    """The distinct eigenvalues of Hermitian ``h`` and their projectors (computed once per matrix)."""
    return _kept(_eigen, h.shape[0], lambda: _array_key(h), lambda: _eig_projectors_of(h))


def _eig_projectors_of(h: np.ndarray):
    values, vectors = np.linalg.eigh(h)
    distinct, projectors = [], []
    for v, vec in zip(values, vectors.T):
        outer = np.outer(vec, vec.conj())
        for i, d in enumerate(distinct):
            if abs(d - v) < 1e-9:
                projectors[i] = projectors[i] + outer
                break
        else:
            distinct.append(float(v))
            projectors.append(outer)
    return np.array(distinct), np.stack(projectors)


def _evaluate(steps, theta: np.ndarray, d: int, moved_generators: bool = True):
    """The fused matrix and the generators ``P_j H_j P_j^dagger`` moved to its end (NumPy; None
    without ``moved_generators``)."""
    u = np.eye(d, dtype=np.complex128)
    mats = []
    for step in steps:
        if step[0] == "fixed":
            mats.append(step[1])
        else:
            _, index, values, projectors, _ = step
            mats.append(np.einsum("l,lij->ij", np.exp(1j * theta[index] * values), projectors))
    for m in mats:
        u = m @ u
    if not moved_generators:
        return u, None
    moved, after = [], np.eye(d, dtype=np.complex128)
    for step, m in zip(reversed(steps), reversed(mats)):
        if step[0] == "angle":
            moved.append(after @ step[4] @ after.conj().T)
        after = after @ m
    return u, moved[::-1]


def _embed_diagonal(diagonal: np.ndarray, wires: tuple, order: tuple) -> np.ndarray:
    """A diagonal on ``wires`` as a diagonal on ``order`` (a superset)."""
    grid = diagonal.reshape((2,) * len(wires))
    grid = grid.transpose(np.argsort([order.index(w) for w in wires]))  # axes in the order of ``order``
    shape = [2 if w in wires else 1 for w in order]
    return np.broadcast_to(grid.reshape(shape), (2,) * len(order)).reshape(-1)


def fuse(group: GateGroup, order: tuple, num_angles: int, rng: np.random.Generator) -> FusedGate:
    """Embed the gates of ``group`` in the wire order ``order`` and classify the fused gate
    (``num_angles``: the circuit's angle count; ``rng`` draws the angles that test diagonality)."""
    if group.diagonal:  # elementwise: only diagonals, whatever the width
        sorted_order = [w for w in order if w in group.wires]
        base = np.ones(2 ** len(order), dtype=np.complex128)
        rows, angles = [], []
        for gate in group.gates:
            if gate.matrix is not None:
                base = base * _embed_diagonal(np.diag(gate.matrix), gate.wires, tuple(sorted_order))
            else:
                generator = _embed_diagonal(np.diag(gate.generator), gate.wires, tuple(sorted_order))
                rows.append(np.real(generator))
                angles.append(gate.angle)
        g = np.array(rows).reshape(len(rows), base.size)
        return FusedGate(tuple(sorted_order), [], angles, (base, g))
    d = 2 ** len(order)
    steps: list = []
    for gate in group.gates:
        if gate.matrix is not None:
            m = embed(gate.matrix, gate.wires, order)
            if steps and steps[-1][0] == "fixed":
                steps[-1] = ("fixed", m @ steps[-1][1])
            else:
                steps.append(("fixed", m))
        else:
            h = embed(gate.generator, gate.wires, order)
            values, projectors = _eig_projectors(h)
            steps.append(("angle", gate.angle, values, projectors, h))
    angles = [s[1] for s in steps if s[0] == "angle"]
    diagonal = _structural_diagonal(steps, angles, num_angles, d, rng)
    u, _ = _evaluate(steps, rng.uniform(-np.pi, np.pi, num_angles), d, moved_generators=False)
    real = diagonal is None and bool((np.abs(u.imag) <= _TOL).all())  # np.allclose(u.imag, 0, atol=_TOL)
    return FusedGate(tuple(order), steps, angles, diagonal, real)


def _structural_diagonal(steps, angles, num_angles, d, rng):
    """``(U(0) diagonal, g)`` if the fused matrix is diagonal for every angle, else None
    (decided at random angles: a structure diagonal at two random points is diagonal)."""
    u0, _ = _evaluate(steps, np.zeros(num_angles), d, moved_generators=False)
    if not is_diagonal(u0):
        return None
    base = np.diag(u0)
    found = None
    for _ in range(2):
        theta = rng.uniform(-np.pi, np.pi, num_angles)
        u, moved = _evaluate(steps, theta, d)
        if not is_diagonal(u):
            return None
        if not all(is_diagonal(g) for g in moved):
            return None
        g = np.array([np.real(np.diag(m)) for m in moved]).reshape(len(angles), d)
        if found is not None and not np.allclose(found, g, atol=_TOL):
            return None
        if not np.allclose(np.diag(u), base * np.exp(1j * (theta[angles] @ g)), atol=1e-9):
            return None
        found = g
    return base, found
