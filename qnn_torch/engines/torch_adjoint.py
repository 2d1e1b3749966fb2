"""The torch adjoint engine: fused gate blocks on a batched state, Jacobians by one adjoint sweep.

For large registers the cost of a simulation is the passes over the state vector: a gate, a
pass. This engine makes few, cheap passes, on any torch device:

1. **Structure, once.** The circuit is decomposed into angle gates and fixed gates
   (:mod:`~qnn_torch.engines.leaves`), which :mod:`~qnn_torch.engines.fusion` groups into blocks:
   at most :data:`MAX_BLOCK_WIRES` consecutive wires for a dense block, one ``(2**k, 2**k)`` matrix
   per sample applied by one batched matrix product (real blocks, such as ``RealAmplitudes``'s,
   by a real product on the real and imaginary parts at once), and up to
   :data:`MAX_DIAGONAL_WIRES` wires for a block of diagonal gates (``ZZFeatureMap``'s phases,
   ``CNOT``-``P``-``CNOT`` sandwiches included), applied elementwise. Gates on wires far apart
   (a ``CNOT`` closing a ring) are applied by ``einsum`` on the state's axes.
2. **Angles, per call**, with their derivatives with respect to every input and weight: a
   compiled NumPy program for small registers, the circuit queued with autograd from
   :data:`EAGER_ANGLES_QUBITS` qubits (:class:`~qnn_torch.engines.leaves.AnglePrograms`).
3. **Forward pass and adjoint sweep.** The forward pass keeps the state after every block when
   they fit in :data:`KEEP_STATES_BYTES` (else the sweep undoes the blocks). The sweep runs the
   blocks backwards on the bras; at each block the *transition matrix*
   ``rho = sum_rest psi conj(beta)`` on its wires gives, for all its gates at once, the
   derivative of every output with respect to every angle as ``-2 Im Tr(G_j rho)``, with ``G_j``
   the gate's generator moved to the block's end. The chain rule with the angles' derivatives
   gives the Jacobians. A vector-Jacobian product (:meth:`TorchAdjointEngine.vjp`) sweeps one
   bra per sample, the outputs weighted by the incoming gradient, whatever the number of
   outputs.

Outputs: expectation values of observables with a Pauli representation or a matrix (decomposed
into Pauli words), and probabilities (a ``SamplerQNN``'s ``interpret`` head is folded into
diagonal observables, so a parity network sweeps two bras, not ``2**n``). The state is
``(batch, 2**n)`` complex128, wire 0 the most significant bit, as in PennyLane. Results equal
``default.qubit``'s to round-off.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pennylane as qml
import torch

from .allocator import keep_freed_memory
from ..circuits import PENNYLANE_LOCK, CircuitDescription
from .base import EngineUnavailable, VJPEngine, exact_simulation
from .fusion import CompiledBlock, compile_block, fuse, local_gate, simplify
from .leaves import AnglePrograms, circuit_leaves

__all__ = ["CACHE_BYTES", "EAGER_ANGLES_QUBITS", "EAGER_CALLS", "FREED_MEMORY_QUBITS", "KEEP_STATES_BYTES", "MAX_BLOCK_WIRES", "MAX_DIAGONAL_WIRES", "MAX_OUTPUTS",
           "TorchAdjointEngine"]

MAX_BLOCK_WIRES = 4
"""int: the most (consecutive) wires a dense block spans: a ``16 x 16`` matrix per sample."""

MAX_DIAGONAL_WIRES = 10
"""int: the most wires a block of diagonal gates spans (a diagonal of ``2**10`` per sample)."""

MAX_OUTPUTS = 64
"""int: the most outputs the Jacobian sweep carries a bra for (probabilities without a head beyond
it hand over to another engine)."""

EAGER_ANGLES_QUBITS = 14
"""int: from this many qubits the first :data:`EAGER_CALLS` calls of each input shape compute the
angles by queuing the circuit (a few milliseconds more per call) rather than by a compiled program
(a trace of a second or more on first use), which the calls after them use."""

EAGER_CALLS = 1
"""int: calls per input shape served by eager angles before the program is compiled (from
:data:`EAGER_ANGLES_QUBITS` qubits): the first call stays fast, later ones get the faster program."""

FREED_MEMORY_QUBITS = 14
"""int: from this many qubits, a call on the CPU first asks the C library to keep freed memory for
reuse (:func:`~qnn_torch.engines.allocator.keep_freed_memory`): without it, every state of a few
megabytes costs page faults (20 qubits, batch 8: 600 to 280 ms per sample)."""

KEEP_STATES_BYTES = 2**31
"""int: the forward pass keeps the state after every block up to this many bytes in all (and a
quarter of a GPU's free memory); beyond, the sweep recomputes them by undoing the blocks (a third
more work: 18 qubits, batch 8 keeps 0.9 GB and runs 25% faster than undoing)."""

CACHE_BYTES = 2**25
"""int: bytes of states a sub-batch holds at once: batches of large registers run in sub-batches of
``max(2, CACHE_BYTES // state bytes)`` samples (two samples keep both cores busy). Measured with
freed memory kept (:data:`FREED_MEMORY_QUBITS`), batch 8, per sample: 16 qubits 21 / 16 / 13 ms
with sub-batches of 2 / 4 / 8, 18 qubits 61 / 56 / 54 ms; 20 qubits 276 / 321 ms with 2 / 4."""

_MAX_GATE_WIRES = 10  # a gate or matrix observable wider than this is refused (its matrix would be too large)
_MIN_COLUMNS = 16  # below this many trailing amplitudes a column-form product is slow: einsum instead
_MIN_PRODUCT_COLUMNS = 32  # from this many, a block's transition matrix is summed from products (no copies)
_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _axis_vector(values, axis: int, n: int) -> np.ndarray:
    """A length-2 factor along ``axis`` of an ``n``-axis grid, broadcastable."""
    shape = [1] * n
    shape[axis] = 2
    return np.asarray(values).reshape(shape)


@dataclass
class _Step:
    """A compiled block and how it meets the ``(..., 2**n)`` state.

    ``mode`` is ``"diagonal"`` (elementwise; ``shape`` the broadcast shape of its diagonal over
    the ``n`` axes), ``"column"`` (contiguous wires with at least :data:`_MIN_COLUMNS` amplitudes
    after them: ``U @ view(L, d, R)``), ``"row"`` (the last wires: ``view(M, d) @ U^T``) or
    ``"einsum"`` (any other wires: an ``einsum`` over the state's axes).
    """

    block: CompiledBlock
    mode: str
    shape: tuple

    @property
    def leading(self) -> int:
        """Amplitudes before the block's first wire (the ``L`` of ``view(L, d, R)``)."""
        return 2 ** self.block.wires[0]


def _mode(wires: tuple, n: int, diagonal: bool) -> str:
    if diagonal:
        return "diagonal"
    k, first = len(wires), wires[0]
    if list(wires) != list(range(first, first + k)):
        return "einsum"
    trailing = 2 ** (n - first - k)
    return "row" if trailing == 1 else "column" if trailing >= _MIN_COLUMNS else "einsum"


def _keep_limit(device: torch.device) -> int:
    """Bytes of kept states allowed on ``device``: :data:`KEEP_STATES_BYTES`, and on a GPU at most
    a quarter of its free memory."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return min(KEEP_STATES_BYTES, free // 4)
    return KEEP_STATES_BYTES


class _Forward:
    """What a forward pass leaves for a sweep: the final state, every block's matrices (and the
    states after them, when kept), and the angles' derivatives."""

    def __init__(self, psi, saved, dtheta):
        self.psi, self.saved, self.dtheta = psi, saved, dtheta


class _Plan:
    """The compiled structure: the steps, the outputs and the angle programs."""

    def __init__(self, steps, outputs, angles: AnglePrograms, num_angles: int):
        self.steps = steps
        self.outputs = outputs  # ("diagonal", (K, 2**n) table) or ("words", [[(coefficient, word)]])
        self.angles = angles
        self.num_angles = num_angles
        self.first = min((i for i, step in enumerate(steps) if step.block.angles), default=len(steps))


class TorchAdjointEngine(VJPEngine):
    """Fused gate blocks on a batched torch state, with Jacobians by one adjoint sweep.

    Args:
        circuit (CircuitDescription): a circuit ending in expectation values or probabilities.

    Raises:
        EngineUnavailable: (on the first call) for gates or measurements it cannot handle.
    """

    name = "torch-adjoint"
    order = 1
    builds_graph = False
    devices = frozenset({"cpu", "cuda"})

    @classmethod
    def accepts(cls, circuit: CircuitDescription, spec, diff_method: str | None) -> bool:
        """Exact ``default.qubit`` without a ``diff_method`` other than ``"adjoint"``, and at most
        :data:`MAX_OUTPUTS` outputs (bras to sweep)."""
        return (exact_simulation(spec) and diff_method in (None, "adjoint")
                and circuit.output_size <= MAX_OUTPUTS)

    def __init__(self, circuit):
        super().__init__(circuit)
        self.n = circuit.num_qubits
        self._plan: _Plan | None = None
        self._constants: dict = {}  # (id, device) -> tensor
        self._calls = itertools.count()  # numbers the calls (eager angles count calls, not sub-batches)

    # ------------------------------------------------------------------ the contract

    def _pieces(self, x: torch.Tensor, w: torch.Tensor):
        """``(x, w)`` on the CPU in sub-batches of at most :data:`CACHE_BYTES` of states (whole on
        a GPU, which needs large batches to be busy)."""
        if x.device.type != "cpu":
            yield x, w
            return
        size = max(2, CACHE_BYTES // (16 * 2**self.n))
        for start in range(0, x.shape[0], size):
            yield x[start:start + size], (w if w.dim() == 1 else w[start:start + size])

    def values(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        call = next(self._calls)
        return torch.cat([self._forward(xs, ws, False, call)[0] for xs, ws in self._pieces(x, w)])

    def values_and_jacobians(self, x, w, want_x, want_w):
        call = next(self._calls)
        parts = [self._values_and_jacobians(xs, ws, want_x, want_w, call) for xs, ws in self._pieces(x, w)]
        if len(parts) == 1:
            return parts[0]
        return (torch.cat([out for out, _ in parts]),
                [torch.cat(jacobians) for jacobians in zip(*(j for _, j in parts))])

    def _values_and_jacobians(self, x, w, want_x, want_w, call):
        out, forward = self._forward(x, w, True, call)
        kind, table = self._plan.outputs
        if kind == "diagonal":
            bras = self._constant(table, x.device)[:, None, :] * forward.psi[None]
        else:
            bras = self._words(forward.psi, table)
        grads = self._sweep(forward, bras)  # (K, B, G)
        jac = torch.matmul(grads.permute(1, 0, 2), forward.dtheta)  # (B, K, I + P)
        split = x.shape[-1]
        parts = ((jac[..., :split], want_x), (jac[..., split:], want_w))
        return out, [j for j, want in parts if want]

    def forward_for_vjp(self, x: torch.Tensor, w: torch.Tensor):
        """The outputs ``(B, K)`` and what :meth:`vjp` needs, for a backward pass later."""
        call = next(self._calls)
        runs = [self._forward(xs, ws, True, call) for xs, ws in self._pieces(x, w)]
        return torch.cat([out for out, _ in runs]), ([forward for _, forward in runs], x.shape[-1], w.dim())

    def vjp(self, saved, grad_output: torch.Tensor, want_x: bool, want_w: bool) -> list[torch.Tensor]:
        """``grad_output^T J`` by one sweep of one bra per sample: the input gradient ``(B, I)``
        if ``want_x``, then the weight gradient (``(P,)``, or ``(B, P)`` for per-sample weights)
        if ``want_w``."""
        forwards, split, weight_dims = saved
        g_all = grad_output.to(device=forwards[0].psi.device, dtype=torch.float64)  # (B, K)
        kind, table = self._plan.outputs
        totals, start = [], 0
        for forward in forwards:
            g = g_all[start:start + forward.psi.shape[0]]
            start += forward.psi.shape[0]
            if kind == "diagonal":
                bra = (g @ self._constant(table, g.device)) * forward.psi
            else:
                bra = torch.einsum("bk,kbd->bd", g.to(forward.psi.dtype), self._words(forward.psi, table))
            grads = self._sweep(forward, bra[None])[0]  # (b, G)
            totals.append(torch.matmul(grads[:, None, :], forward.dtheta)[:, 0])  # (b, I + P)
        total = torch.cat(totals)
        result = []
        if want_x:
            result.append(total[:, :split])
        if want_w:
            result.append(total[:, split:].sum(0) if weight_dims == 1 else total[:, split:])
        return result

    def bytes_per_sample(self, dtype: torch.dtype = torch.float64, call: str = "values") -> int:
        """Eight state vectors; for Jacobians also two per output (the bras and their conjugated
        copies) and the states the forward pass keeps for the sweep: one per block where a
        sample's fit in :data:`KEEP_STATES_BYTES`. The blocks are those of the circuit's plan,
        analysed here if no call has yet (the same before the first call as after it)."""
        state = self.state_bytes(dtype)
        states = 8
        if call == "jacobians":
            blocks = len(self._structure().steps)
            states += 2 * self.circuit.output_size + (blocks if blocks * state <= KEEP_STATES_BYTES else 0)
        return state * states

    def cache_bytes(self) -> int:
        """Bytes of the tables of the angle programs kept (at most
        :data:`~.base.SHAPE_CACHE_SIZE` input shapes)."""
        return 0 if self._plan is None else self._plan.angles.nbytes()

    def _structure(self) -> _Plan:
        """The plan, analysed from the circuit's structure with placeholder values if no call has
        analysed it yet (a plan does not depend on the values it was analysed with)."""
        if self._plan is None:
            c = self.circuit
            self.plan(torch.zeros(1, c.num_inputs, dtype=torch.float64),
                      torch.zeros(c.num_weights, dtype=torch.float64))
        return self._plan

    # ------------------------------------------------------------------ structure

    def plan(self, x, w) -> _Plan:
        """The circuit's plan, analysed on first use."""
        if self._plan is None:
            with PENNYLANE_LOCK:
                if self._plan is None:
                    self._plan = self._analyse(x.detach().cpu(), w.detach().cpu())
        return self._plan

    def _analyse(self, x, w) -> _Plan:
        replay, leaves, measurements = circuit_leaves(self.circuit, x, w)
        gates, count = [], 0
        for kind, op in leaves:
            if len(op.wires) > _MAX_GATE_WIRES:
                raise EngineUnavailable(f"operation {op.name} acts on {len(op.wires)} wires")
            gates.append(local_gate(kind, op, count if kind == "angle" else None))
            count += kind == "angle"
        rng = np.random.default_rng(1234)
        steps = []
        for block in fuse(simplify(gates), MAX_BLOCK_WIRES, MAX_DIAGONAL_WIRES):
            if not block.diagonal and len(block.wires) > _MAX_GATE_WIRES:
                raise EngineUnavailable(f"a gate on {len(block.wires)} wires is too large to apply densely")
            wires = tuple(sorted(block.wires))
            compiled = compile_block(block, wires, count, rng)
            mode = _mode(wires, self.n, compiled.diagonal is not None or block.diagonal)
            steps.append(_Step(compiled, mode, tuple(2 if w in wires else 1 for w in range(self.n))))
        outputs = self._outputs(measurements)
        return _Plan(steps, outputs, AnglePrograms(self.circuit, replay, count), count)

    def _outputs(self, measurements):
        """The outputs as diagonal vectors ``(K, 2**n)`` or as sums of Pauli words."""
        head = None if self.circuit.head is None else self.circuit.head.numpy()
        n = self.n
        if all(isinstance(mp, qml.measurements.ProbabilityMP) and mp.obs is None for mp in measurements):
            columns = []
            for mp in measurements:
                index = np.zeros([2] * n, dtype=np.int64)
                wires = [int(wire) for wire in mp.wires]
                for j, wire in enumerate(wires):
                    shape = [1] * n
                    shape[wire] = 2
                    index = index + (np.arange(2).reshape(shape) << (len(wires) - 1 - j))
                columns.append(np.eye(2 ** len(wires))[index])  # (*[2]*n, 2**m) one-hot
            table = np.concatenate(columns, axis=-1)
            if head is not None:
                table = table @ head
            if table.shape[-1] > MAX_OUTPUTS:
                raise EngineUnavailable(f"{table.shape[-1]} probability outputs are too many bras to sweep")
            return "diagonal", np.moveaxis(table, -1, 0).reshape(table.shape[-1], 2**n).copy()
        if head is not None:
            raise EngineUnavailable("a head on expectation values")
        sums = []
        for mp in measurements:
            if not isinstance(mp, qml.measurements.ExpectationMP) or mp.obs is None:
                raise EngineUnavailable(f"measurement {mp} is not supported by the torch adjoint engine")
            rep = mp.obs.pauli_rep
            if rep is None:  # a matrix (qml.Hermitian): its Pauli decomposition
                if len(mp.obs.wires) > _MAX_GATE_WIRES:
                    raise EngineUnavailable(f"observable {mp.obs} acts on too many wires to decompose")
                rep = qml.pauli.pauli_decompose(qml.matrix(mp.obs), wire_order=mp.obs.wires, pauli=True)
            terms = []
            for word, coeff in rep.items():
                if abs(np.imag(coeff)) > 1e-12:
                    raise EngineUnavailable(f"observable {mp.obs} is not Hermitian")
                terms.append((float(np.real(coeff)), {int(wire): p for wire, p in word.items()}))
            sums.append(terms)
        if all(all(set(word.values()) <= {"Z"} for _, word in terms) for terms in sums):
            table = np.zeros((len(sums), 2**n))
            for k, terms in enumerate(sums):
                for coeff, word in terms:
                    sign = np.ones([2] * n)
                    for wire in word:
                        sign = sign * _axis_vector([1.0, -1.0], wire, n)
                    table[k] += coeff * sign.reshape(-1)
            return "diagonal", table
        return "words", sums

    # ------------------------------------------------------------------ evaluation

    def _load_constants(self, plan: _Plan, device) -> None:
        """Every table of the plan as a tensor on ``device``, before the first state is allocated:
        made between the states of a first call, these small long-lived tensors fragment the heap
        (at 18 qubits a first call grew the process by 35 more states than the next ones)."""
        key = ("loaded", str(device))
        if key in self._constants:
            return
        arrays = [plan.outputs[1]] if plan.outputs[0] == "diagonal" else []
        for step in plan.steps:
            block = step.block
            if block.diagonal is not None:
                arrays += list(block.diagonal)
                continue
            for part in block.steps:
                arrays += [part[1]] if part[0] == "fixed" else [part[2], part[3], part[4]]
        for array in arrays:
            self._constant(array, device)
        self._constants[key] = True

    def _constant(self, array: np.ndarray, device) -> torch.Tensor:
        key = (id(array), str(device))
        tensor = self._constants.get(key)
        if tensor is None:
            tensor = self._constants[key] = torch.as_tensor(array, device=device)
        return tensor

    def _matrices(self, block, theta: torch.Tensor, device):
        """The block's matrix ``(B, d, d)`` (or its diagonal ``(B, d)``) and the angle gates'
        matrices (kept for the sweep)."""
        if block.diagonal is not None:
            base, g = block.diagonal
            phase = theta[:, block.angles] @ self._constant(g, device) if block.angles else None
            u = self._constant(base, device)
            u = u[None] if phase is None else u * torch.polar(torch.ones_like(phase), phase)
            return u, None
        u, factors = None, []
        for step in block.steps:
            if step[0] == "fixed":
                m = self._constant(step[1], device)
            else:
                _, index, values, projectors, _ = step
                phases = torch.polar(torch.ones(1, dtype=theta.dtype, device=device),
                                     theta[:, index, None] * self._constant(values, device))
                m = torch.einsum("bl,lij->bij", phases, self._constant(projectors, device))
            factors.append(m)
            u = m if u is None else m @ u
        return (u if u.dim() == 3 else u[None]), factors

    def _moved_generators(self, block, factors, device) -> torch.Tensor:
        """``G_j = P_j H_j P_j^dagger`` ``(B, J, d, d)``, ``P_j`` the block's gates after gate ``j``."""
        moved, after = [], None
        for step, m in zip(reversed(block.steps), reversed(factors)):
            if step[0] == "angle":
                h = self._constant(step[4], device)
                g = h if after is None else after @ h @ after.mH
                moved.append(g if g.dim() == 3 else g[None])
            after = m if after is None else after @ m
        batch = max(g.shape[0] for g in moved)
        return torch.stack([g.expand(batch, -1, -1) for g in moved[::-1]], dim=1)

    def _angles(self, plan: _Plan, x, w, tangents: bool, call):
        """``theta`` ``(B, G)`` and, with ``tangents``, ``dtheta`` ``(B, G, I + P)`` on ``x``'s device."""
        if self.n >= EAGER_ANGLES_QUBITS:
            program = plan.angles.after_eager_calls(x, w, tangents, EAGER_CALLS, call)
            if program is None:
                return plan.angles.eager(x, w, tangents)
        else:
            program = plan.angles(x, w, tangents)
        xs, ws = x.detach().cpu().numpy(), w.detach().cpu().numpy()
        theta, dtheta = program(xs, ws) if tangents else (program(xs, ws), None)
        batch = x.shape[0]
        theta = torch.as_tensor(np.asarray(theta, dtype=np.float64), device=x.device).reshape(batch, plan.num_angles)
        if dtheta is not None:
            dtheta = torch.as_tensor(np.asarray(dtheta, dtype=np.float64), device=x.device)
            dtheta = dtheta.reshape(batch, plan.num_angles, -1)
        return theta, dtheta

    def _forward(self, x: torch.Tensor, w: torch.Tensor, tangents: bool, call):
        """The outputs ``(B, K)`` and a :class:`_Forward` for a sweep."""
        plan = self.plan(x, w)
        device, batch, dim = x.device, x.shape[0], 2**self.n
        if device.type == "cpu" and self.n >= FREED_MEMORY_QUBITS:
            keep_freed_memory()
        self._load_constants(plan, device)
        theta, dtheta = self._angles(plan, x, w, tangents, call)
        psi = torch.zeros(batch, dim, dtype=torch.complex128, device=device)
        psi[:, 0] = 1.0
        keep = tangents and batch * dim * 16 * len(plan.steps) <= _keep_limit(device)
        saved = []
        for step in plan.steps:
            u, factors = self._matrices(step.block, theta, device)
            psi = self._apply(psi, u, step, conj=False)
            saved.append((u, factors, psi if keep else None))
        kind, table = plan.outputs
        if kind == "diagonal":
            out = (psi.real**2 + psi.imag**2) @ self._constant(table, device).T
        else:
            out = (psi.conj()[None] * self._words(psi, table)).real.sum(-1).T
        return out, _Forward(psi, saved, dtheta)

    def _apply(self, x: torch.Tensor, u: torch.Tensor, step: _Step, conj: bool) -> torch.Tensor:
        """The block's ``u`` (``(B, d, d)``, or its diagonal ``(B, d)``) on ``x`` (``(..., B,
        2**n)``); ``conj`` applies ``u^dagger``."""
        shape, n = x.shape, self.n
        if step.mode == "diagonal":
            factor = (u.conj() if conj else u).reshape(u.shape[0], *step.shape)
            return (x.reshape(*shape[:-1], *([2] * n)) * factor).reshape(shape)
        d = 2 ** len(step.block.wires)
        # conjugates materialized here, on the small matrices: a product resolves a lazy conjugate
        # once per matrix of its batch (thousands of copies for a block on the middle wires)
        if step.mode == "row":  # x @ U^T, undone by x @ conj(U)
            right = u.conj().resolve_conj() if conj else u.transpose(-1, -2)
            return torch.matmul(x.reshape(*shape[:-1], shape[-1] // d, d), right).reshape(shape)
        left = u.mH.resolve_conj().contiguous() if conj else u
        if step.mode == "einsum":
            return self._einsum_apply(x, left, step)
        trailing = shape[-1] // (d * step.leading)  # column form: U @ view(L, d, R)
        if step.block.real:  # one real product on the real and imaginary parts together
            view = torch.view_as_real(x).reshape(*shape[:-1], -1, d, 2 * trailing)
            real = left.real.contiguous()  # a strided view would be copied once per matrix of the product
            return torch.view_as_complex(torch.matmul(real[..., None, :, :], view).reshape(*shape, 2))
        view = x.reshape(*shape[:-1], -1, d, trailing)
        return torch.matmul(left[..., None, :, :], view).reshape(shape)

    def _einsum_apply(self, x, left, step: _Step) -> torch.Tensor:
        """``left`` ``(B, d, d)`` on the block's wires, wherever they are, by ``einsum``."""
        n, wires = self.n, step.block.wires
        k = len(wires)
        lead = _LETTERS[: x.dim() - 1]
        axes = _LETTERS[len(lead): len(lead) + n]
        new = _LETTERS[len(lead) + n: len(lead) + n + k]
        after = "".join(new[wires.index(i)] if i in wires else axes[i] for i in range(n))
        spec = f"{lead[-1]}{new}{''.join(axes[w] for w in wires)},{lead}{axes}->{lead}{after}"
        matrix = left.expand(x.shape[-2], -1, -1)
        if step.block.real:  # a real product on the real and imaginary parts (a last axis of 2)
            grid = torch.view_as_real(x).reshape(*x.shape[:-1], *([2] * n), 2)
            matrix = matrix.real.reshape(-1, *([2] * (2 * k)))
            extra = _LETTERS[len(lead) + n + k]
            out = torch.einsum(spec.replace("->", f"{extra}->") + extra, matrix, grid)
            return torch.view_as_complex(out.reshape(*x.shape, 2))
        grid = x.reshape(*x.shape[:-1], *([2] * n))
        return torch.einsum(spec, matrix.reshape(-1, *([2] * (2 * k))), grid).reshape(x.shape)

    def _words(self, psi: torch.Tensor, sums) -> torch.Tensor:
        """``O_k psi`` ``(K, B, D)`` for observables given as sums of Pauli words."""
        n, batch = self.n, psi.shape[0]
        grid = psi.reshape(batch, *([2] * n))
        bras = []
        for terms in sums:
            bra = torch.zeros_like(psi)
            for coeff, word in terms:
                flips = [1 + wire for wire, p in word.items() if p in "XY"]
                term = torch.flip(grid, flips) if flips else grid
                factor = torch.full([1] * n, coeff, dtype=psi.dtype, device=psi.device)
                for wire, p in word.items():
                    values = {"Z": [1.0, -1.0], "Y": [-1j, 1j], "X": [1.0, 1.0]}[p]
                    factor = factor * torch.as_tensor(_axis_vector(np.array(values, dtype=np.complex128), wire, n),
                                                      device=psi.device)
                bra = bra + (term * factor[None]).reshape(batch, -1)
            bras.append(bra)
        return torch.stack(bras)

    def _sweep(self, forward: _Forward, bras: torch.Tensor) -> torch.Tensor:
        """The adjoint sweep of ``bras`` ``(K, B, D)``: ``(K, B, G)`` derivatives of the outputs
        the bras stand for by every angle."""
        plan = self._plan
        k_out, batch = bras.shape[0], bras.shape[1]
        grads = torch.zeros(k_out, batch, plan.num_angles, dtype=torch.float64, device=bras.device)
        kept = forward.saved[-1][2] is not None
        states = bras if kept else torch.cat([forward.psi[None], bras])  # undone together
        for index in range(len(plan.steps) - 1, plan.first - 1, -1):
            step = plan.steps[index]
            u, factors, after = forward.saved[index]
            if step.block.angles:
                psi, bras = (after, states) if kept else (states[0], states[1:])
                grads[:, :, step.block.angles] = self._block_gradients(psi, bras, step, factors)
            if index > plan.first:
                states = self._apply(states, u, step, conj=True)
        return grads

    def _block_gradients(self, psi, bras, step: _Step, factors) -> torch.Tensor:
        """``-2 Im Tr(G_j rho)`` ``(K, B, J)`` for the block's angle gates, ``rho`` the transition
        matrix of the state ``psi`` ``(B, D)`` and the ``bras`` ``(K, B, D)`` on the block's wires."""
        block, n = step.block, self.n
        k_out, batch = bras.shape[0], bras.shape[1]
        d = 2 ** len(block.wires)
        if step.mode == "diagonal":
            product = (psi[None] * bras.conj()).reshape(k_out, batch, *([2] * n))
            summed = [2 + i for i, size in enumerate(step.shape) if size == 1]
            rho = (product.sum(summed) if summed else product).reshape(k_out, batch, d)
            g = self._constant(block.diagonal[1], psi.device)
            return -2.0 * (rho @ g.T.to(rho.dtype)).imag
        if step.mode == "row":
            rho = torch.matmul(psi.reshape(batch, -1, d).transpose(-1, -2),
                               bras.reshape(k_out, batch, -1, d).conj().resolve_conj())  # (K, B, d, d): [c, a]
        elif step.mode == "column":
            trailing = psi.shape[-1] // (d * step.leading)
            columns = psi.reshape(batch, -1, d, trailing)
            if trailing >= _MIN_PRODUCT_COLUMNS:  # a product per leading index, then their sum
                # the bras conjugated and laid out (b, l, r, k a) in one copy: the outputs inside the
                # product, so that the state is not copied once per output
                rows = bras.reshape(k_out, batch, -1, d, trailing).permute(1, 2, 4, 0, 3).conj()
                rows = rows.resolve_conj().reshape(batch, columns.shape[1], trailing, k_out * d)
                rho = torch.matmul(columns, rows).sum(1).reshape(batch, d, k_out, d).permute(2, 0, 1, 3)
            else:
                rho = torch.einsum("blcr,kblar->kbca", columns, bras.reshape(k_out, batch, -1, d, trailing).conj())
        else:
            wires, k = block.wires, len(block.wires)
            axes = _LETTERS[2: 2 + n]
            mine = _LETTERS[2 + n: 2 + n + k]
            theirs = _LETTERS[2 + n + k: 2 + n + 2 * k]
            left = "".join(mine[wires.index(i)] if i in wires else axes[i] for i in range(n))
            right = "".join(theirs[wires.index(i)] if i in wires else axes[i] for i in range(n))
            rho = torch.einsum(f"b{left},ab{right}->ab{mine}{theirs}", psi.reshape(batch, *([2] * n)),
                               bras.reshape(k_out, batch, *([2] * n)).conj()).reshape(k_out, batch, d, d)
        moved = self._moved_generators(block, factors, psi.device)  # (B, J, d, d)
        return -2.0 * torch.einsum("bjac,kbca->kbj", moved, rho).imag
