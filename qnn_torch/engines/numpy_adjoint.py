"""The NumPy adjoint engine: exact outputs and per-sample Jacobians in NumPy, for small registers.

For a few qubits a QNN's cost is all overhead: a two-qubit state has four amplitudes, and
every torch operation costs microseconds whatever its size. This path does the whole job in
a handful of NumPy operations on ``(batch, 2**n)`` arrays:

1. **Structure, once.** The circuit is queued and decomposed until every gate whose angle
   depends on the inputs or weights has a generator, :math:`U(\\theta) = e^{i\\theta H}`
   (:mod:`~qnn_torch.engines.decomposition`). Gates without such angles are multiplied into
   constant matrices, which are moved past later gates when that keeps those gates' generators
   diagonal or Pauli-like (:math:`U F = F\\, e^{i\\theta F^\\dagger H F}`), and the last one is
   absorbed into the observables. Consecutive diagonal gates become one complex exponential.
2. **Angles, per call.** The angles and their derivatives with respect to every input and
   weight come from the traced template code, as NumPy programs
   (:mod:`~qnn_torch.engines.angle_programs`).
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

from ..circuits import PENNYLANE_LOCK, CircuitDescription
from .base import VJPEngine, exact_simulation
from .errors import EngineUnavailable
from .angle_programs import AnglePrograms
from .bit_order import probability_index, wire_bits
from .decomposition import queued_leaves, shared_analysis
from .fusion import embed
from .monomial import (axis_aligned, clifford_phases, conjugate_dense, conjugate_diagonal, conjugate_monomial,
                       lift, lift_diagonal, register_index, row_form)
from .monomial import dense as dense_matrix, identity as identity_form, product as monomial_product
from .leaf_matrices import fixed_matrix, generator_matrix
from .jacobians import split_jacobian, split_vjp
from .structure_key import SharedAnalyses

__all__ = ["AUTO_MAX_QUBITS", "MAX_QUBITS", "MAX_QUBITS_PROBABILITIES", "AdjointPlan", "NumpyAdjointEngine"]

MAX_QUBITS = 8
"""int: the largest register the NumPy adjoint engine takes: beyond it, its dense ``2**n`` matrices
cost more than the torch engines (benchmarks/bench_scaling.py)."""

AUTO_MAX_QUBITS = 6
"""int: the largest register for which ``engine="auto"`` takes the NumPy adjoint engine for
expectation values. Above it the torch adjoint engine is faster whenever gates cannot be kept
diagonal or Pauli-like (re-uploading circuits), and not much slower otherwise
(benchmarks/bench_reuploading.py)."""

MAX_QUBITS_PROBABILITIES = 5
"""int: the largest register for which ``engine="auto"`` takes the NumPy adjoint engine for
probability outputs (one bra vector per basis state makes the sweep grow as ``4**n``; the torch adjoint engine
folds ``interpret`` into its bras)."""

_TOL = 1e-12
_MAX_ABSORBED = 2**20  # entries of the observables' matrices worth absorbing the last constant matrix
_SHARED = SharedAnalyses()  # analyses and angle programs by circuit structure, for the engines alive
_FORMS_SIZE = 256
_forms: dict = {}  # (gate matrix, wires, register size) -> its register form: O(2**n) arrays, read-only


@dataclass
class _Fixed:
    matrix: np.ndarray  # applied to row states as ``state @ matrix``


@dataclass
class _Diagonal:
    index: np.ndarray | slice  # angle indices (G_d,)
    generators: np.ndarray  # (G_d, D) real diagonals


@dataclass
class _Pauli:
    """A Pauli-like rotation ``exp(i theta scale P)``, ``P`` with one nonzero per row (``P[j, cols[j]]
    = phases[j]``). With phases 1, -1, i and -i it is applied as a gather: every product is exact,
    so the numbers are those of the dense products; other phases keep the dense ``P^T`` (a BLAS
    product may round a general complex product once where NumPy rounds twice)."""

    index: int
    scale: float  # H = scale * P with P**2 = 1
    matrix: np.ndarray | None  # P^T (general phases): row states as ``state @ matrix``
    hermitian: np.ndarray | None  # P itself (a view of ``matrix``), for conjugated bras in row form
    rows: tuple | None = None  # exact phases: ``(cols, phases, phases[cols])``

    def transposed_times(self, psi: np.ndarray) -> np.ndarray:
        """``psi @ P^T``: entry ``j`` is ``psi[cols[j]] * phases[j]``."""
        if self.rows is None:
            return psi @ self.matrix
        # np.take keeps C order, as a matrix product does (indexing would not): the sums over the
        # last axis that follow add in the same order
        return np.take(psi, self.rows[0], axis=-1) * self.rows[1]

    def times(self, bra: np.ndarray) -> np.ndarray:
        """``bra @ P``: entry ``m`` is ``bra[j] * phases[j]`` for the ``j`` with ``cols[j] = m``,
        ``j = cols[m]`` (``P**2`` is a multiple of the identity: ``cols`` is its own inverse)."""
        if self.rows is None:
            return bra @ self.hermitian
        return np.take(bra, self.rows[0], axis=-1) * self.rows[2]


@dataclass
class _Dense:
    index: int
    generator: np.ndarray  # H (D, D)
    vectors: np.ndarray  # H = V diag(values) V^dagger
    values: np.ndarray


@dataclass
class _Generator:
    """A generator on the register, classified as :func:`_kind` does: ``label`` and ``info`` as
    :func:`_kind` returns them, the dense matrix where one was made (always for ``"dense"``), and
    a Pauli-like generator's row form (:mod:`~.monomial`)."""

    label: str
    info: object
    matrix: np.ndarray | None = None
    rows: tuple | None = None


def _arrays(form) -> list:
    """The arrays in a gate's register form (tuples, :class:`_Generator` and arrays, nested)."""
    if isinstance(form, np.ndarray):
        return [form]
    if isinstance(form, _Generator):
        return _arrays(form.info) + _arrays(form.rows) + _arrays(form.matrix)
    if isinstance(form, tuple):
        return [a for part in form for a in _arrays(part)]
    return []


def _is_diagonal(matrix: np.ndarray, magnitude: np.ndarray | None = None) -> bool:
    """Every entry off the diagonal smaller than ``_TOL`` in magnitude and a finite diagonal (as
    ``np.all(np.abs(matrix - np.diag(np.diag(matrix))) < _TOL)``, in fewer passes)."""
    small = (np.abs(matrix) if magnitude is None else magnitude) < _TOL
    np.fill_diagonal(small, np.isfinite(np.diagonal(matrix)))
    return bool(small.all())


def _is_monomial(matrix: np.ndarray) -> bool:
    """One nonzero per row and column (a permutation with phases)."""
    nonzero = np.abs(matrix) > _TOL
    return bool(np.all(nonzero.sum(0) == 1) and np.all(nonzero.sum(1) == 1))


def _is_scaled_identity(square: np.ndarray, a2: float) -> bool:
    """``np.allclose(square, a2 * I, atol=1e-10)`` (relative tolerance 1e-5 on the diagonal), in
    fewer passes: the analysis classifies every generator, and ``allclose`` was most of it."""
    if not np.isfinite(a2):  # never for a generator; allclose's own rules for infinities
        with np.errstate(invalid="ignore"):
            return bool(np.allclose(square, a2 * np.eye(square.shape[0]), atol=1e-10))
    deviation = np.abs(square)
    np.fill_diagonal(deviation, np.abs(np.diagonal(square) - a2))
    limit = np.full(square.shape[0], 1e-10 + 1e-5 * abs(a2))
    within = deviation <= 1e-10
    np.fill_diagonal(within, np.diagonal(deviation) <= limit)
    return bool(within.all())


def _kind(h: np.ndarray):
    """Classify a Hermitian generator: ('diagonal', diag) | ('pauli', (a, perm, phase)) | ('dense', None)."""
    magnitude = np.abs(h)
    if _is_diagonal(h, magnitude):
        return "diagonal", np.real(np.diag(h)).copy()
    rows, cols = np.nonzero(magnitude > _TOL)
    if len(rows) == h.shape[0] and np.array_equal(rows, np.arange(h.shape[0])):
        square = h @ h
        a2 = np.real(square[0, 0])
        if a2 > _TOL and _is_scaled_identity(square, a2):
            scale = float(np.sqrt(a2))
            return "pauli", (scale, cols.copy(), h[rows, cols] / scale)
    return "dense", None


def _gate_times(matrix: np.ndarray, wires: tuple, n: int, dense: np.ndarray) -> np.ndarray:
    """``embed(matrix, wires, range(n)) @ dense`` without the register matrix: the gate's matrix,
    its wires put in the register's order, times ``dense``'s rows grouped by the gate's bits (one
    product with ``2**k`` terms per entry instead of ``2**n``, the others being products with
    zeros), ``O(2**(n + k))`` per column instead of ``O(4**n)``."""
    k = len(wires)
    order = sorted(range(k), key=lambda i: wires[i])
    if order != list(range(k)):  # the gate's index read in the register's bit order: a permutation
        matrix = matrix.reshape((2,) * (2 * k)).transpose(order + [k + i for i in order]).reshape(2**k, 2**k)
    positions = sorted(wires)
    columns = dense.shape[1]
    if positions == list(range(positions[0], positions[0] + k)):  # adjacent wires: no transposition
        rows = dense.reshape(2 ** positions[0], 2**k, -1)
        return np.matmul(matrix, rows).reshape(dense.shape)
    rest = [p for p in range(n) if p not in positions]
    axes = positions + rest + [n]
    tensor = dense.reshape((2,) * n + (columns,)).transpose(axes)
    product = (matrix @ tensor.reshape(2**k, -1)).reshape(tensor.shape)
    return product.transpose(np.argsort(axes)).reshape(dense.shape)


def _monomial_kind(cols: np.ndarray, vals: np.ndarray) -> tuple:
    """:func:`_kind` of a monomial matrix in row form ``M[r, cols[r]] = vals[r]``, in ``O(2**n)``:
    diagonal, Pauli-like (``M**2`` a positive multiple of the identity), or ``("dense", None)``
    (also where :func:`_kind` would look past entries below its tolerance: such a generator is
    kept unmoved, which is always right)."""
    states = np.arange(cols.shape[0])
    magnitude = np.abs(vals)
    if not np.isfinite(magnitude).all():
        return "dense", None
    if (cols == states).all():
        return "diagonal", np.real(vals).copy()
    if not ((magnitude > _TOL).all() and (cols[cols] == states).all()):
        return "dense", None
    square = vals * vals[cols]  # the diagonal of M @ M (its only entries)
    a2 = np.real(square[0])
    if a2 > _TOL and (np.abs(square - a2) <= 1e-10 + 1e-5 * abs(a2)).all():
        scale = float(np.sqrt(a2))
        return "pauli", (scale, cols.copy(), vals / scale)
    return "dense", None


@dataclass
class AdjointPlan:
    """A circuit's structure, analysed once by :meth:`NumpyAdjointEngine._analyse`.

    Attributes:
        decisions (list[str]): the decomposition decisions (``"angle"``, ``"fixed"``,
            ``"decompose"``), to collect the same angles again while tracing.
        segments (list): ``_Fixed``, ``_Diagonal``, ``_Pauli`` and ``_Dense`` steps, in order.
        state (numpy.ndarray): the initial state ``(D,)`` (a leading constant matrix applied).
        observables (numpy.ndarray): ``(K, D)`` real diagonals or ``(K, D, D)`` matrices.
        diagonal (bool): which of the two forms ``observables`` has.
        num_angles (int): the number of parametrised gate angles.
        scales (numpy.ndarray or None): the ``a`` of every Pauli rotation ``exp(i a theta P)``
            by angle index (zero elsewhere), or None without Pauli rotations.
    """

    decisions: list
    segments: list
    state: np.ndarray
    observables: np.ndarray
    diagonal: bool
    num_angles: int
    scales: np.ndarray | None


class NumpyAdjointEngine(VJPEngine):
    """A circuit simulated in NumPy, with Jacobians by one adjoint sweep.

    Args:
        circuit (CircuitDescription): a circuit ending in expectation values or probabilities,
            on at most :data:`MAX_QUBITS` qubits.

    Raises:
        EngineUnavailable: for a larger register, or (on the first call) gates or measurements
            this engine cannot handle.
    """

    name = "adjoint"
    order = 0
    builds_graph = False

    @classmethod
    def accepts(cls, circuit: CircuitDescription, spec, diff_method: str | None) -> bool:
        """Small registers (:data:`AUTO_MAX_QUBITS`, :data:`MAX_QUBITS_PROBABILITIES` for
        probabilities) on exact ``default.qubit``, when no ``diff_method`` is asked for."""
        limit = MAX_QUBITS_PROBABILITIES if circuit.probabilities else AUTO_MAX_QUBITS
        return exact_simulation(spec) and diff_method is None and circuit.num_qubits <= limit

    @classmethod
    def refusal(cls, circuit: CircuitDescription, spec) -> str | None:
        refusal = super().refusal(circuit, spec)
        if refusal is None and circuit.num_qubits > MAX_QUBITS:
            refusal = (f"engine 'adjoint' takes at most {MAX_QUBITS} qubits; "
                       f"got num_qubits={circuit.num_qubits}.")
        return refusal

    def __init__(self, circuit):
        if circuit.num_qubits > MAX_QUBITS:
            raise EngineUnavailable(f"the NumPy adjoint engine takes at most {MAX_QUBITS} qubits")
        super().__init__(circuit)
        self.n = circuit.num_qubits
        self.dim = 2**self.n
        self._plan: AdjointPlan | None = None
        self._angles: AnglePrograms | None = None
        self._head_matrix = None if circuit.head is None else circuit.head.numpy()

    # ------------------------------------------------------------------ the contract

    def values(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self(x, w)[0])

    def values_and_jacobians(self, x, w, want_x, want_w):
        out, jac = self(x, w, jacobian=True)
        jacobians = split_jacobian(jac, x.shape[-1], want_x, want_w)
        return torch.from_numpy(out), [torch.from_numpy(j) for j in jacobians]

    # ------------------------------------------------------------------ structure

    def _matrix(self, op) -> np.ndarray:
        matrix = qml.matrix(op, wire_order=range(self.n))
        if isinstance(matrix, torch.Tensor):
            matrix = matrix.detach().numpy()
        return np.asarray(matrix, dtype=np.complex128)

    def _expanded(self, matrix: np.ndarray, wires: tuple) -> np.ndarray:
        """A gate's matrix on its ``wires`` as a matrix on the register (the same numbers as
        ``qml.matrix(op, wire_order=range(n))``: the entries placed, multiplied by ones)."""
        return embed(matrix, wires, tuple(range(self.n)))

    def _embedded(self, cache: dict, matrix: np.ndarray, wires: tuple) -> np.ndarray:
        """:meth:`_expanded`, made once per matrix and wires in ``cache`` (read-only: segments share
        them)."""
        key = ("embedded", matrix.tobytes(), matrix.shape, wires)
        expanded = cache.get(key)
        if expanded is None:
            expanded = cache[key] = self._expanded(matrix, wires)
            expanded.setflags(write=False)
        return expanded

    def _z_word(self, obs) -> np.ndarray | None:
        """The diagonal of an observable that is one word of ``Z`` (or none) on register wires times a
        real coefficient ``c``, ``c * (-1)**(parity of the word's bits)``: the numbers of
        ``qml.matrix``'s diagonal (every product is by +-1), without building the matrix; None for
        any other observable."""
        rep = obs.pauli_rep
        if rep is None or len(rep) != 1:
            return None
        ((word, coeff),) = rep.items()
        if np.imag(coeff) != 0 or any(letter != "Z" for letter in word.values()):
            return None
        parity = np.zeros(self.dim, dtype=np.int64)
        for wire in word:
            if not (isinstance(wire, (int, np.integer)) and 0 <= wire < self.n):
                return None
            parity ^= wire_bits(self.n, int(wire))
        return float(np.real(coeff)) * (1 - 2 * parity).astype(np.float64)

    def _observables(self, measurements) -> tuple[np.ndarray, bool]:
        """Each output as an operator ``O_k``: ``((K, D) real diagonals, True)`` when all are
        diagonal (probabilities, Z-type observables), else ``((K, D, D) matrices, False)``."""
        diagonals, mats = [], []
        for mp in measurements:
            if isinstance(mp, qml.measurements.ExpectationMP) and mp.obs is not None:
                diagonal = self._z_word(mp.obs)
                if diagonal is not None:
                    diagonals.append(diagonal)
                    mats.append(None)  # built only if needed
                    continue
                matrix = self._matrix(mp.obs)
                mats.append(matrix)
                diagonals.append(np.real(np.diag(matrix)) if _is_diagonal(matrix) else None)
            elif isinstance(mp, qml.measurements.ProbabilityMP) and mp.obs is None:
                index = probability_index(self.n, mp.wires)
                for k in range(2 ** len(mp.wires)):
                    diagonals.append((index == k).astype(np.float64))
                    mats.append(None)  # built only if needed
            else:
                raise EngineUnavailable(f"measurement {mp} is not supported by the NumPy adjoint engine")
        if all(d is not None for d in diagonals):
            return np.stack(diagonals), True
        return np.stack([m if m is not None else np.diag(d).astype(np.complex128)
                         for m, d in zip(mats, diagonals)]), False

    def _segments(self, leaves):
        """Step 2: the angle gates as segments; the fixed gates between them are multiplied into
        constant matrices, moved past the next generator when that keeps it diagonal or Pauli-like.
        Returns the segments, the pending last constant matrix (or None) and the angle count.

        While the pending matrix is monomial (permutations with phases: ``CNOT``, ``X``, ``CZ``), it
        and the moved generators are kept in row form (:mod:`~.monomial`), ``O(2**n)`` per gate
        instead of dense products; a gate that is not monomial makes it dense, and each gate after that
        is applied to it on its own wires (:func:`_gate_times`), ``O(2**(n + k))`` per column."""
        segments: list = []
        pending = identity_form(self.dim)  # fixed gates applied since the last flush: row form or dense
        identity = True
        count = 0
        cache: dict = {}  # a layer's gates repeat: their register forms, generators' kinds
        for kind, op in leaves:
            wires = tuple(int(w) for w in op.wires)
            if kind == "fixed":
                pending = self._then(cache, fixed_matrix(op), wires, pending)
                identity = False
                continue
            matrix = generator_matrix(op)
            generator = self._generator(cache, matrix, wires)
            if not identity:
                moved = self._moved(cache, pending, generator, matrix, wires)
                if moved is not None:
                    generator = moved
                else:
                    segments.append(_Fixed(self._dense(pending).T.copy()))
                    pending, identity = identity_form(self.dim), True
            self._add_angle(segments, count, generator.matrix, generator.label, generator.info)
            count += 1
        return segments, (None if identity else self._dense(pending)), count

    @staticmethod
    def _dense(pending) -> np.ndarray:
        return dense_matrix(pending) if isinstance(pending, tuple) else pending

    def _index(self, cache: dict, wires: tuple) -> tuple:
        """:func:`~.monomial.register_index` of ``wires`` (made once per wires)."""
        index = cache.get(("index", wires))
        if index is None:
            index = cache[("index", wires)] = register_index(self.n, wires)
        return index

    def _form(self, key: tuple, make):
        """``make()``, the register form of a gate (a pure function of ``key``: its matrix, wires and
        this register's size), made once per process; :data:`_FORMS_SIZE` kept at most. Forms are
        ``O(2**n)`` arrays, made read-only: networks share them."""
        key = (*key, self.n)
        form = _forms.get(key, _forms)  # (the dictionary itself: not there)
        if form is _forms:
            form = make()
            for part in _arrays(form):
                part.setflags(write=False)
            if len(_forms) >= _FORMS_SIZE:
                _forms.clear()
            _forms[key] = form
        return form

    def _then(self, cache: dict, matrix: np.ndarray, wires: tuple, pending):
        """``pending`` followed by the fixed gate ``matrix`` on ``wires``: in row form while both are
        monomial, else a dense matrix, the gate applied on its own wires (:func:`_gate_times`)."""

        def make():  # only phases 1, -1, i, -i: products with them are exact, as in a dense product
            small = row_form(matrix)
            exact = small is not None and clifford_phases(small[1])
            return (lift(small, self._index(cache, wires)) if exact else None,)

        lifted = self._form(("fixed", matrix.tobytes(), matrix.shape, wires), make)
        if isinstance(pending, tuple):
            if lifted[0] is not None:
                return monomial_product(lifted[0], pending)
            pending = dense_matrix(pending)
        return _gate_times(matrix, wires, self.n, pending)

    def _generator(self, cache: dict, matrix: np.ndarray, wires: tuple) -> _Generator:
        """A generator on ``wires`` on the register: classified on its wires and lifted (the kinds
        agree; the register matrix is made only for a dense kind)."""
        key = ("generator", matrix.tobytes(), matrix.shape, wires)

        def make():
            label, info = _kind(matrix)
            index = self._index(cache, wires)
            if label == "diagonal":
                return _Generator(label, lift_diagonal(info, index))
            values = matrix[np.arange(matrix.shape[0]), info[1]] if label == "pauli" else None
            if label == "pauli" and axis_aligned(values):  # its square's entries: one exact product
                scale, cols, phase = info
                rows = lift((cols, values), index)
                return _Generator(label, (scale, *lift((cols, phase), index)), rows=rows)
            return None  # classified on the register, its matrix made per analysis and never kept

        generator = self._form(key, make)
        if generator is None:
            generator = cache.get(key)
            if generator is None:
                register = self._embedded(cache, matrix, wires)
                label, info = _kind(register)
                generator = cache[key] = _Generator(label, info, matrix=register)
        return generator

    def _moved(self, cache: dict, pending, generator: _Generator, matrix: np.ndarray, wires: tuple):
        """``pending^dagger H pending`` of a ``generator`` ``H`` (``matrix`` on ``wires``) as a
        :class:`_Generator`, or None when it is not diagonal or Pauli-like (the caller then keeps
        ``H`` and flushes ``pending``)."""
        if isinstance(pending, tuple):
            if generator.label == "diagonal":
                return _Generator("diagonal", np.real(conjugate_diagonal(pending, generator.info)).copy())
            if generator.rows is not None:
                label, info = _monomial_kind(*conjugate_monomial(pending, generator.rows))
                return None if label == "dense" else _Generator(label, info)
            moved = conjugate_dense(pending, generator.matrix)
        else:  # (pending^dagger H) pending, pending^dagger H = (H^dagger pending)^dagger
            moved = _gate_times(matrix.conj().T, wires, self.n, pending).conj().T @ pending
        label, info = _kind(moved)
        return None if label == "dense" else _Generator(label, info, matrix=moved)

    def _add_angle(self, segments: list, index: int, generator, label: str, info) -> None:
        """Append angle ``index`` with its generator (consecutive diagonals merge)."""
        if label == "diagonal":
            last = segments[-1] if segments else None
            if isinstance(last, _Diagonal):
                last.index = np.append(last.index, index)
                last.generators = np.vstack([last.generators, info])
            else:
                segments.append(_Diagonal(np.array([index]), info[None, :]))
        elif label == "pauli":
            scale, perm, phase = info
            if clifford_phases(phase):  # a gather, no 2**n x 2**n matrix
                segments.append(_Pauli(index, scale, None, None, (perm, phase, phase[perm])))
                return
            transposed = np.zeros((self.dim, self.dim), dtype=np.complex128)
            transposed[perm, np.arange(self.dim)] = phase
            # P itself as a view: one nonzero per column, so products with it are the same numbers
            segments.append(_Pauli(index, scale, transposed, transposed.T))
        else:
            values, vectors = np.linalg.eigh(generator)
            segments.append(_Dense(index, generator, vectors, values))

    def _absorb(self, obs, diagonal: bool, pending, segments: list):
        """Step 3: absorb the last constant matrix F into the observables, F^dagger O F (or keep
        it as a segment when the observables are too many to transform)."""
        if pending is None:
            return obs, diagonal
        if diagonal and _is_monomial(pending):
            return obs @ np.abs(pending) ** 2, True  # still diagonal: sum_j |F_ji|^2 o_j
        if len(obs) * self.dim**2 <= _MAX_ABSORBED:
            dense = obs if not diagonal else np.stack([np.diag(o).astype(np.complex128) for o in obs])
            obs = np.einsum("ji,kjl,lm->kim", pending.conj(), dense, pending)
            diagonal = all(_is_diagonal(o) for o in obs)
            return (np.real(np.einsum("kii->ki", obs)).copy() if diagonal else obs), diagonal
        segments.append(_Fixed(pending.T.copy()))  # many outputs (probabilities of a larger register)
        return obs, diagonal

    def _initial_state(self, segments: list) -> np.ndarray:
        """Step 4: the first constant matrix acting on |0...0> is just its first column."""
        state = np.zeros(self.dim, dtype=np.complex128)
        state[0] = 1.0
        if segments and isinstance(segments[0], _Fixed):
            state = segments.pop(0).matrix[0].copy()  # row 0 of M^T = column 0 of M
        return state

    @staticmethod
    def _tidy(segments: list, count: int) -> np.ndarray | None:
        """Step 5: contiguous diagonal indices become slices (basic slicing is faster); returns
        the scale of every Pauli rotation by angle index, or None without any."""
        for seg in segments:
            if isinstance(seg, _Diagonal):
                first, last = int(seg.index[0]), int(seg.index[-1])
                if np.array_equal(seg.index, np.arange(first, last + 1)):
                    seg.index = slice(first, last + 1)
        scales = np.zeros(count)
        for seg in segments:
            if isinstance(seg, _Pauli):
                scales[seg.index] = seg.scale
        return scales if np.any(scales) else None

    def _analyse(self, queued: tuple) -> AdjointPlan:
        """The plan: steps 1 to 5, for the circuit queued by :func:`~.decomposition.queue_tracked`."""
        decisions, leaves, measurements = queued_leaves(queued)
        segments, pending, count = self._segments(leaves)
        obs, diagonal = self._observables(measurements)
        obs, diagonal = self._absorb(obs, diagonal, pending, segments)
        state = self._initial_state(segments)
        scales = self._tidy(segments, count)
        return AdjointPlan(decisions, segments, state, obs, diagonal, count, scales)

    def cache_bytes(self) -> int:
        """Bytes of the tables of the angle programs kept (at most
        :data:`~.shape_cache.SHAPE_CACHE_SIZE` input shapes)."""
        return 0 if self._angles is None else self._angles.nbytes()

    def plan(self, x, w) -> AdjointPlan:
        """The circuit's plan, analysed on first use, or that of a live engine whose circuit has the
        same structure (:mod:`~.structure_key`), with its angle programs."""
        if self._plan is None:
            with PENNYLANE_LOCK:
                if self._plan is None:
                    settings = (_TOL, _MAX_ABSORBED)
                    shared = shared_analysis(_SHARED, self.circuit, x, w, settings, self._analyse)
                    plan = shared.value  # the angle programs keep ``shared`` alive
                    self._angles = AnglePrograms(self.circuit, plan.decisions, plan.num_angles, shared)
                    self._plan = plan
        return self._plan

    # ------------------------------------------------------------------ evaluation

    def __call__(self, x: torch.Tensor, w: torch.Tensor, jacobian: bool = False):
        """Outputs ``(B, K)`` and, with ``jacobian``, ``(B, K, I + P)`` as NumPy arrays.

        The Jacobian's last axis holds the input columns, then the weight columns: entry
        ``[b, k, j]`` is the derivative of sample ``b``'s output ``k`` with respect to sample
        ``b``'s input or weight ``j`` (weights ``(P,)`` or per sample, ``(B, P)``).
        """
        out, run = self._run(x, w, jacobian)
        if not jacobian:
            return out, None
        plan, psi, states, cache, dtheta = run
        grads = self._adjoint_sweep(plan, self._bras(plan, psi), states, cache, x.shape[0])
        jac = np.matmul(grads.transpose(1, 0, 2), dtheta)  # (B, K, G) @ (B, G, T)
        return out, self._head_jacobian(jac)

    def _run(self, x: torch.Tensor, w: torch.Tensor, tangents: bool):
        """The outputs and what a sweep needs: ``(plan, final state psi, states, cache, dtheta)``."""
        plan = self.plan(x, w)
        program = self._angles(x, w, tangents)
        xs, ws = x.detach().numpy(), w.detach().numpy()
        if tangents:
            theta, dtheta = program(xs, ws)
        else:
            theta, dtheta = program(xs, ws), None
        batch = xs.shape[0]
        states, cache = self._forward(plan, np.asarray(theta))
        psi = states[-1]
        if psi.shape[0] != batch:  # no angle at all: the same state for every sample
            psi = np.repeat(psi, batch, axis=0)
        if plan.diagonal:  # <psi|O_k|psi> = |psi|**2 . o_k: no bra until a sweep needs one
            out = (psi.real**2 + psi.imag**2) @ plan.observables.T
        else:
            out = (psi.conj()[None] * self._bras(plan, psi)).sum(-1).real.T
        return self._head(out), (plan, psi, states, cache, dtheta)

    @staticmethod
    def _bras(plan: AdjointPlan, psi: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        """``O_k psi`` ``(K, B, D)`` for every output, or with output ``weights`` ``(B, K)`` the one
        bra ``(sum_k g_k O_k) psi`` ``(1, B, D)`` of a vector-Jacobian product."""
        if weights is None:
            if plan.diagonal:
                return plan.observables[:, None, :] * psi[None]
            return np.einsum("kij,bj->kbi", plan.observables, psi)
        if plan.diagonal:  # the gradient of <psi| diag(g O) |psi>: one diagonal per sample
            return ((weights @ plan.observables) * psi)[None]
        return np.einsum("bk,kij,bj->bi", weights, plan.observables, psi, optimize=True)[None]

    def forward_for_vjp(self, x: torch.Tensor, w: torch.Tensor):
        """The outputs ``(B, K)`` and what :meth:`vjp` needs, for a backward pass later."""
        out, run = self._run(x, w, True)
        return torch.from_numpy(out), (run, x.shape[-1], w.dim())

    def vjp(self, saved, grad_output: torch.Tensor, want_x: bool, want_w: bool) -> list[torch.Tensor]:
        """``grad_output^T J`` by one sweep of one bra per sample (the outputs weighted by
        ``grad_output``): the input gradient ``(B, I)`` and/or the weight gradient (``(P,)``, or
        ``(B, P)`` for per-sample weights)."""
        (plan, psi, states, cache, dtheta), split, weight_dims = saved
        g = grad_output.detach().cpu().numpy().astype(np.float64)  # (B, outputs)
        if self._head_matrix is not None:
            g = g @ self._head_matrix.T  # the circuit's own outputs
        combined = self._bras(plan, psi, g)
        grads = self._adjoint_sweep(plan, combined, states, cache, g.shape[0])[0]  # (B, G)
        total = np.matmul(grads[:, None, :], dtheta)[:, 0]  # (B, I + P)
        return [torch.from_numpy(g) for g in split_vjp(total, split, weight_dims == 1, want_x, want_w)]

    @staticmethod
    def _forward(plan: AdjointPlan, theta):
        """The forward pass: the state after every segment, and what each segment applied."""
        if plan.scales is not None:  # all Pauli rotations at once: cos and i*sin of a*theta
            half = theta * plan.scales
            cos_all, isin_all = np.cos(half), 1j * np.sin(half)
        states = [plan.state[None]]  # (1, D): broadcasts against the batch
        cache = []
        for seg in plan.segments:
            psi = states[-1]
            if isinstance(seg, _Fixed):
                psi, extra = psi @ seg.matrix, None
            elif isinstance(seg, _Diagonal):
                extra = np.exp(1j * (theta[:, seg.index] @ seg.generators))
                psi = extra * psi
            elif isinstance(seg, _Pauli):
                extra = (cos_all[:, seg.index, None], isin_all[:, seg.index, None])
                psi = extra[0] * psi + extra[1] * seg.transposed_times(psi)
            else:
                extra = np.exp(1j * theta[:, seg.index, None] * seg.values)
                psi = ((psi @ seg.vectors.conj()) * extra) @ seg.vectors.T
            states.append(psi)
            cache.append(extra)
        return states, cache

    @staticmethod
    def _adjoint_sweep(plan: AdjointPlan, bra, states, cache, batch: int):
        """The adjoint sweep: the derivative ``(K, B, G)`` of every output by every angle.

        ``bra`` is A^dagger O psi for the rest A of the circuit; kept conjugated, so that
        <bra| v> is a plain product.
        """
        grads = np.empty((bra.shape[0], batch, plan.num_angles))
        bra = bra.conj()
        for seg, extra, after in zip(reversed(plan.segments), reversed(cache), reversed(states[1:])):
            if isinstance(seg, _Fixed):
                bra = bra @ seg.matrix.T  # conj(M^dagger bra), in row form
            elif isinstance(seg, _Diagonal):
                grads[:, :, seg.index] = -2.0 * ((bra * after).imag @ seg.generators.T)
                bra = extra * bra
            elif isinstance(seg, _Pauli):
                # with mu = conj(bra): <bra|P after> = (mu P) . after,
                # and conj(U^dagger bra) = c mu + i s mu P
                applied = seg.times(bra)
                grads[:, :, seg.index] = (-2.0 * seg.scale) * (applied * after).sum(-1).imag
                bra = extra[0] * bra + extra[1] * applied
            else:
                applied = after @ seg.generator.T
                grads[:, :, seg.index] = -2.0 * (bra * applied).sum(-1).imag
                bra = ((bra @ seg.vectors) * extra) @ seg.vectors.T.conj()
        return grads

    def _head(self, out):
        return out if self._head_matrix is None else out @ self._head_matrix

    def _head_jacobian(self, jac):
        return jac if self._head_matrix is None else np.einsum("bkt,kc->bct", jac, self._head_matrix)
