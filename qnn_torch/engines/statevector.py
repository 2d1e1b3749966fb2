"""A small batched state-vector simulator written in plain torch operations.

It applies PennyLane operations to a ``(batch, 2**n)`` complex state (wire 0 is the most
significant bit, as in PennyLane) and evaluates expectation values and probabilities. Every
step is an ordinary differentiable torch operation, so the whole circuit can be traced once
into an ATen graph (see :mod:`qnn_torch.engines.torch_traced`) and replayed without PennyLane's
per-call overhead. Common gates have closed-form kernels; any other operation with a matrix
is applied densely.
"""

from __future__ import annotations

import math

import numpy as np
import pennylane as qml
import torch

from .errors import EngineUnavailable
from .bit_order import probability_index, wire_bits
from .pauli import word_grid, word_permutation
from .sandwiches import ParityPhase, cnot_phase_cnot, merge_sandwiches

__all__ = ["KERNEL_GATES", "StateVector", "UnsupportedOperation"]

KERNEL_GATES = frozenset(
    {"RX", "RY", "RZ", "PhaseShift", "Hadamard", "CNOT", "CZ", "SWAP", "PauliX", "PauliY", "PauliZ",
     "S", "T", "SX", "Identity"}
)


class UnsupportedOperation(EngineUnavailable):
    """An operation or measurement the simulator cannot handle (the engine hands over)."""


class _PerQubit:
    """``table[q]``: a per-qubit table of ``2**n`` entries, built the first time it is asked for.

    Building all of them up front would cost ``n * 2**n`` entries per table before any call
    (gigabytes at 22 qubits); a circuit touches them only while it runs.
    """

    def __init__(self, build):
        self._build = build
        self._tables: dict = {}

    def __getitem__(self, q):
        table = self._tables.get(q)
        if table is None:
            table = self._tables[q] = self._build(q)
        return table


class StateVector:
    """Kernels for ``n`` wires labelled ``0 .. n-1``.

    Constructing one allocates nothing of size ``2**n``: the per-qubit tables and the zero
    state are built on first use (the traced engine runs the circuit once eagerly before
    tracing it, so a traced graph holds them as constants).

    Args:
        num_wires (int): the number of wires.
        device (torch.device or str or None): where the state and every constant live (default
            the CPU).
        dtype (torch.dtype): the state's dtype, ``torch.complex128`` (default) or
            ``torch.complex64`` (single precision; real constants are then float32).
    """

    def __init__(self, num_wires: int, device=None, dtype: torch.dtype = torch.complex128):
        if dtype not in (torch.complex128, torch.complex64):
            raise ValueError(f"dtype must be torch.complex128 or torch.complex64; got {dtype}.")
        self.n = num_wires
        self.dim = 2**num_wires
        self.device = torch.device("cpu" if device is None else device)
        self.dtype = dtype
        self.real_dtype = torch.float64 if dtype == torch.complex128 else torch.float32
        self._bits = _PerQubit(lambda q: wire_bits(num_wires, q))
        self._bit_t = _PerQubit(lambda q: self._real(self._bits[q]))
        self._sign_t = _PerQubit(lambda q: self._real(2.0 * self._bits[q] - 1.0))  # -1 for bit 0, +1 for 1
        self._constants: dict = {}  # tensors built on first use, before any trace
        # tiny registers: permutations as matrix products (their backward is a matmul too,
        # much cheaper than scattering an indexed gradient); large ones: indexing
        self._dense_perm = self.dim <= 64
        self._zero_state = None  # (1, 2**n), built on first use

    # ------------------------------------------------------------- helpers

    def _real(self, array) -> torch.Tensor:
        """A real constant on the simulator's device, in its real dtype."""
        return torch.as_tensor(np.asarray(array), dtype=self.real_dtype).to(self.device)

    def _complex(self, array) -> torch.Tensor:
        """A complex constant on the simulator's device, in its dtype."""
        return torch.as_tensor(np.asarray(array), dtype=self.dtype).to(self.device)

    def _index(self, array) -> torch.Tensor:
        """An index tensor on the simulator's device."""
        return torch.as_tensor(np.asarray(array), dtype=torch.long).to(self.device)

    def _bit(self, q):
        return self._bit_t[q]

    def _constant(self, key, build):
        """The cached tensor for ``key``, built by ``build()`` the first time."""
        tensor = self._constants.get(key)
        if tensor is None:
            tensor = self._constants[key] = build()
        return tensor

    def _permutation(self, key) -> np.ndarray:
        """The index permutation ``key``: ``("flip", q)`` flips qubit q's bit; ``("cnot", c, t)``
        flips t's bit where c's is set."""
        if key[0] == "flip":
            return np.arange(self.dim) ^ (1 << (self.n - 1 - key[1]))
        _, c, t = key
        return np.arange(self.dim) ^ (self._bits[c] << (self.n - 1 - t))

    def _permute(self, state, key):
        """``state[:, perm]`` for the permutation named ``key`` (see :meth:`_permutation`)."""
        if not self._dense_perm:
            return state[:, self._constant(("index", *key), lambda: self._index(self._permutation(key)))]

        def build():  # (state @ M)[:, j] = state[:, perm[j]]
            matrix = np.zeros((self.dim, self.dim))
            matrix[self._permutation(key), np.arange(self.dim)] = 1.0
            return self._complex(matrix)

        return state @ self._constant(("perm", *key), build)

    def _angle(self, op):
        theta = op.data[0]
        if not isinstance(theta, torch.Tensor):
            theta = torch.as_tensor(theta, dtype=self.real_dtype)
        return theta.reshape(-1, 1) if theta.ndim else theta  # (B, 1) or scalar

    def zero_state(self, batch: int) -> torch.Tensor:
        """``|0...0>`` repeated ``batch`` times, shape ``(batch, 2**n)``."""
        if self._zero_state is None:
            zero = torch.zeros(1, self.dim, dtype=self.dtype, device=self.device)
            zero[0, 0] = 1.0
            self._zero_state = zero
        return self._zero_state.expand(batch, self.dim)

    # ------------------------------------------------------------- gates

    def apply(self, op, state: torch.Tensor) -> torch.Tensor:
        """Apply operation ``op`` to ``state`` (``(batch, 2**n)``)."""
        name = op.name
        wires = [int(w) for w in op.wires]
        if name == "Identity":
            return state
        if name in ("RX", "RY", "RZ", "PhaseShift"):
            q = wires[0]
            theta = self._angle(op)
            bit = self._bit(q)
            if name == "PhaseShift":
                return state * torch.exp(1j * theta * bit)
            if name == "RZ":
                return state * torch.exp((0.5j * theta) * self._sign_t[q])
            half = 0.5 * theta
            c, s = torch.cos(half), torch.sin(half)
            flipped = self._permute(state, ("flip", q))
            if name == "RY":
                return c * state + (s * self._sign_t[q]) * flipped
            return c * state - (1j * s) * flipped
        if name == "Hadamard":
            q = wires[0]
            return (self._permute(state, ("flip", q)) - self._sign_t[q] * state) * (1 / math.sqrt(2))
        if name == "CNOT":
            c, t = wires
            return self._permute(state, ("cnot", c, t))
        if op.num_params == 0 or name in KERNEL_GATES:
            return self._monomial_or_dense(op, state)
        return self._dense(op, state)

    def _monomial_or_dense(self, op, state):
        """A fixed gate: as a permutation with phases when it has one nonzero per row."""
        full = qml.matrix(op, wire_order=range(self.n))
        rows, cols = np.nonzero(np.abs(full) > 1e-12)
        if len(rows) == self.dim and np.array_equal(rows, np.arange(self.dim)):
            return self._complex(full[rows, cols]) * state[:, self._index(cols)]
        return state @ self._complex(full.T)

    def _dense(self, op, state):
        """Any operation with a (possibly batched, differentiable) matrix."""
        try:
            matrix = op.matrix(wire_order=range(self.n))
        except qml.operation.MatrixUndefinedError as err:
            raise UnsupportedOperation(f"{op.name} has no matrix") from err
        matrix = torch.as_tensor(matrix).to(device=self.device, dtype=self.dtype)
        if matrix.ndim == 2:
            return state @ matrix.T
        return torch.einsum("bij,bj->bi", matrix, state)

    def _phase_term(self, op):
        """The phase-angle vector of a diagonal gate (PhaseShift, RZ, a :class:`ParityPhase`), or None."""
        if isinstance(op, ParityPhase):
            return self._angle(op.phase_shift) * self._parity_mask(op.control, op.target)
        if op.name == "PhaseShift":
            return self._angle(op) * self._bit(int(op.wires[0]))
        if op.name == "RZ":
            return (0.5 * self._angle(op)) * self._sign_t[int(op.wires[0])]
        return None

    def _parity_mask(self, a, b):
        return self._constant(("parity", a, b),
                              lambda: self._real(self._bits[a] ^ self._bits[b]))

    def run(self, ops, state: torch.Tensor) -> torch.Tensor:
        """Apply a sequence of operations, fusing what can be fused.

        Consecutive ``PhaseShift``/``RZ`` gates, and the sandwiches ``CNOT(a, b) PhaseShift(b)
        CNOT(a, b)`` (:mod:`.sandwiches`), are accumulated as one phase-angle vector and applied
        with a single complex exponential. On small registers, consecutive parameter-free gates
        are multiplied into one constant matrix.
        """
        phase = None  # accumulated phase angles, (batch, 2**n) or (2**n,)
        fixed = None  # accumulated constant matrix (numpy)

        def flush(state):
            nonlocal phase, fixed
            if phase is not None:
                state, phase = state * torch.exp(1j * phase), None
            if fixed is not None:
                state, fixed = self._apply_fixed(fixed, state), None
            return state

        for op in merge_sandwiches(ops, cnot_phase_cnot):
            term = self._phase_term(op)
            if term is not None:
                if fixed is not None:
                    state = flush(state)
                phase = term if phase is None else phase + term
            elif self._dense_perm and op.num_params == 0 and op.name != "Identity":
                if phase is not None:
                    state = flush(state)
                matrix = qml.matrix(op, wire_order=range(self.n))
                fixed = matrix if fixed is None else matrix @ fixed
            else:
                state = self.apply(op, flush(state))
        return flush(state)

    def _apply_fixed(self, matrix, state):
        """Apply a constant (numpy) matrix, cached as a tensor so a trace keeps it constant."""
        tensor = self._constant(("fixed", matrix.tobytes()),
                                lambda: self._complex(matrix.T))
        return state @ tensor

    # ------------------------------------------------------------- measurements

    def measure(self, mp, state: torch.Tensor) -> torch.Tensor:
        """Evaluate a measurement process: ``(batch,)`` for expectations, ``(batch, 2**k)`` for
        probabilities."""
        if isinstance(mp, qml.measurements.ExpectationMP) and mp.obs is not None:
            return self._expval(mp.obs, state)
        if isinstance(mp, qml.measurements.ProbabilityMP) and mp.obs is None:
            return self._probs([int(w) for w in mp.wires], state)
        raise UnsupportedOperation(f"measurement {mp} is not supported by the torch state-vector simulator")

    def _expval(self, obs, state):
        try:
            sentence = qml.pauli.pauli_sentence(obs)
        except (ValueError, TypeError, AttributeError):
            sentence = None
        if sentence is None:
            matrix = self._complex(qml.matrix(obs, wire_order=range(self.n)))
            return torch.real(torch.sum(state.conj() * (state @ matrix.T), dim=-1))
        result = None
        for word, coeff in sentence.items():
            term = self._pauli_word_expval(word, state) * float(np.real(coeff))
            result = term if result is None else result + term
        if result is None:
            return torch.zeros(state.shape[0], dtype=self.real_dtype, device=self.device)
        return result

    def _pauli_word_expval(self, word, state):
        """<psi|P|psi> for a Pauli word: P is a permutation with phases (:mod:`.pauli`)."""
        phase = (np.ones([2] * self.n, dtype=np.complex128) * word_grid(word, self.n)).reshape(-1)
        perm = word_permutation(word, self.n)
        if perm is None:  # a diagonal word: the phases weigh the probabilities
            return torch.sum((state.real**2 + state.imag**2) * self._real(phase.real), dim=-1)
        applied = self._complex(phase) * state[:, self._index(perm)]
        return torch.real(torch.sum(state.conj() * applied, dim=-1))

    def _probs(self, wires, state):
        probs = state.real**2 + state.imag**2
        k = len(wires)
        index = probability_index(self.n, wires)
        if k == self.n and np.array_equal(np.sort(index), np.arange(self.dim)):
            inverse = np.empty(self.dim, dtype=np.int64)
            inverse[index] = np.arange(self.dim)
            return probs[:, self._index(inverse)]
        marginal = np.zeros((self.dim, 2**k))
        marginal[np.arange(self.dim), index] = 1.0
        return probs @ self._real(marginal)
