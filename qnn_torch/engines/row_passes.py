"""The torch adjoint engine's passes over a group of a batch's rows: the forward pass, the forward
pass with tangents and the adjoint sweep, each a task of
:func:`~qnn_torch.engines.sample_threads.map_samples`.

A pass takes what the whole batch made once in the calling thread (every fused gate's matrix
``(B, d, d)`` or diagonal ``(B, d)``, the dense angle gates' moved generators, the diagonal ones'
tangent phases) and the ``rows`` slice it computes; its result for a row equals, to the last bit,
the whole batch's in one call: every operation here is elementwise, or a product whose sums do
not run over the batch's rows. What sums over them (the outputs, the products through the outputs'
map, the diagonal gates' derivatives) is left to the caller, for the whole batch.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from .fused_kernels import Step, angle_tangents, apply_step, transition_matrix
from .pauli import flipped_wires, word_grid

__all__ = ["Forward", "forward_rows", "join_rows", "pauli_bras", "sweep_rows", "tangent_rows"]


class Forward(NamedTuple):
    """What a forward pass leaves for a sweep: the final state, the rows each of its tasks
    simulated (:func:`~.sample_threads.sample_slices`) and, per task, every fused gate's matrix and
    moved generators (and the state after it, when kept), and the angles' derivatives."""

    psi: torch.Tensor
    rows: list[slice]
    saved: list[list]
    dtheta: torch.Tensor | None


def join_rows(parts: list[torch.Tensor], dim: int = 0) -> torch.Tensor:
    """The tasks' results for rows of a batch (along ``dim``) as one tensor (no copy for one task).

    **Example**

    >>> join_rows([torch.zeros(2, 3), torch.ones(1, 3)]).shape
    torch.Size([3, 3])
    """
    return parts[0] if len(parts) == 1 else torch.cat(parts, dim=dim)


def _take(tensor: torch.Tensor | None, rows: slice, batch: int, dim: int = 0) -> torch.Tensor | None:
    """The ``rows`` of a batch's tensor along ``dim``; a constant (one row for all) as it is."""
    if tensor is None or tensor.shape[dim] != batch or (rows.start, rows.stop) == (0, batch):
        return tensor
    return tensor[rows] if dim == 0 else tensor[:, rows]


def _zero_state(count: int, n: int, device: torch.device) -> torch.Tensor:
    psi = torch.zeros(count, 2**n, dtype=torch.complex128, device=device)
    psi[:, 0] = 1.0
    return psi


def forward_rows(steps: list[Step], gates: list, n: int, batch: int, rows: slice, keep: bool,
                 device: torch.device) -> tuple[torch.Tensor, list]:
    """The final states ``(b, 2**n)`` of the ``rows`` of a batch of ``batch`` samples, from the
    whole batch's ``gates`` (a fused matrix and moved generators, or None, per step), and what
    :func:`sweep_rows` needs: every step's matrix and moved generators for these rows, and the
    state after it if ``keep``."""
    psi = _zero_state(rows.stop - rows.start, n, device)
    saved = []
    for step, (u, moved) in zip(steps, gates):
        u, moved = _take(u, rows, batch), _take(moved, rows, batch)
        psi = apply_step(psi, u, step, n, conj=False)
        saved.append((u, moved, psi if keep else None))
    return psi, saved


def tangent_rows(steps: list[Step], gates: list, generators: list, dtheta: torch.Tensor, n: int,
                 rows: slice, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The final states ``(b, 2**n)`` of the ``rows`` of a batch and their tangents ``d psi / d c``
    ``(C, b, 2**n)``, from the whole batch's ``gates``, each angle step's ``generators`` for
    :func:`~.fused_kernels.angle_tangents` (a diagonal gate's tangent phases ``(C, B, ...)``, a
    dense one's moved generators ``(B, J, d, d)``) and the angles' derivatives ``dtheta``
    ``(B, G, C)``."""
    batch = dtheta.shape[0]
    psi = _zero_state(rows.stop - rows.start, n, device)
    dtheta = _take(dtheta, rows, batch)
    tangents = None  # (C, b, D): zero before the first angle gate
    alone = rows.stop - rows.start == 1 < batch  # one sample of a larger batch
    for step, (u, _), generator in zip(steps, gates, generators):
        own = alone and u.shape[0] == batch  # the sample's own matrix (not a constant shared by all)
        u = _take(u, rows, batch)
        psi = apply_step(psi, u, step, n, conj=False)
        if tangents is not None:
            tangents = apply_step(tangents, u, step, n, conj=False, row_of_batch=own)
        if step.gate.angles:
            generator = _take(generator, rows, batch, dim=1 if step.mode == "diagonal" else 0)
            added = angle_tangents(psi, step, generator, dtheta[:, step.gate.angles], n)
            tangents = added if tangents is None else tangents + added
    if tangents is None:  # no angle depends on the inputs or weights
        tangents = psi.new_zeros(dtheta.shape[-1], *psi.shape)
    return psi, tangents


def sweep_rows(steps: list[Step], first: int, num_angles: int, n: int, psi: torch.Tensor, saved: list,
               bras: torch.Tensor, row_of_batch: bool) -> tuple[torch.Tensor, dict]:
    """The adjoint sweep of ``bras`` ``(K, b, D)`` from the final states ``psi`` ``(b, D)`` and what
    their :func:`forward_rows` ``saved`` (``row_of_batch``: rows of a larger batch, see
    :func:`~.fused_kernels.transition_matrix`), down to step ``first`` (the first with angles):
    ``(K, b, G)`` derivatives of the outputs the bras stand for by the angles of the dense fused
    gates, and the transition matrices ``(K, b, d)`` of the diagonal ones by step, whose
    ``-2 Im Tr(G_j rho)`` the caller takes for the whole batch (a product over their rows)."""
    k_out, count = bras.shape[0], bras.shape[1]
    grads = torch.zeros(k_out, count, num_angles, dtype=torch.float64, device=bras.device)
    diagonal = {}
    kept = saved[-1][2] is not None
    states = bras if kept else torch.cat([psi[None], bras])  # undone together
    for index in range(len(steps) - 1, first - 1, -1):
        step = steps[index]
        u, moved, after = saved[index]
        if step.gate.angles:
            psi, bras = (after, states) if kept else (states[0], states[1:])
            rho = transition_matrix(psi, bras, step, n, row_of_batch)
            if step.mode == "diagonal":
                diagonal[index] = rho
            else:  # -2 Im Tr(G_j rho), G_j the angle gates' moved generators (b, J, d, d)
                grads[:, :, step.gate.angles] = -2.0 * torch.einsum("bjac,kbca->kbj", moved, rho).imag
        if index > first:
            states = apply_step(states, u, step, n, conj=True)
    return grads, diagonal


def pauli_bras(psi: torch.Tensor, sums: list, n: int) -> torch.Tensor:
    """``O_k psi`` ``(K, B, D)`` for observables given as sums of Pauli words
    ``[[(coefficient, {wire: letter})]]``, each row by itself.

    **Example**

    >>> pauli_bras(torch.tensor([[0.6, 0.8]], dtype=torch.complex128), [[(1.0, {0: "Z"})]], 1).real
    tensor([[[ 0.6000, -0.8000]]], dtype=torch.float64)
    """
    batch = psi.shape[0]
    grid = psi.reshape(batch, *([2] * n))
    bras = []
    for terms in sums:
        bra = torch.zeros_like(psi)
        for coeff, word in terms:
            flips = [1 + wire for wire in flipped_wires(word)]
            term = torch.flip(grid, flips) if flips else grid
            factor = coeff * torch.as_tensor(word_grid(word, n), device=psi.device)
            bra = bra + (term * factor[None]).reshape(batch, -1)
        bras.append(bra)
    return torch.stack(bras)
