"""The adjoint path: exact outputs and per-sample Jacobians in NumPy, for small registers.

For a few qubits a QNN's cost is all overhead: a two-qubit state has four amplitudes, and
every torch operation costs microseconds whatever its size. This path does the whole job in
a handful of NumPy operations on ``(batch, 2**n)`` arrays:

1. **Structure, once.** The circuit is queued and decomposed until every gate whose angle
   depends on the inputs or weights has a generator, :math:`U(\\theta) = e^{i\\theta H}`.
   Gates without such angles are multiplied into constant matrices, which are moved past
   later gates when that keeps those gates' generators diagonal or Pauli-like
   (:math:`U F = F\\, e^{i\\theta F^\\dagger H F}`), and the last one is absorbed into the
   observables. Consecutive diagonal gates become one complex exponential.
2. **Angles, per call.** The angles and their derivatives with respect to every input and
   weight come from the traced template code, compiled to NumPy by
   :func:`~qnn_torch.qnn.angles.numpy_program`.
3. **Simulation and adjoint sweep.** One forward pass through the segments, then one
   backward pass of the observables' bra vectors gives the derivative of every output with
   respect to every angle (adjoint differentiation), and the chain rule gives the Jacobians
   with respect to the inputs and the weights.

Results equal the plain QNode's to round-off (the tests check 1e-10).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pennylane as qml
import torch
from torch.fx.experimental.proxy_tensor import make_fx

from .angles import numpy_program
from .compiled import PENNYLANE_LOCK, CompilationError

__all__ = ["AdjointCircuit", "MAX_QUBITS", "MAX_QUBITS_PROBABILITIES"]

MAX_QUBITS = 8
"""int: the largest register the adjoint path takes: beyond it, its dense ``2**n`` matrices cost
more than the compiled torch path (see the benchmark's scaling section)."""

MAX_QUBITS_PROBABILITIES = 6
"""int: the largest register for which ``engine="auto"`` takes the adjoint path for probability
outputs (one bra vector per basis state makes the sweep grow as ``4**n``)."""

_TOL = 1e-12
_MAX_ABSORBED = 2**20  # entries of the observables' matrices worth absorbing the last constant block


@dataclass
class _Fixed:
    matrix: np.ndarray  # applied to row states as ``state @ matrix``


@dataclass
class _Diagonal:
    index: np.ndarray | slice  # angle indices (G_d,)
    generators: np.ndarray  # (G_d, D) real diagonals


@dataclass
class _Pauli:
    index: int
    scale: float  # H = scale * P with P**2 = 1
    matrix: np.ndarray  # P^T: row states as ``state @ matrix``
    hermitian: np.ndarray  # P itself, for conjugated bras in row form


@dataclass
class _Dense:
    index: int
    generator: np.ndarray  # H (D, D)
    vectors: np.ndarray  # H = V diag(values) V^dagger
    values: np.ndarray


def _is_diagonal(matrix: np.ndarray) -> bool:
    return bool(np.all(np.abs(matrix - np.diag(np.diag(matrix))) < _TOL))


def _is_monomial(matrix: np.ndarray) -> bool:
    """One nonzero per row and column (a permutation with phases)."""
    nonzero = np.abs(matrix) > _TOL
    return bool(np.all(nonzero.sum(0) == 1) and np.all(nonzero.sum(1) == 1))


def _kind(h: np.ndarray):
    """Classify a Hermitian generator: ('diagonal', diag) | ('pauli', (a, perm, phase)) | ('dense', None)."""
    if _is_diagonal(h):
        return "diagonal", np.real(np.diag(h)).copy()
    rows, cols = np.nonzero(np.abs(h) > _TOL)
    if len(rows) == h.shape[0] and np.array_equal(rows, np.arange(h.shape[0])):
        square = h @ h
        a2 = np.real(square[0, 0])
        if a2 > _TOL and np.allclose(square, a2 * np.eye(h.shape[0]), atol=1e-10):
            scale = float(np.sqrt(a2))
            return "pauli", (scale, cols.copy(), h[rows, cols] / scale)
    return "dense", None


class AdjointCircuit:
    """A QNN's circuit prepared for NumPy simulation with adjoint Jacobians.

    Args:
        qnn (QuantumNeuralNetwork): the network; its circuit must end in expectation values or
            probabilities.

    Raises:
        CompilationError: if the circuit has gates or measurements this path cannot handle.
    """

    name = "adjoint"

    def __init__(self, qnn):
        if qnn.num_qubits > MAX_QUBITS:
            raise CompilationError(f"the adjoint path takes at most {MAX_QUBITS} qubits")
        self.qnn = qnn
        self.n = qnn.num_qubits
        self.dim = 2**self.n
        self._structure = None
        self._programs: dict = {}
        self._scales = None  # a * theta scale of every Pauli rotation's angle, set by _build
        self._head_matrix = None  # SamplerQNN's interpret matrix (outputs = probs @ head), set by _build

    # ------------------------------------------------------------------ structure

    def _flatten(self, op, plan: list, leaves: list) -> None:
        """Decompose ``op`` (eagerly, with values) recording the decisions in ``plan``."""
        depends = any(isinstance(d, torch.Tensor) and d.requires_grad for d in op.data)
        if depends and op.num_params == 1 and op.has_generator:
            plan.append("angle")
            leaves.append(("angle", op))
        elif not depends and op.has_matrix:
            plan.append("fixed")
            leaves.append(("fixed", op))
        elif op.has_decomposition:
            plan.append("decompose")
            for sub in op.decomposition():
                self._flatten(sub, plan, leaves)
        else:
            raise CompilationError(
                f"operation {op.name} has neither a generator, a matrix nor a decomposition")

    def _replay(self, op, plan, position: int, angles: list) -> int:
        """Follow ``plan`` from ``position`` and collect the angle tensors (while tracing)."""
        action = plan[position]
        position += 1
        if action == "angle":
            angles.append(op.data[0])
        elif action == "decompose":
            for sub in op.decomposition():
                position = self._replay(sub, plan, position, angles)
        return position

    def _matrix(self, op) -> np.ndarray:
        matrix = qml.matrix(op, wire_order=range(self.n))
        if isinstance(matrix, torch.Tensor):
            matrix = matrix.detach().numpy()
        return np.asarray(matrix, dtype=np.complex128)

    def _observables(self, measurements) -> tuple[np.ndarray, bool]:
        """Each output as an operator ``O_k``: ``((K, D) real diagonals, True)`` when all are
        diagonal (probabilities, Z-type observables), else ``((K, D, D) matrices, False)``."""
        diagonals, mats = [], []
        for mp in measurements:
            if isinstance(mp, qml.measurements.ExpectationMP) and mp.obs is not None:
                matrix = self._matrix(mp.obs)
                mats.append(matrix)
                diagonals.append(np.real(np.diag(matrix)) if _is_diagonal(matrix) else None)
            elif isinstance(mp, qml.measurements.ProbabilityMP) and mp.obs is None:
                wires = [int(wire) for wire in mp.wires]
                index = np.zeros(self.dim, dtype=np.int64)
                for j, wire in enumerate(wires):
                    index |= ((np.arange(self.dim) >> (self.n - 1 - wire)) & 1) << (len(wires) - 1 - j)
                for k in range(2 ** len(wires)):
                    diagonals.append((index == k).astype(np.float64))
                    mats.append(None)  # built only if needed
            else:
                raise CompilationError(f"measurement {mp} is not supported by the adjoint path")
        if all(d is not None for d in diagonals):
            return np.stack(diagonals), True
        return np.stack([m if m is not None else np.diag(d).astype(np.complex128)
                         for m, d in zip(mats, diagonals)]), False

    def _build(self, x, w):
        """Segments, initial state and observables; the plan for replaying the angles."""
        # which angles depend on the inputs or weights: those that autograd tracks
        with torch.enable_grad():
            x = x.detach().clone().requires_grad_(True)
            w = w.detach().clone().requires_grad_(True)
            ops, measurements = self.qnn.queued(x, w)
            plan, leaves = [], []
            for op in ops:
                self._flatten(op, plan, leaves)
        segments: list = []
        pending = np.eye(self.dim, dtype=np.complex128)  # fixed gates applied since the last flush
        identity = True
        count = 0
        for kind, op in leaves:
            if kind == "fixed":
                pending = self._matrix(op) @ pending
                identity = False
                continue
            generator = self._matrix(qml.generator(op, format="observable"))
            label, info = _kind(generator)
            if not identity:
                moved = pending.conj().T @ generator @ pending
                moved_label, moved_info = _kind(moved)
                if moved_label != "dense":
                    generator, label, info = moved, moved_label, moved_info
                else:
                    segments.append(_Fixed(pending.T.copy()))
                    pending, identity = np.eye(self.dim, dtype=np.complex128), True
            if label == "diagonal":
                last = segments[-1] if segments else None
                if isinstance(last, _Diagonal):
                    last.index = np.append(last.index, count)
                    last.generators = np.vstack([last.generators, info])
                else:
                    segments.append(_Diagonal(np.array([count]), info[None, :]))
            elif label == "pauli":
                scale, perm, phase = info
                pauli = np.zeros((self.dim, self.dim), dtype=np.complex128)
                pauli[np.arange(self.dim), perm] = phase
                segments.append(_Pauli(count, scale, pauli.T.copy(), pauli))
            else:
                values, vectors = np.linalg.eigh(generator)
                segments.append(_Dense(count, generator, vectors, values))
            count += 1
        obs, diagonal = self._observables(measurements)
        if not identity:  # absorb the last constant block F into the observables: F^dagger O F
            if diagonal and _is_monomial(pending):
                obs = obs @ np.abs(pending) ** 2  # still diagonal: sum_j |F_ji|^2 o_j
            elif len(obs) * self.dim**2 <= _MAX_ABSORBED:
                dense = obs if not diagonal else np.stack([np.diag(o).astype(np.complex128) for o in obs])
                obs = np.einsum("ji,kjl,lm->kim", pending.conj(), dense, pending)
                diagonal = all(_is_diagonal(o) for o in obs)
                obs = np.real(np.einsum("kii->ki", obs)).copy() if diagonal else obs
            else:  # many outputs (probabilities of a larger register): apply F instead
                segments.append(_Fixed(pending.T.copy()))
        # the first constant block acting on |0...0> is just its first column
        state = np.zeros(self.dim, dtype=np.complex128)
        state[0] = 1.0
        if segments and isinstance(segments[0], _Fixed):
            state = segments.pop(0).matrix[0].copy()  # row 0 of M^T = column 0 of M
        for seg in segments:
            if isinstance(seg, _Diagonal):
                first, last = int(seg.index[0]), int(seg.index[-1])
                if np.array_equal(seg.index, np.arange(first, last + 1)):
                    seg.index = slice(first, last + 1)  # basic slicing is faster
        scales = np.zeros(count)
        for seg in segments:
            if isinstance(seg, _Pauli):
                scales[seg.index] = seg.scale
        self._scales = scales if np.any(scales) else None
        head = getattr(self.qnn, "_head", None)
        self._head_matrix = None if head is None else head.numpy()
        self._structure = (plan, segments, state, obs, diagonal, count)

    # ------------------------------------------------------------------ angles

    def _angles_program(self, x, w, tangents: bool):
        key = (tuple(x.shape), tuple(w.shape), tangents)
        program = self._programs.get(key)  # lock-free when cached: the hot path
        if program is not None:
            return program
        with PENNYLANE_LOCK:  # queuing and make_fx are not thread-safe
            program = self._programs.get(key)
            if program is not None:  # another thread built it meanwhile
                return program
            plan = self._structure[0]
            count = self._structure[5]
            batch = x.shape[0]

            def angles(x, w):
                ops, _ = self.qnn.queued(x, w)
                collected: list = []
                position = 0
                for op in ops:
                    position = self._replay(op, plan, position, collected)
                if position != len(plan) or len(collected) != count:
                    raise CompilationError("the circuit's structure changed between calls")
                if not collected:
                    return torch.zeros(batch, 0, dtype=torch.float64)
                return torch.stack([torch.broadcast_to(a, (batch,)) for a in collected], dim=1)

            try:
                graph = make_fx(angles, tracing_mode="real")(x.detach(), w.detach())
                program = numpy_program(graph, tangents)
            except CompilationError:
                raise
            except Exception as err:  # noqa: BLE001 - UnsupportedGraph, or anything tracing refuses
                raise CompilationError(f"{type(err).__name__}: {err}") from err
            self._programs[key] = program
        return program

    # ------------------------------------------------------------------ evaluation

    def __call__(self, x: torch.Tensor, w: torch.Tensor, jacobian: bool = False):
        """Outputs ``(B, K)`` and, with ``jacobian``, ``(B, K, I + P)`` as NumPy arrays.

        The Jacobian's last axis holds the input columns, then the weight columns: entry
        ``[b, k, j]`` is the derivative of sample ``b``'s output ``k`` with respect to sample
        ``b``'s input or weight ``j`` (weights ``(P,)`` or per sample, ``(B, P)``).
        """
        if self._structure is None:
            with PENNYLANE_LOCK:
                if self._structure is None:
                    self._build(x, w)
        _, segments, state0, obs, diagonal, count = self._structure
        program = self._angles_program(x, w, jacobian)
        xs, ws = x.detach().numpy(), w.detach().numpy()
        if jacobian:
            theta, dtheta = program(xs, ws)
        else:
            theta, dtheta = program(xs, ws), None
        theta = np.asarray(theta)
        batch = xs.shape[0]
        if self._scales is not None:  # all Pauli rotations at once: cos and i*sin of a*theta
            half = theta * self._scales
            cos_all, isin_all = np.cos(half), 1j * np.sin(half)
        states = [state0[None]]  # (1, D): broadcasts against the batch
        cache = []
        for seg in segments:
            psi = states[-1]
            if isinstance(seg, _Fixed):
                psi, extra = psi @ seg.matrix, None
            elif isinstance(seg, _Diagonal):
                extra = np.exp(1j * (theta[:, seg.index] @ seg.generators))
                psi = extra * psi
            elif isinstance(seg, _Pauli):
                extra = (cos_all[:, seg.index, None], isin_all[:, seg.index, None])
                psi = extra[0] * psi + extra[1] * (psi @ seg.matrix)
            else:
                extra = np.exp(1j * theta[:, seg.index, None] * seg.values)
                psi = ((psi @ seg.vectors.conj()) * extra) @ seg.vectors.T
            states.append(psi)
            cache.append(extra)
        psi = states[-1]
        if psi.shape[0] != batch:  # no angle at all: the same state for every sample
            psi = np.repeat(psi, batch, axis=0)
        if diagonal:
            bra = obs[:, None, :] * psi[None]  # O_k psi, (K, B, D)
        else:
            bra = np.einsum("kij,bj->kbi", obs, psi)
        out = (psi.conj() * bra).sum(-1).real.T
        out = self._head(out)
        if not jacobian:
            return out, None
        # the adjoint sweep: ``bra`` is A^dagger O psi for the rest A of the circuit; kept
        # conjugated, so that <bra| v> is a plain product
        grads = np.empty((bra.shape[0], batch, count))
        bra = bra.conj()
        for seg, extra, after in zip(reversed(segments), reversed(cache), reversed(states[1:])):
            if isinstance(seg, _Fixed):
                bra = bra @ seg.matrix.T  # conj(M^dagger bra), in row form
            elif isinstance(seg, _Diagonal):
                grads[:, :, seg.index] = -2.0 * ((bra * after).imag @ seg.generators.T)
                bra = extra * bra
            elif isinstance(seg, _Pauli):
                # with mu = conj(bra): <bra|P after> = (mu P) . after,
                # and conj(U^dagger bra) = c mu + i s mu P
                applied = bra @ seg.hermitian
                grads[:, :, seg.index] = (-2.0 * seg.scale) * (applied * after).sum(-1).imag
                bra = extra[0] * bra + extra[1] * applied
            else:
                applied = after @ seg.generator.T
                grads[:, :, seg.index] = -2.0 * (bra * applied).sum(-1).imag
                bra = ((bra @ seg.vectors) * extra) @ seg.vectors.T.conj()
        jac = np.matmul(grads.transpose(1, 0, 2), dtheta)  # (B, K, G) @ (B, G, T)
        return out, self._head_jacobian(jac)

    def _head(self, out):
        return out if self._head_matrix is None else out @ self._head_matrix

    def _head_jacobian(self, jac):
        return jac if self._head_matrix is None else np.einsum("bkt,kc->bct", jac, self._head_matrix)
