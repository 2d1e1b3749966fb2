"""Gate fusion: a circuit's leaves grouped into blocks of a few wires, each applied as one matrix.

A state-vector simulator pays one pass over the whole state for every gate, and at 12 qubits
and more those passes are all of its cost. Consecutive gates on few wires multiply into one
small matrix, applied in one pass as a matrix product. :func:`fuse` groups the leaves of
:mod:`~qnn_torch.engines.leaves` greedily: a gate joins the latest block that shares a wire
with it (it commutes with every later block) if the union fits in ``max_wires``; otherwise a
later block with room; otherwise it opens a block of its own. Blocks of diagonal gates span any ``max_diagonal_wires`` wires; other
blocks at most ``max_wires`` *consecutive* wires, which keeps them contiguous axes of the state
(no transposition). :func:`compile_block` then turns
a block into the steps its matrix is built from on every call, and says whether the matrix is
*structurally diagonal* (diagonal for every angle, as a ``CNOT``-``RZ``-``CNOT`` sandwich is),
in which case the block is applied elementwise.

An angle gate is :math:`U(\\theta) = e^{i\\theta H} = \\sum_l e^{i\\theta\\lambda_l}\\Pi_l`
(its generator's distinct eigenvalues and eigenprojectors), so each call builds it with one
small product.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pennylane as qml

__all__ = ["Block", "CompiledBlock", "Gate", "compile_block", "fuse", "local_gate", "simplify"]

_TOL = 1e-10


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
        m = self.matrix if self.matrix is not None else self.generator
        self.diagonal = bool(np.allclose(m, np.diag(np.diag(m)), atol=_TOL))
        """bool: whether the gate's matrix is diagonal for every angle."""


def _sandwich(first: Gate, middle: Gate, last: Gate) -> Gate | None:
    """``last . middle(theta) . first`` as one diagonal angle gate when ``last . first = 1``
    and ``first^dagger H first`` is diagonal (``CNOT``-``RZ``-``CNOT`` is ``exp(i theta Z Z / 2)``)."""
    if first.matrix is None or last.matrix is None or middle.generator is None:
        return None
    wires = first.wires
    if last.wires != wires or not set(middle.wires) <= set(wires):
        return None
    if not np.allclose(last.matrix @ first.matrix, np.eye(2 ** len(wires)), atol=_TOL):
        return None
    h = _embed(middle.generator, middle.wires, wires)
    moved = first.matrix.conj().T @ h @ first.matrix
    if not np.allclose(moved, np.diag(np.diag(moved)), atol=_TOL):
        return None
    return Gate(wires, angle=middle.angle, generator=moved)


def simplify(gates: list[Gate]) -> list[Gate]:
    """Replace every ``F, A(theta), F^-1`` run of three consecutive gates whose product is a
    diagonal angle gate by that gate (the entangling terms of ``ZZFeatureMap``)."""
    out: list[Gate] = []
    i = 0
    while i < len(gates):
        merged = _sandwich(*gates[i:i + 3]) if i + 2 < len(gates) else None
        if merged is not None:
            out.append(merged)
            i += 3
        else:
            out.append(gates[i])
            i += 1
    return out


def local_gate(kind: str, op, angle: int | None) -> Gate:
    """A leaf ``(kind, op)`` of :func:`~qnn_torch.engines.leaves.circuit_leaves` as a :class:`Gate`."""
    wires = tuple(int(w) for w in op.wires)
    if kind == "fixed":
        matrix = qml.matrix(op, wire_order=wires)
        return Gate(wires, matrix=np.asarray(qml.math.toarray(matrix), dtype=np.complex128))
    generator = qml.matrix(qml.generator(op, format="observable"), wire_order=wires)
    return Gate(wires, angle=angle, generator=np.asarray(qml.math.toarray(generator), dtype=np.complex128))


@dataclass
class Block:
    """Gates in circuit order; ``diagonal`` if every one of them is."""

    wires: set = field(default_factory=set)
    gates: list = field(default_factory=list)
    diagonal: bool = True

    def takes(self, gate: Gate, max_wires: int, max_diagonal_wires: int) -> bool:
        """Whether ``gate`` fits: diagonal blocks grow to ``max_diagonal_wires`` wires, others to
        ``max_wires`` consecutive wires (so that they stay contiguous axes of the state)."""
        union = self.wires | set(gate.wires)
        if self.diagonal and gate.diagonal:
            return len(union) <= max_diagonal_wires
        return max(union) - min(union) < max_wires


def fuse(gates: list[Gate], max_wires: int, max_diagonal_wires: int) -> list[Block]:
    """Group ``gates`` into blocks of at most ``max_wires`` wires (``max_diagonal_wires`` for
    blocks of diagonal gates, which are applied elementwise); a gate on more wires gets a block
    of its own. The product of the blocks' matrices, in order, is the circuit's."""
    blocks: list[Block] = []
    for gate in gates:
        wires = set(gate.wires)
        latest = max((i for i, b in enumerate(blocks) if b.wires & wires), default=-1)
        target = None
        if latest >= 0 and blocks[latest].takes(gate, max_wires, max_diagonal_wires):
            target = blocks[latest]
        else:  # a later block with room: the gate commutes with every block after ``latest``
            room = [b for b in blocks[latest + 1:] if b.takes(gate, max_wires, max_diagonal_wires)]
            if room:
                target = room[-1]
        if target is None:
            target = Block()
            blocks.append(target)
        target.wires |= wires
        target.gates.append(gate)
        target.diagonal = target.diagonal and gate.diagonal
    return blocks


def _embed(matrix: np.ndarray, wires: tuple, order: tuple) -> np.ndarray:
    """``matrix`` on ``wires`` as a matrix on ``order`` (a superset; first wire most significant)."""
    k = len(order)
    rest = [w for w in order if w not in wires]
    full = np.kron(matrix, np.eye(2 ** len(rest))).reshape((2,) * (2 * k))
    current = list(wires) + rest  # the axes' wires, rows then columns
    perm = [current.index(w) for w in order]
    return full.transpose(perm + [k + p for p in perm]).reshape(2**k, 2**k)


@dataclass
class CompiledBlock:
    """A block ready to run: its wires in matrix order and how to build its matrix.

    Attributes:
        wires (tuple[int, ...]): the block's wires, the first the most significant.
        steps (list): ``("fixed", M)`` and ``("angle", index, values, projectors, generator)``
            in circuit order; the block's matrix is their product.
        angles (list[int]): the angle indices of the block's angle gates, in order.
        diagonal (numpy.ndarray or None): for a structurally diagonal block, ``(U(0) diagonal,
            g)`` with ``g`` ``(J, d)`` such that ``U(theta) = diag(U0 * exp(i theta @ g))``.
    """

    wires: tuple
    steps: list
    angles: list
    diagonal: tuple | None
    real: bool = False


def _eig_projectors(h: np.ndarray):
    """The distinct eigenvalues of Hermitian ``h`` and their projectors."""
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


def _evaluate(steps, theta: np.ndarray, d: int):
    """The block's matrix and the generators ``P_j H_j P_j^dagger`` moved to its end (NumPy)."""
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


def compile_block(block: Block, order: tuple, num_angles: int, rng: np.random.Generator) -> CompiledBlock:
    """Embed the gates of ``block`` in the wire order ``order`` and classify the block."""
    if block.diagonal:  # elementwise: only diagonals, whatever the width
        sorted_order = [w for w in order if w in block.wires]
        base = np.ones(2 ** len(order), dtype=np.complex128)
        rows, angles = [], []
        for gate in block.gates:
            if gate.matrix is not None:
                base = base * _embed_diagonal(np.diag(gate.matrix), gate.wires, tuple(sorted_order))
            else:
                rows.append(np.real(_embed_diagonal(np.diag(gate.generator), gate.wires, tuple(sorted_order))))
                angles.append(gate.angle)
        g = np.array(rows).reshape(len(rows), base.size)
        return CompiledBlock(tuple(sorted_order), [], angles, (base, g))
    d = 2 ** len(order)
    steps: list = []
    for gate in block.gates:
        if gate.matrix is not None:
            m = _embed(gate.matrix, gate.wires, order)
            if steps and steps[-1][0] == "fixed":
                steps[-1] = ("fixed", m @ steps[-1][1])
            else:
                steps.append(("fixed", m))
        else:
            h = _embed(gate.generator, gate.wires, order)
            values, projectors = _eig_projectors(h)
            steps.append(("angle", gate.angle, values, projectors, h))
    angles = [s[1] for s in steps if s[0] == "angle"]
    diagonal = _structural_diagonal(steps, angles, num_angles, d, rng)
    u, _ = _evaluate(steps, rng.uniform(-np.pi, np.pi, num_angles), d)
    real = diagonal is None and bool(np.allclose(u.imag, 0.0, atol=_TOL))
    return CompiledBlock(tuple(order), steps, angles, diagonal, real)


def _structural_diagonal(steps, angles, num_angles, d, rng):
    """``(U(0) diagonal, g)`` if the block's matrix is diagonal for every angle, else None
    (decided at random angles: a structure diagonal at two random points is diagonal)."""
    u0, _ = _evaluate(steps, np.zeros(num_angles), d)
    if not np.allclose(u0, np.diag(np.diag(u0)), atol=_TOL):
        return None
    base = np.diag(u0)
    found = None
    for _ in range(2):
        theta = rng.uniform(-np.pi, np.pi, num_angles)
        u, moved = _evaluate(steps, theta, d)
        if not np.allclose(u, np.diag(np.diag(u)), atol=_TOL):
            return None
        if any(not np.allclose(g, np.diag(np.diag(g)), atol=_TOL) for g in moved):
            return None
        g = np.array([np.real(np.diag(m)) for m in moved]).reshape(len(angles), d)
        if found is not None and not np.allclose(found, g, atol=_TOL):
            return None
        if not np.allclose(np.diag(u), base * np.exp(1j * (theta[angles] @ g)), atol=1e-9):
            return None
        found = g
    return base, found
