"""The torch adjoint engine: fused gates on a batched state, Jacobians by one adjoint sweep.

For large registers the cost of a simulation is the passes over the state vector: a gate, a
pass. This engine makes few, cheap passes, on any torch device:

1. **Structure, once.** The circuit is decomposed into angle gates and fixed gates
   (:mod:`~qnn_torch.engines.decomposition`), ``F, A(theta), F^-1`` sandwiches become diagonal
   angle gates (:mod:`~qnn_torch.engines.sandwiches`), and :mod:`~qnn_torch.engines.fusion`
   fuses groups of gates into one: at most :data:`MAX_FUSED_WIRES` consecutive wires for a dense
   fused gate, one ``(2**k, 2**k)`` matrix per sample applied by one batched matrix product (real
   ones, such as ``RealAmplitudes``'s, by a real product on the real and imaginary parts at once),
   and up to :data:`MAX_DIAGONAL_WIRES` wires for a diagonal one (``ZZFeatureMap``'s phases),
   applied elementwise. Gates on wires far apart (a ``CNOT`` closing a ring) are applied by
   ``einsum`` on the state's axes (:mod:`~qnn_torch.engines.fused_kernels`).
2. **Angles, per call**, with their derivatives with respect to every input and weight: a
   generated NumPy program for small registers, the circuit queued with autograd for the first
   calls from :data:`EAGER_ANGLES_QUBITS` qubits (:mod:`~qnn_torch.engines.angle_programs`).
3. **Forward pass and adjoint sweep.** The forward pass keeps the state after every fused gate
   when they fit in :data:`KEEP_STATES_BYTES` (else the sweep undoes the gates). The sweep runs
   the fused gates backwards on the bras; at each the *transition matrix*
   ``rho = sum_rest psi conj(beta)`` on its wires gives, for all its angle gates at once, the
   derivative of every output with respect to every angle as ``-2 Im Tr(G_j rho)``, with ``G_j``
   the angle gate's generator moved to the fused gate's end. The chain rule with the angles'
   derivatives gives the Jacobians. A vector-Jacobian product (:meth:`TorchAdjointEngine.vjp`)
   sweeps one bra per sample, the outputs weighted by the incoming gradient, whatever the number
   of outputs: for probabilities ``p_k = |psi_k|**2`` and incoming gradient ``g`` it is the
   gradient of ``<psi| diag(L g) |psi>`` (``L`` the outcomes and the head,
   :mod:`~qnn_torch.engines.probabilities`).
4. **Jacobians through the state**, for diagonal outputs (probabilities, Z-type observables)
   more numerous than the Jacobians' columns (raw probabilities): the forward pass carries the
   tangent ``d psi / d c`` of every wanted input or weight ``c`` along (each fused gate applies
   to the tangents, and adds ``i G_j psi`` times ``d theta_j / d c`` for its angle gates), and
   ``d p = 2 Re(conj(psi) d psi)`` goes through the outputs' map: ``I + P`` states instead of
   ``K`` bras.
5. **Samples on worker threads.** On the CPU, the forward passes, sweeps and tangents of a batch
   of 12 to 20 qubits run in groups of samples, one per worker thread; the workers sleep while
   they wait (:mod:`~qnn_torch.engines.sample_threads`): steady when other processes share the
   cores, where PyTorch's spinning OpenMP threads are not. What a row's result would depend on the
   batch's size for (the fused matrices and moved generators, the diagonal gates' tangent phases,
   the bras of a vector-Jacobian product, the outputs and the Jacobians' products through the
   outputs' map, the diagonal gates' derivatives) is made for the whole batch in the calling
   thread, which meanwhile runs torch on one thread (:func:`~.sample_threads.one_calling_thread`),
   so results do not depend on the threads.

Outputs: expectation values of observables with a Pauli representation or a matrix (decomposed
into Pauli words, :mod:`~qnn_torch.engines.pauli`), and probabilities (a ``SamplerQNN``'s
``interpret`` head is folded into the diagonal the bras carry, so a parity network sweeps two
bras, not ``2**n``). The state is ``(batch, 2**n)`` complex128, wire 0 the most significant bit,
as in PennyLane. Results equal ``default.qubit``'s to round-off.
"""

from __future__ import annotations

import itertools

import numpy as np
import pennylane as qml
import torch

from ..circuits import PENNYLANE_LOCK, CircuitDescription
from .angle_programs import AnglePrograms
from .base import VJPEngine, exact_simulation
from .errors import EngineUnavailable
from .batches import split_batch
from .decomposition import queued_leaves, shared_analysis
from .fused_kernels import Step, gate_matrices, moved_generators, step_mode, tangent_phases
from .fusion import fuse, group_gates, local_gate
from .glibc_malloc import keep_freed_memory
from .jacobians import split_jacobian, split_vjp
from .pauli import word_grid
from .probabilities import ProbabilityMap
from .row_passes import Forward, forward_rows, join_rows, pauli_bras, sweep_rows, tangent_rows
from .sample_threads import map_samples, one_calling_thread, parallel_samples, sample_slices
from .sandwiches import diagonal_sandwich, merge_sandwiches
from .structure_key import SharedAnalyses

__all__ = ["CACHE_BYTES", "EAGER_ANGLES_QUBITS", "EAGER_CALLS", "FREED_MEMORY_QUBITS", "KEEP_STATES_BYTES",
           "MAX_DIAGONAL_WIRES", "MAX_FUSED_WIRES", "MAX_OUTPUTS", "TorchAdjointEngine"]

MAX_FUSED_WIRES = 4
"""int: the most (consecutive) wires a dense fused gate spans: a ``16 x 16`` matrix per sample."""

MAX_DIAGONAL_WIRES = 10
"""int: the most wires a diagonal fused gate spans (a diagonal of ``2**10`` per sample)."""

MAX_OUTPUTS = 64
"""int: the most expectation values ``engine="auto"`` chains this engine for (each is a bra of the
Jacobian sweep). Probabilities have no limit: their vector-Jacobian products sweep one bra, and
their Jacobians go through the state when they outnumber the Jacobians' columns."""

EAGER_ANGLES_QUBITS = 14
"""int: from this many qubits the first :data:`EAGER_CALLS` calls of each input shape compute the
angles by queuing the circuit (a few milliseconds more per call) rather than by a generated
program (a trace of a second or more on first use), which the calls after them use."""

EAGER_CALLS = 1
"""int: calls per input shape served by eager angles before the program is generated (from
:data:`EAGER_ANGLES_QUBITS` qubits): the first call stays fast, later ones get the faster program."""

FREED_MEMORY_QUBITS = 14
"""int: from this many qubits, a call on the CPU first asks the C library to keep freed memory for
reuse (:func:`~qnn_torch.engines.glibc_malloc.keep_freed_memory`): without it, every state of a
few megabytes costs page faults."""

KEEP_STATES_BYTES = 2**31
"""int: the forward pass keeps the state after every fused gate up to this many bytes in all (and
a quarter of a GPU's free memory); beyond, the sweep recomputes them by undoing the gates (a third
more work)."""

CACHE_BYTES = 2**25
"""int: bytes of states a sub-batch holds at once: batches of large registers run in sub-batches of
``max(2, CACHE_BYTES // state bytes)`` samples (two samples keep both cores busy;
benchmarks/results/scaling.txt has the measurements behind the size)."""

_MAX_GATE_WIRES = 10  # a gate or matrix observable wider than this is refused (its matrix would be too large)
_SHARED = SharedAnalyses()  # analyses and angle programs by circuit structure, for the engines alive


def _keep_limit(device: torch.device) -> int:
    """Bytes of kept states allowed on ``device``: :data:`KEEP_STATES_BYTES`, and on a GPU at most
    a quarter of its free memory."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return min(KEEP_STATES_BYTES, free // 4)
    return KEEP_STATES_BYTES


class _Plan:
    """The analysed structure: the steps, the outputs and the angle programs."""

    def __init__(self, steps: list[Step], outputs, angles: AnglePrograms, num_angles: int):
        self.steps = steps
        # ("probabilities", ProbabilityMap), ("diagonal", (K, 2**n)) or ("words", [[(coefficient, word)]])
        self.outputs = outputs
        self.angles = angles
        self.num_angles = num_angles
        self.first = min((i for i, step in enumerate(steps) if step.gate.angles), default=len(steps))
        self.dense = None  # the probabilities' dense table, made when a sweep of one bra each needs it


class TorchAdjointEngine(VJPEngine):
    """Fused gates on a batched torch state, with Jacobians by one adjoint sweep.

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
        """Exact ``default.qubit`` without a ``diff_method`` other than ``"adjoint"``: probabilities
        with any number of outputs, expectation values up to :data:`MAX_OUTPUTS` of them."""
        return (exact_simulation(spec) and diff_method in (None, "adjoint")
                and (circuit.probabilities or circuit.output_size <= MAX_OUTPUTS))

    def __init__(self, circuit: CircuitDescription):
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
            return [(x, w)]
        return split_batch(x, w, max(2, CACHE_BYTES // (16 * 2**self.n)))

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
        with one_calling_thread(self._threads(x)):  # a sub-batch's samples on workers
            return self._sub_batch_values_and_jacobians(x, w, want_x, want_w, call)

    def _sub_batch_values_and_jacobians(self, x, w, want_x, want_w, call):
        if not (want_x or want_w):
            return self._forward(x, w, False, call)[0], []
        kind, table = self.plan(x, w).outputs
        columns = x.shape[-1] * want_x + w.shape[-1] * want_w
        if kind != "words" and self.circuit.output_size > columns:  # fewer tangents than bras
            return self._jacobians_through_state(x, w, want_x, want_w, call)
        plan, gates, dtheta = self._prepare(x, w, True, call)
        diagonal = None if kind == "words" else self._constant(self._table(), x.device)[:, None, :]

        keep = self._keeps(x, plan)

        def sweep(rows: slice):  # a forward pass, then a sweep of one bra per output
            psi, saved = forward_rows(plan.steps, gates, self.n, x.shape[0], rows, keep, x.device)
            bras = pauli_bras(psi, table, self.n) if diagonal is None else diagonal * psi[None]
            return psi, self._sweep(psi, saved, bras, threads > 0)

        threads = self._threads(x)
        parts = map_samples(sweep, sample_slices(x.shape[0], threads), threads)
        psi = join_rows([p for p, _ in parts])
        grads = self._gradients([g for _, g in parts])  # (K, B, G)
        jac = torch.matmul(grads.permute(1, 0, 2), dtheta)  # (B, K, I + P)
        return self._outputs_of(plan, psi), split_jacobian(jac, x.shape[-1], want_x, want_w)

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
        totals, start = [], 0
        for forward in forwards:
            g = g_all[start:start + forward.psi.shape[0]]
            start += forward.psi.shape[0]
            with one_calling_thread(self._threads(g)):  # a sub-batch's samples on workers
                totals.append(self._vjp_rows(forward, g))
        return split_vjp(torch.cat(totals), split, weight_dims == 1, want_x, want_w)

    def _vjp_rows(self, forward: Forward, g: torch.Tensor) -> torch.Tensor:
        """``g^T J`` ``(b, I + P)`` for the rows of one forward pass, ``g`` ``(b, K)`` float64."""
        kind, table = self._plan.outputs
        if kind == "diagonal":
            bra = (g @ self._constant(table, g.device)) * forward.psi
        elif kind == "probabilities":  # the gradient of <psi| diag(L g) |psi>
            bra = table.weights(g, self._constant) * forward.psi
        else:
            bras = pauli_bras(forward.psi, table, self.n)
            bra = torch.einsum("bk,kbd->bd", g.to(forward.psi.dtype), bras)

        def sweep(task):  # one bra per sample
            rows, kept = task
            return self._sweep(forward.psi[rows], kept, bra[None, rows], len(forward.rows) > 1)

        parts = map_samples(sweep, list(zip(forward.rows, forward.saved)), self._threads(bra))
        grads = self._gradients(parts)[0]  # (b, G)
        return torch.matmul(grads[:, None, :], forward.dtheta)[:, 0]

    def bytes_per_sample(self, dtype: torch.dtype = torch.float64, call: str = "values") -> int:
        """Eight state vectors; for Jacobians also two per output (the bras and their conjugated
        copies), and the more of: the states the forward pass keeps for the sweep (one per fused
        gate, where a sample's fit in :data:`KEEP_STATES_BYTES`), and the copy of the bras and the
        state that a sweep undoing the gates makes (where a batch's kept states do not fit
        :func:`_keep_limit`). Diagonal outputs more numerous than the inputs
        and weights take their Jacobians through the state instead: two states per input and
        weight (the tangents and their products), and the Jacobians themselves. The fused gates
        are those of the circuit's plan, analysed here if no call has yet (the same before the
        first call as after it)."""
        state = self.state_bytes(dtype)
        states = 8
        if call == "jacobians":
            plan = self._structure()
            columns = self.circuit.num_inputs + self.circuit.num_weights
            if plan.outputs[0] != "words" and self.circuit.output_size > columns:
                return state * (states + 2 * columns) + 16 * columns * self.circuit.output_size
            fused, outputs = len(plan.steps), self.circuit.output_size
            kept = fused if fused * state <= KEEP_STATES_BYTES else 0
            states += 2 * outputs + max(kept, outputs + 1)
        return state * states

    def cache_bytes(self) -> int:
        """Bytes of the tables of the angle programs kept (at most
        :data:`~.shape_cache.SHAPE_CACHE_SIZE` input shapes)."""
        return 0 if self._plan is None else self._plan.angles.nbytes()

    def _table(self) -> np.ndarray:
        """The diagonal outputs as a dense ``(K, 2**n)`` table, one row per bra (made once)."""
        kind, table = self._plan.outputs
        if kind == "probabilities":
            if self._plan.dense is None:
                self._plan.dense = table.table()
            return self._plan.dense
        return table

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
        """The circuit's plan, analysed on first use or shared (:func:`~.decomposition.shared_analysis`)."""
        if self._plan is None:
            with PENNYLANE_LOCK:
                if self._plan is None:
                    limits = (MAX_FUSED_WIRES, MAX_DIAGONAL_WIRES, _MAX_GATE_WIRES)
                    shared = shared_analysis(_SHARED, self.circuit, x, w, limits, self._analyse)
                    steps, outputs, decisions, count = shared.value
                    angles = AnglePrograms(self.circuit, decisions, count, shared)  # keeps ``shared`` alive
                    self._plan = _Plan(steps, outputs, angles, count)
        return self._plan

    def _analyse(self, queued: tuple) -> tuple:
        """``(steps, outputs, decisions, angle count)``: no circuit (each engine's programs queue its own)."""
        decisions, leaves, measurements = queued_leaves(queued)
        gates, count = [], 0
        for kind, op in leaves:
            if len(op.wires) > _MAX_GATE_WIRES:
                raise EngineUnavailable(f"operation {op.name} acts on {len(op.wires)} wires")
            gates.append(local_gate(kind, op, count if kind == "angle" else None))
            count += kind == "angle"
        rng = np.random.default_rng(1234)
        steps = []
        gates = list(merge_sandwiches(gates, diagonal_sandwich))
        for group in group_gates(gates, MAX_FUSED_WIRES, MAX_DIAGONAL_WIRES):
            if not group.diagonal and len(group.wires) > _MAX_GATE_WIRES:
                raise EngineUnavailable(f"a gate on {len(group.wires)} wires is too large to apply densely")
            wires = tuple(sorted(group.wires))
            fused = fuse(group, wires, count, rng)
            mode = step_mode(wires, self.n, fused.diagonal is not None or group.diagonal)
            steps.append(Step(fused, mode, tuple(2 if w in wires else 1 for w in range(self.n))))
        outputs = self._outputs(measurements)
        return steps, outputs, decisions, count

    def _outputs(self, measurements):
        """The outputs as a :class:`~.probabilities.ProbabilityMap`, as diagonal vectors
        ``(K, 2**n)`` or as sums of Pauli words."""
        head = None if self.circuit.head is None else self.circuit.head.numpy()
        if all(isinstance(mp, qml.measurements.ProbabilityMP) and mp.obs is None for mp in measurements):
            measured = [[int(w) for w in mp.wires] for mp in measurements]
            return "probabilities", ProbabilityMap(self.n, measured, head)
        if head is not None:
            raise EngineUnavailable("a head on expectation values")
        sums = [self._pauli_sum(mp) for mp in measurements]
        if all(all(set(word.values()) <= {"Z"} for _, word in terms) for terms in sums):
            table = np.zeros((len(sums), 2**self.n))
            for k, terms in enumerate(sums):
                for coeff, word in terms:
                    sign = np.ones([2] * self.n) * word_grid(word, self.n).real  # a diagonal word: +-1
                    table[k] += coeff * sign.reshape(-1)
            return "diagonal", table
        return "words", sums

    @staticmethod
    def _pauli_sum(mp) -> list[tuple[float, dict]]:
        """An expectation value's observable as ``[(coefficient, {wire: letter})]``."""
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
        return terms

    # ------------------------------------------------------------------ evaluation

    def _load_constants(self, plan: _Plan, device) -> None:
        """Every table of the plan as a tensor on ``device``, before the first state is allocated:
        made between the states of a first call, these small long-lived tensors fragment the heap
        and the process grows by many states more than on the next calls."""
        key = ("loaded", str(device))
        if key in self._constants:
            return
        kind, table = plan.outputs
        arrays = [table] if kind == "diagonal" else []
        if kind == "probabilities":
            arrays += [a for a in (table.inverse, table.head, table.head_t, *table.outcomes, *table.columns)
                       if a is not None]
        for step in plan.steps:
            gate = step.gate
            if gate.diagonal is not None:
                arrays += list(gate.diagonal)
                continue
            for part in gate.steps:
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
        theta = torch.as_tensor(np.asarray(theta, dtype=np.float64), device=x.device)
        theta = theta.reshape(batch, plan.num_angles)
        if dtheta is not None:
            dtheta = torch.as_tensor(np.asarray(dtheta, dtype=np.float64), device=x.device)
            dtheta = dtheta.reshape(batch, plan.num_angles, -1)
        return theta, dtheta

    def _threads(self, x: torch.Tensor) -> int:
        """Worker threads for the samples of ``x`` (0: the batch in the calling thread)."""
        return parallel_samples(x.shape[0], 2**self.n, x.device)

    def _prepare(self, x: torch.Tensor, w: torch.Tensor, tangents: bool, call):
        """The plan; every fused gate's matrix and, with ``tangents``, its angle gates' moved
        generators (:func:`moved_generators`; None for a diagonal gate), made for the whole batch,
        whose size decides the order of PyTorch's sums in them; and the angles' derivatives."""
        plan = self.plan(x, w)
        if x.device.type == "cpu" and self.n >= FREED_MEMORY_QUBITS:
            keep_freed_memory()
        self._load_constants(plan, x.device)
        theta, dtheta = self._angles(plan, x, w, tangents, call)
        gates = []
        for step in plan.steps:
            u, factors = gate_matrices(step.gate, theta, x.device, self._constant)
            moved = None
            if tangents and step.gate.angles and step.mode != "diagonal":
                moved = moved_generators(step.gate, factors, x.device, self._constant)  # (B, J, d, d)
            gates.append((u, moved))
        return plan, gates, dtheta

    def _forward(self, x: torch.Tensor, w: torch.Tensor, tangents: bool, call):
        """The outputs ``(B, K)`` and a :class:`Forward` for a sweep."""
        threads = self._threads(x)
        with one_calling_thread(threads):  # a sub-batch's samples on workers
            plan, gates, dtheta = self._prepare(x, w, tangents, call)
            keep = tangents and self._keeps(x, plan)
            rows = sample_slices(x.shape[0], threads)
            runs = map_samples(lambda part: forward_rows(plan.steps, gates, self.n, x.shape[0], part, keep,
                                                         x.device), rows, threads)
            psi = join_rows([psi for psi, _ in runs])
            return self._outputs_of(plan, psi), Forward(psi, rows, [saved for _, saved in runs], dtheta)

    def _keeps(self, x: torch.Tensor, plan: _Plan) -> bool:
        """Whether a forward pass of the batch ``x`` keeps its state after every step for the
        sweep: when they fit in :func:`_keep_limit` (else the sweep undoes the steps)."""
        return x.shape[0] * 2**self.n * 16 * len(plan.steps) <= _keep_limit(x.device)

    def _outputs_of(self, plan: _Plan, psi: torch.Tensor) -> torch.Tensor:
        """The outputs ``(B, K)`` of the final states ``psi`` ``(B, 2**n)``, for the whole batch at
        once: PyTorch sums over the amplitudes in an order that depends on the batch's size."""
        kind, table = plan.outputs
        if kind == "words":
            return (psi.conj()[None] * pauli_bras(psi, table, self.n)).real.sum(-1).T
        return self._diagonal_outputs(psi.real**2 + psi.imag**2)

    def _jacobians_through_state(self, x, w, want_x: bool, want_w: bool, call):
        """The outputs and Jacobians of diagonal outputs by forward-mode tangents: ``d psi / d c``
        for every wanted input or weight ``c``, carried through the gates with the state, then
        ``d p = 2 Re(conj(psi) d psi)`` through the outputs' map."""
        plan, gates, dtheta = self._prepare(x, w, True, call)
        num_inputs, batch = x.shape[-1], x.shape[0]
        if not (want_x and want_w):
            dtheta = dtheta[..., :num_inputs] if want_x else dtheta[..., num_inputs:]
        generators = [moved if step.mode != "diagonal" or not step.gate.angles
                      else tangent_phases(step, dtheta[:, step.gate.angles], x.device, self._constant)
                      for step, (_, moved) in zip(plan.steps, gates)]
        dp = torch.empty(dtheta.shape[-1], batch, 2**self.n, dtype=torch.float64, device=x.device)

        def carry(rows: slice) -> torch.Tensor:  # the rows' states, their tangents into dp
            psi, tangents = tangent_rows(plan.steps, gates, generators, dtheta, self.n, rows, x.device)
            dp[:, rows] = 2.0 * (psi.conj()[None] * tangents).real  # (C, b, D)
            return psi

        threads = self._threads(x)
        psi = join_rows(map_samples(carry, sample_slices(batch, threads), threads))
        out = self._diagonal_outputs(psi.real**2 + psi.imag**2)
        jac = self._diagonal_outputs(dp).permute(1, 2, 0)  # (B, K, C)
        return out, (split_jacobian(jac, num_inputs, True, True) if want_x and want_w else [jac])

    def _diagonal_outputs(self, p: torch.Tensor) -> torch.Tensor:
        """Diagonal outputs ``(..., K)`` of squared amplitudes (or their derivatives) ``(..., 2**n)``."""
        kind, table = self._plan.outputs
        if kind == "probabilities":
            return table.values(p, self._constant)
        return p @ self._constant(table, p.device).T

    def _sweep(self, psi: torch.Tensor, saved: list, bras: torch.Tensor, row_of_batch: bool):
        """:func:`~.row_passes.sweep_rows` of the plan's steps."""
        plan = self._plan
        return sweep_rows(plan.steps, plan.first, plan.num_angles, self.n, psi, saved, bras, row_of_batch)

    def _gradients(self, sweeps: list[tuple[torch.Tensor, dict]]) -> torch.Tensor:
        """The derivatives ``(K, B, G)`` of a batch from the :meth:`_sweep` of each task of its
        rows: the diagonal gates' ``-2 Im Tr(G_j rho)`` by one product for the whole batch (a
        product's sums depend on its rows: one row alone is summed in another order)."""
        grads = join_rows([g for g, _ in sweeps], dim=1)
        for index in sweeps[0][1]:
            rho = join_rows([diagonal[index] for _, diagonal in sweeps], dim=1)
            gate = self._plan.steps[index].gate
            g = self._constant(gate.diagonal[1], rho.device)
            grads[:, :, gate.angles] = -2.0 * (rho @ g.T.to(rho.dtype)).imag
        return grads
