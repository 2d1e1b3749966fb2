"""Torch kernels of fused gates on a batched state: building a fused gate's matrix from its angles,
applying it (or its adjoint) to ``(..., B, 2**n)`` states, and the transition matrix on its wires
that an adjoint sweep turns into the derivatives of its angles.

A fused gate (:class:`~qnn_torch.engines.fusion.FusedGate`) meets the state in one of four ways
(:func:`step_mode`): elementwise for a diagonal gate; as ``U @ view(L, d, R)`` for contiguous wires
with enough amplitudes after them (``"column"``); as ``view(M, d) @ U^T`` on the last wires
(``"row"``); and by ``einsum`` over the state's axes otherwise. The state is complex128, wire 0
the most significant bit, as in PennyLane.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from .fusion import FusedGate

__all__ = ["Step", "angle_tangents", "apply_step", "gate_matrices", "moved_generators", "step_mode",
           "tangent_phases", "transition_matrix"]

Constant = Callable[[np.ndarray, torch.device], torch.Tensor]
"""A NumPy table as a tensor on a device, made once (the engine's cache of constants)."""

_MIN_COLUMNS = 16  # below this many trailing amplitudes a column-form product is slow: einsum instead
_MIN_PRODUCT_COLUMNS = 32  # from this many, a transition matrix is summed from products (no copies)
_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass
class Step:
    """A fused gate and how it meets the ``(..., 2**n)`` state.

    ``mode`` is ``"diagonal"`` (elementwise; ``shape`` the broadcast shape of its diagonal over
    the ``n`` axes), ``"column"`` (contiguous wires with at least :data:`_MIN_COLUMNS` amplitudes
    after them: ``U @ view(L, d, R)``), ``"row"`` (the last wires: ``view(M, d) @ U^T``) or
    ``"einsum"`` (any other wires: an ``einsum`` over the state's axes).
    """

    gate: FusedGate
    mode: str
    shape: tuple

    @property
    def leading(self) -> int:
        """Amplitudes before the gate's first wire (the ``L`` of ``view(L, d, R)``)."""
        return 2 ** self.gate.wires[0]


def step_mode(wires: tuple, n: int, diagonal: bool) -> str:
    """How a gate on ``wires`` (sorted) of an ``n``-wire state is applied (see :class:`Step`)."""
    if diagonal:
        return "diagonal"
    k, first = len(wires), wires[0]
    if list(wires) != list(range(first, first + k)):
        return "einsum"
    trailing = 2 ** (n - first - k)
    return "row" if trailing == 1 else "column" if trailing >= _MIN_COLUMNS else "einsum"


def gate_matrices(gate: FusedGate, theta: torch.Tensor, device: torch.device,
                  constant: Constant) -> tuple[torch.Tensor, list | None]:
    """The fused matrix ``(B, d, d)`` (or its diagonal ``(B, d)``) for the angles ``theta``
    ``(B, G)``, and the factors it is the product of (kept for the sweep; None for a diagonal)."""
    if gate.diagonal is not None:
        base, g = gate.diagonal
        phase = theta[:, gate.angles] @ constant(g, device) if gate.angles else None
        u = constant(base, device)
        u = u[None] if phase is None else u * torch.polar(torch.ones_like(phase), phase)
        return u, None
    u, factors = None, []
    for step in gate.steps:
        if step[0] == "fixed":
            m = constant(step[1], device)
        else:
            _, index, values, projectors, _ = step
            phases = torch.polar(torch.ones(1, dtype=theta.dtype, device=device),
                                 theta[:, index, None] * constant(values, device))
            m = torch.einsum("bl,lij->bij", phases, constant(projectors, device))
        factors.append(m)
        u = m if u is None else m @ u
    return (u if u.dim() == 3 else u[None]), factors


def moved_generators(gate: FusedGate, factors: list, device: torch.device,
                     constant: Constant) -> torch.Tensor:
    """``G_j = P_j H_j P_j^dagger`` ``(B, J, d, d)``, ``P_j`` the factors after angle gate ``j``."""
    moved, after = [], None
    for step, m in zip(reversed(gate.steps), reversed(factors)):
        if step[0] == "angle":
            h = constant(step[4], device)
            g = h if after is None else after @ h @ after.mH
            moved.append(g if g.dim() == 3 else g[None])
        after = m if after is None else after @ m
    batch = max(g.shape[0] for g in moved)
    return torch.stack([g.expand(batch, -1, -1) for g in moved[::-1]], dim=1)


def apply_step(x: torch.Tensor, u: torch.Tensor, step: Step, n: int, conj: bool,
               row_of_batch: bool = False) -> torch.Tensor:
    """The gate's ``u`` (``(B, d, d)``, or its diagonal ``(B, d)``) on ``x`` (``(..., B, 2**n)``);
    ``conj`` applies ``u^dagger``. With ``row_of_batch`` (``x`` and ``u`` are one sample of a larger
    batch, under leading axes) the matrices are laid out as that batch's product lays them out, so
    that the sample's result equals the batch's to the last bit."""
    shape = x.shape
    if step.mode == "diagonal":
        factor = (u.conj() if conj else u).reshape(u.shape[0], *step.shape)
        return (x.reshape(*shape[:-1], *([2] * n)) * factor).reshape(shape)
    d = 2 ** len(step.gate.wires)
    # conjugates materialized here, on the small matrices: a product resolves a lazy conjugate
    # once per matrix of its batch (thousands of copies for a gate on the middle wires)
    if step.mode == "row":  # x @ U^T, undone by x @ conj(U)
        right = u.conj().resolve_conj() if conj else u.transpose(-1, -2)
        if row_of_batch and x.dim() > 2:  # a batch's broadcast copies U^T (one sample's is a view)
            right = right.contiguous()
        return torch.matmul(x.reshape(*shape[:-1], shape[-1] // d, d), right).reshape(shape)
    left = u.mH.resolve_conj().contiguous() if conj else u
    if step.mode == "einsum":
        return _einsum_apply(x, left, step, n)
    trailing = shape[-1] // (d * step.leading)  # column form: U @ view(L, d, R)
    if step.gate.real:  # one real product on the real and imaginary parts together
        view = torch.view_as_real(x).reshape(*shape[:-1], -1, d, 2 * trailing)
        real = left.real.contiguous()  # a strided view would be copied once per matrix of the product
        return torch.view_as_complex(torch.matmul(real[..., None, :, :], view).reshape(*shape, 2))
    view = x.reshape(*shape[:-1], -1, d, trailing)
    return torch.matmul(left[..., None, :, :], view).reshape(shape)


def _einsum_apply(x: torch.Tensor, left: torch.Tensor, step: Step, n: int) -> torch.Tensor:
    """``left`` ``(B, d, d)`` on the gate's wires, wherever they are, by ``einsum``."""
    wires = step.gate.wires
    k = len(wires)
    lead = _LETTERS[: x.dim() - 1]
    axes = _LETTERS[len(lead): len(lead) + n]
    new = _LETTERS[len(lead) + n: len(lead) + n + k]
    after = "".join(new[wires.index(i)] if i in wires else axes[i] for i in range(n))
    spec = f"{lead[-1]}{new}{''.join(axes[w] for w in wires)},{lead}{axes}->{lead}{after}"
    matrix = left.expand(x.shape[-2], -1, -1)
    if step.gate.real:  # a real product on the real and imaginary parts (a last axis of 2)
        grid = torch.view_as_real(x).reshape(*x.shape[:-1], *([2] * n), 2)
        matrix = matrix.real.reshape(-1, *([2] * (2 * k)))
        extra = _LETTERS[len(lead) + n + k]
        out = torch.einsum(spec.replace("->", f"{extra}->") + extra, matrix, grid)
        return torch.view_as_complex(out.reshape(*x.shape, 2))
    grid = x.reshape(*x.shape[:-1], *([2] * n))
    return torch.einsum(spec, matrix.reshape(-1, *([2] * (2 * k))), grid).reshape(x.shape)


def transition_matrix(psi: torch.Tensor, bras: torch.Tensor, step: Step, n: int,
                      row_of_batch: bool = False) -> torch.Tensor:
    """``rho = sum_rest psi conj(bra)`` on the gate's wires for the state ``psi`` ``(B, D)`` and the
    ``bras`` ``(K, B, D)``: ``(K, B, d)`` (the diagonal) for a diagonal gate, else ``(K, B, d, d)``
    indexed ``[c, a]``. With ``row_of_batch`` (``psi`` and ``bras`` are one sample of a larger
    batch) the operands of products are laid out as that batch's are, so that the sample's
    ``rho`` equals the batch's to the last bit."""
    k_out, batch = bras.shape[0], bras.shape[1]
    d = 2 ** len(step.gate.wires)
    if step.mode == "diagonal":
        product = (psi[None] * bras.conj()).reshape(k_out, batch, *([2] * n))
        summed = [2 + i for i, size in enumerate(step.shape) if size == 1]
        return (product.sum(summed) if summed else product).reshape(k_out, batch, d)
    if step.mode == "row":
        return torch.matmul(psi.reshape(batch, -1, d).transpose(-1, -2),
                            bras.reshape(k_out, batch, -1, d).conj().resolve_conj())
    if step.mode == "column":
        trailing = psi.shape[-1] // (d * step.leading)
        columns = psi.reshape(batch, -1, d, trailing)
        if trailing >= _MIN_PRODUCT_COLUMNS:  # a product per leading index, then their sum
            # the bras conjugated and laid out (b, l, r, k a) in one copy: the outputs inside the
            # product, so that the state is not copied once per output
            rows = bras.reshape(k_out, batch, -1, d, trailing).permute(1, 2, 4, 0, 3).conj()
            rows = rows.resolve_conj().reshape(batch, columns.shape[1], trailing, k_out * d)
            if row_of_batch and k_out > 1:  # a batch's reshape copies (one sample's is a view)
                rows = rows.contiguous()
            return torch.matmul(columns, rows).sum(1).reshape(batch, d, k_out, d).permute(2, 0, 1, 3)
        return torch.einsum("blcr,kblar->kbca", columns, bras.reshape(k_out, batch, -1, d, trailing).conj())
    wires, k = step.gate.wires, len(step.gate.wires)
    axes = _LETTERS[2: 2 + n]
    mine = _LETTERS[2 + n: 2 + n + k]
    theirs = _LETTERS[2 + n + k: 2 + n + 2 * k]
    left = "".join(mine[wires.index(i)] if i in wires else axes[i] for i in range(n))
    right = "".join(theirs[wires.index(i)] if i in wires else axes[i] for i in range(n))
    return torch.einsum(f"b{left},ab{right}->ab{mine}{theirs}", psi.reshape(batch, *([2] * n)),
                        bras.reshape(k_out, batch, *([2] * n)).conj()).reshape(k_out, batch, d, d)


def tangent_phases(step: Step, dtheta: torch.Tensor, device: torch.device,
                   constant: Constant) -> torch.Tensor:
    """A diagonal fused gate's phases ``sum_j g_j dtheta_j / dc`` ``(C, B, *step.shape)`` for
    :func:`angle_tangents`, from the derivatives ``dtheta`` ``(B, J, C)`` of its ``J`` angles by the
    ``C`` inputs and weights. Made for a whole batch: the product sums in an order that may depend
    on the batch's size."""
    g = constant(step.gate.diagonal[1], device)  # (J, d)
    phase = torch.matmul(dtheta.transpose(1, 2), g.to(dtheta.dtype))  # (B, C, d)
    return phase.transpose(0, 1).reshape(dtheta.shape[-1], dtheta.shape[0], *step.shape)


def angle_tangents(psi: torch.Tensor, step: Step, generators: torch.Tensor, dtheta: torch.Tensor,
                   n: int) -> torch.Tensor:
    """What the gate's angles add to the tangents ``d psi / d c``: ``sum_j i G_j psi dtheta_j / dc``
    ``(C, B, D)`` for the state ``psi`` ``(B, D)`` after the gate and the derivatives ``dtheta``
    ``(B, J, C)`` of its ``J`` angles by the ``C`` inputs and weights (``U = exp(i theta G)``, with
    ``G_j`` the generator moved to the gate's end). ``generators`` are a diagonal gate's
    :func:`tangent_phases`, a dense one's :func:`moved_generators` ``(B, J, d, d)``."""
    batch = psi.shape[0]
    if step.mode == "diagonal":  # i (sum_j g_j dtheta_j/dc) psi, elementwise
        grid = psi.reshape(batch, *([2] * n))
        return (1j * grid[None] * generators).reshape(-1, *psi.shape)
    # i G_j is real for a real gate (the derivative of a real matrix), as apply_step's real path needs
    applied = torch.stack([apply_step(psi, 1j * generators[:, j], step, n, conj=False)
                           for j in range(generators.shape[1])], dim=1)  # (B, J, D)
    return torch.matmul(dtheta.transpose(1, 2).to(applied.dtype), applied).transpose(0, 1)
