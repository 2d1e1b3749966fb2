"""The torch adjoint engine: fused gate blocks on a batched state, Jacobians by one adjoint sweep.

For large registers the cost of a simulation is the passes over the state vector: a gate, a
pass. This engine makes few, cheap passes, on any torch device:

1. **Structure, once.** The circuit is decomposed into angle gates and fixed gates
   (:mod:`~qnn_torch.engines.leaves`), which :mod:`~qnn_torch.engines.fusion` groups into blocks
   of at most :data:`MAX_BLOCK_WIRES` wires. A block is one ``(2**k, 2**k)`` matrix per sample,
   applied with one batched matrix product; a structurally diagonal block (phases, such as
   ``ZZFeatureMap``'s ``CNOT``-``P``-``CNOT``) is one elementwise product. The state keeps its
   wires in whatever order the last block left them (its *layout*), so that a block whose wires
   are already the minor axes costs no transposition.
2. **Angles, per call**, with their derivatives with respect to every input and weight, from the
   traced template code compiled to NumPy (:class:`~qnn_torch.engines.leaves.AnglePrograms`).
3. **Forward pass and adjoint sweep.** The forward pass keeps only the final state. The sweep
   runs the blocks backwards on the state and one bra per output together, undoing each block;
   at each block the *transition matrix* ``rho = sum_rest psi conj(beta)`` on its wires gives, for
   all its gates at once, the derivative of every output with respect to every angle as
   ``-2 Im Tr(G_j rho)``, with ``G_j`` the gate's generator moved to the block's end. The chain
   rule with the angles' derivatives gives the Jacobians.

Outputs: expectation values of observables with a Pauli representation or a matrix, and
probabilities (a ``SamplerQNN``'s ``interpret`` head is folded into diagonal observables, so a
parity network sweeps two bras, not ``2**n``). Results equal ``default.qubit``'s to round-off.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pennylane as qml
import torch

from .base import PENNYLANE_LOCK, Engine, EngineUnavailable
from .fusion import Block, CompiledBlock, compile_block, fuse, local_gate, simplify
from .leaves import AnglePrograms, circuit_leaves

__all__ = ["EAGER_ANGLES_QUBITS", "MAX_BLOCK_WIRES", "MAX_DIAGONAL_WIRES", "MAX_OUTPUTS", "TorchAdjointEngine"]

MAX_BLOCK_WIRES = 4
"""int: the most wires a fused block spans (a ``16 x 16`` matrix per sample)."""

MAX_DIAGONAL_WIRES = 10
"""int: the most wires a block of diagonal gates spans (a diagonal of ``2**10`` per sample)."""

MAX_OUTPUTS = 64
"""int: the most outputs the sweep carries a bra for (probabilities without a head beyond it
hand over to another engine)."""

EAGER_ANGLES_QUBITS = 14
"""int: from this many qubits the angles are computed by queuing the circuit on every call
rather than by a traced program (see :meth:`TorchAdjointEngine._angles`)."""

_MAX_GATE_WIRES = 10  # a single gate wider than this is refused (its matrix would be too large)
_KEEP_BYTES = 2**29  # the states after every block are kept for the sweep up to this size


class _Plan:
    """The compiled structure: blocks with their layouts, outputs, the angle programs."""

    def __init__(self, steps, final, outputs, angles: AnglePrograms, num_angles: int):
        self.steps = steps  # _Step, in circuit order
        self.final = final  # the layout at the end
        self.outputs = outputs  # ("diagonal", (K, *[2]*n) in ``final``) or ("words", [[(c, word)]])
        self.angles = angles
        self.num_angles = num_angles


@dataclass
class _Step:
    """A compiled block and how it meets the state.

    ``mode`` is ``"diagonal"`` (elementwise, ``shape`` the broadcast shape of its diagonal over
    the ``n`` axes), ``"column"`` (its wires are contiguous axes with at least
    :data:`_MIN_COLUMNS` amplitudes after them: ``U @ view(L, d, R)``) or ``"row"`` (its wires
    are the minor axes: ``view(M, d) @ U^T``).
    """

    block: CompiledBlock
    layout: tuple
    mode: str
    shape: tuple


_MIN_COLUMNS = 16  # below this many trailing amplitudes, a column-form product is slow


def _place(block: Block, order: tuple) -> tuple[tuple, tuple, str]:
    """Where ``block`` runs from layout ``order``: ``(layout, its wires in matrix order, mode)``.
    The layout changes only for a dense block whose wires are not contiguous axes: they are
    moved to the minor end."""
    n, k = len(order), len(block.wires)
    positions = sorted(order.index(w) for w in block.wires)
    if block.diagonal:
        return order, tuple(order[p] for p in positions), "diagonal"
    first = positions[0]
    if positions == list(range(first, first + k)):
        return order, order[first:first + k], "row" if first + k == n else "column"
    layout = tuple(w for w in order if w not in block.wires) + tuple(order[p] for p in positions)
    return layout, layout[n - k:], "row"


def _to_layout(x: torch.Tensor, lead: int, order: tuple, target: tuple) -> torch.Tensor:
    """``x`` (``lead`` batch axes, then ``2**n`` amplitudes in ``order``) rearranged to ``target``."""
    if order == target:
        return x
    n = len(order)
    shape = x.shape[:lead]
    perm = list(range(lead)) + [lead + order.index(w) for w in target]
    return x.reshape(*shape, *([2] * n)).permute(perm).reshape(*shape, 2**n)


def _axis_vector(values, axis: int, n: int, device) -> torch.Tensor:
    """A length-2 factor along ``axis`` of an ``n``-axis grid, broadcastable."""
    shape = [1] * n
    shape[axis] = 2
    return torch.as_tensor(np.asarray(values), device=device).reshape(shape)


class TorchAdjointEngine(Engine):
    """Fused gate blocks on a batched torch state, with Jacobians by one adjoint sweep.

    Args:
        circuit (CircuitDescription): a circuit ending in expectation values or probabilities.

    Raises:
        EngineUnavailable: (on the first call) for gates or measurements it cannot handle.
    """

    name = "torch-adjoint"
    label = "torch-adjoint"
    builds_graph = False

    def __init__(self, circuit):
        super().__init__(circuit)
        self.n = circuit.num_qubits
        self._plan: _Plan | None = None
        self._constants: dict = {}  # (id, device) -> tensor

    # ------------------------------------------------------------------ the contract

    def values(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return self(x, w, jacobian=False)[0]

    def values_and_jacobians(self, x, w, want_x, want_w):
        out, jac = self(x, w, jacobian=True)
        split = x.shape[-1]
        parts = ((jac[..., :split], want_x), (jac[..., split:], want_w))
        return out, [j for j, want in parts if want]

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
        order = tuple(range(self.n))
        steps = []
        for block in fuse(simplify(gates), MAX_BLOCK_WIRES, MAX_DIAGONAL_WIRES):
            if not block.diagonal and len(block.wires) > _MAX_GATE_WIRES:
                raise EngineUnavailable(f"a gate on {len(block.wires)} wires is too large to apply densely")
            order, local, mode = _place(block, order)
            compiled = compile_block(block, local, count, rng)
            if mode != "diagonal" and compiled.diagonal is not None:
                mode = "diagonal"  # structurally diagonal (a sandwich fusion did not see)
            shape = tuple(2 if w in local else 1 for w in order)
            if mode == "diagonal" and local != tuple(w for w in order if w in local):
                raise AssertionError("a diagonal block's wires must follow the layout")  # pragma: no cover
            steps.append(_Step(compiled, order, mode, shape))
        outputs = self._outputs(measurements, order)
        return _Plan(steps, order, outputs, AnglePrograms(self.circuit, replay, count), count)

    def _outputs(self, measurements, order: tuple):
        """The outputs as diagonal vectors in layout ``order`` or as sums of Pauli words."""
        head = None if self.circuit.head is None else self.circuit.head.numpy()
        n = self.n
        if all(isinstance(mp, qml.measurements.ProbabilityMP) and mp.obs is None for mp in measurements):
            columns = []
            for mp in measurements:
                index = np.zeros([2] * n, dtype=np.int64)
                wires = [int(wire) for wire in mp.wires]
                for j, wire in enumerate(wires):
                    shape = [1] * n
                    shape[order.index(wire)] = 2
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
                        sign = sign * _axis_vector([1.0, -1.0], order.index(wire), n, None).numpy()
                    table[k] += coeff * sign.reshape(-1)
            return "diagonal", table
        return "words", sums

    # ------------------------------------------------------------------ evaluation

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

    def __call__(self, x: torch.Tensor, w: torch.Tensor, jacobian: bool = False):
        """Outputs ``(B, K)`` and, with ``jacobian``, ``(B, K, I + P)`` (inputs' columns first)."""
        plan = self.plan(x, w)
        device = x.device
        batch = x.shape[0]
        theta, dtheta = self._angles(plan, x, w, jacobian)
        n, dim = self.n, 2**self.n
        psi = torch.zeros(batch, dim, dtype=torch.complex128, device=device)
        psi[:, 0] = 1.0
        order = tuple(range(n))
        saved = []
        # the sweep needs the state after every block: kept when they fit, else recomputed by
        # undoing the blocks (a quarter more work)
        keep = jacobian and batch * dim * 16 * len(plan.steps) <= _KEEP_BYTES
        for step in plan.steps:
            psi = _to_layout(psi, 1, order, step.layout)
            order = step.layout
            u, factors = self._matrices(step.block, theta, device)
            psi = self._apply(psi, u, step, conj=False)
            saved.append((u, factors, psi if keep else None))
        kind, table = plan.outputs
        if kind == "diagonal":
            diag = self._constant(table, device)
            probs = psi.real**2 + psi.imag**2
            out = probs @ diag.T
        else:
            bras = self._words(psi, table, plan.final)
            out = (psi.conj()[None] * bras).real.sum(-1).T
        if not jacobian:
            return out, None
        if kind == "diagonal":
            bras = diag[:, None, :] * psi[None]
        grads = self._sweep(plan, psi, bras, saved, theta, device)  # (K, B, G)
        jac = torch.matmul(grads.permute(1, 0, 2), dtheta.reshape(batch, plan.num_angles, -1))
        return out, jac

    def _angles(self, plan: _Plan, x, w, jacobian: bool):
        """``theta`` ``(B, G)`` and, with ``jacobian``, ``dtheta`` ``(B, G, I + P)`` on ``x``'s device.

        Small registers run a compiled NumPy program (microseconds per call, a trace on first use
        of each shape); from :data:`EAGER_ANGLES_QUBITS` qubits the simulation dwarfs the few
        milliseconds of queuing the circuit, and no trace delays the first call."""
        if self.n >= EAGER_ANGLES_QUBITS:
            return plan.angles.eager(x, w, jacobian)
        program = plan.angles(x, w, jacobian)
        xs, ws = x.detach().cpu().numpy(), w.detach().cpu().numpy()
        theta, dtheta = program(xs, ws) if jacobian else (program(xs, ws), None)
        batch = x.shape[0]
        theta = torch.as_tensor(np.asarray(theta, dtype=np.float64), device=x.device).reshape(batch, plan.num_angles)
        if dtheta is not None:
            dtheta = torch.as_tensor(np.asarray(dtheta, dtype=np.float64), device=x.device)
        return theta, dtheta

    @staticmethod
    def _apply(x: torch.Tensor, u: torch.Tensor, step: _Step, conj: bool) -> torch.Tensor:
        """The block's ``u`` (``(B, d, d)``, or its diagonal ``(B, d)``) on ``x`` (``(..., B,
        2**n)`` in the step's layout); ``conj`` applies ``u^dagger``."""
        shape = x.shape
        if step.mode == "diagonal":
            factor = (u.conj() if conj else u).reshape(u.shape[0], *step.shape)
            return (x.reshape(*shape[:-1], *([2] * len(step.shape))) * factor).reshape(shape)
        d = 2 ** len(step.block.wires)
        if step.mode == "row":  # x @ U^T, undone by x @ conj(U)
            right = u.conj() if conj else u.transpose(-1, -2)
            return torch.matmul(x.reshape(*shape[:-1], shape[-1] // d, d), right).reshape(shape)
        left = u.conj().transpose(-1, -2) if conj else u  # column form: U @ view(L, d, R)
        trailing = shape[-1] // (d * TorchAdjointEngine._leading(step))
        if trailing < _MIN_COLUMNS:  # too few columns for a fast product: let einsum arrange it
            view = x.reshape(*shape[:-1], -1, d, trailing)
            return torch.einsum("...ij,...ljr->...lir", left, view).reshape(shape)
        if step.block.real:  # one real product on the real and imaginary parts together
            view = torch.view_as_real(x).reshape(*shape[:-1], -1, d, 2 * trailing)
            return torch.view_as_complex(torch.matmul(left.real[..., None, :, :], view).reshape(*shape, 2))
        view = x.reshape(*shape[:-1], -1, d, trailing)
        return torch.matmul(left[..., None, :, :], view).reshape(shape)

    def _words(self, psi: torch.Tensor, sums, order: tuple) -> torch.Tensor:
        """``O_k psi`` ``(K, B, D)`` for observables given as sums of Pauli words."""
        n, batch = self.n, psi.shape[0]
        grid = psi.reshape(batch, *([2] * n))
        bras = []
        for terms in sums:
            bra = torch.zeros_like(psi)
            for coeff, word in terms:
                flips = [1 + order.index(wire) for wire, p in word.items() if p in "XY"]
                term = torch.flip(grid, flips) if flips else grid
                factor = torch.full([1] * n, coeff, dtype=psi.dtype, device=psi.device)
                for wire, p in word.items():
                    values = {"Z": [1.0, -1.0], "Y": [-1j, 1j], "X": [1.0, 1.0]}[p]
                    factor = factor * _axis_vector(np.array(values, dtype=np.complex128),
                                                   order.index(wire), n, psi.device)
                bra = bra + (term * factor[None]).reshape(batch, -1)
            bras.append(bra)
        return torch.stack(bras)

    def _sweep(self, plan: _Plan, psi, bras, saved, theta, device) -> torch.Tensor:
        """The adjoint sweep: ``(K, B, G)`` derivatives of every output by every angle."""
        k_out, batch = bras.shape[0], psi.shape[0]
        grads = torch.zeros(k_out, batch, plan.num_angles, dtype=torch.float64, device=device)
        kept = saved[-1][2] is not None
        states = bras if kept else torch.cat([psi[None], bras])  # undone together
        order = plan.final
        first = min((i for i, step in enumerate(plan.steps) if step.block.angles), default=len(plan.steps))
        for index in range(len(plan.steps) - 1, first - 1, -1):
            step = plan.steps[index]
            states = _to_layout(states, 2, order, step.layout)
            order = step.layout
            u, factors, after = saved[index]
            if step.block.angles:
                psi, bras = (after, states) if kept else (states[0], states[1:])
                grads[:, :, step.block.angles] = self._block_gradients(psi, bras, step, factors, device)
            if index > first:
                states = self._apply(states, u, step, conj=True)
        return grads

    def _block_gradients(self, psi, bras, step: _Step, factors, device) -> torch.Tensor:
        """``-2 Im Tr(G_j rho)`` ``(K, B, J)`` for the block's angle gates, ``rho`` the transition
        matrix of the state ``psi`` ``(B, D)`` and the ``bras`` ``(K, B, D)`` on the block's wires."""
        block, n = step.block, self.n
        k_out, batch = bras.shape[0], bras.shape[1]
        d = 2 ** len(block.wires)
        if step.mode == "diagonal":
            product = (psi[None] * bras.conj()).reshape(k_out, batch, *([2] * n))
            summed = [2 + i for i, size in enumerate(step.shape) if size == 1]
            rho = (product.sum(summed) if summed else product).reshape(k_out, batch, d)
            g = self._constant(block.diagonal[1], device)
            return -2.0 * (rho @ g.T.to(rho.dtype)).imag
        if step.mode == "row":
            rho = torch.matmul(psi.reshape(batch, -1, d).transpose(-1, -2),
                               bras.reshape(k_out, batch, -1, d).conj())  # (K, B, d, d): [c, a]
        else:
            trailing = psi.shape[-1] // (d * self._leading(step))
            rho = torch.einsum("blcr,kblar->kbca", psi.reshape(batch, -1, d, trailing),
                               bras.reshape(k_out, batch, -1, d, trailing).conj())
        moved = self._moved_generators(block, factors, device)  # (B, J, d, d)
        return -2.0 * torch.einsum("bjac,kbca->kbj", moved, rho).imag

    @staticmethod
    def _leading(step: _Step) -> int:
        """Amplitudes before a column-form block's wires (the ``L`` of ``view(L, d, R)``)."""
        return 2 ** step.layout.index(step.block.wires[0])
