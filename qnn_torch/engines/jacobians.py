"""Jacobians and vector-Jacobian products: by autograd for the engines that build graphs, and the
split of one ``(..., I + P)`` array into the input and weight parts for the adjoint engines.

An adjoint sweep differentiates by every gate angle; the chain rule through the angles'
derivatives ``(B, G, I + P)`` gives one array whose last axis holds the input columns, then the
weight columns. :func:`split_jacobian` and :func:`split_vjp` hand out the wanted parts.
"""

from __future__ import annotations

import torch

__all__ = ["autograd_jacobians", "graph_inputs", "split_jacobian", "split_vjp"]


def split_jacobian(jacobian, num_inputs: int, want_x: bool, want_w: bool) -> list:
    """The wanted parts of per-sample Jacobians ``(B, K, I + P)``: ``(B, K, I)`` if ``want_x``,
    then ``(B, K, P)`` if ``want_w`` (NumPy arrays or tensors, as given)."""
    parts = ((jacobian[..., :num_inputs], want_x), (jacobian[..., num_inputs:], want_w))
    return [part for part, wanted in parts if wanted]


def split_vjp(total, num_inputs: int, shared_weights: bool, want_x: bool, want_w: bool) -> list:
    """The wanted parts of per-sample gradients ``(B, I + P)``: the input gradient ``(B, I)`` if
    ``want_x``, then the weight gradient if ``want_w``: summed over the batch ``(P,)`` for weights
    the batch shares, else ``(B, P)`` (NumPy arrays or tensors, as given)."""
    weights = total[:, num_inputs:]
    parts = ((total[:, :num_inputs], want_x), (weights.sum(0) if shared_weights else weights, want_w))
    return [part for part, wanted in parts if wanted]


def autograd_jacobians(out: torch.Tensor, x: torch.Tensor, w: torch.Tensor, want_x: bool,
                       want_w: bool) -> list[torch.Tensor]:
    """Per-sample Jacobians ``(B, K, P)`` of ``out`` (B, K) for ``x`` and/or ``w`` (one copy of the
    weights per sample, or ``(P,)`` for a batch of one), by one backward sweep per output."""
    targets = [t for t, want in ((x, want_x), (w, want_w)) if want]
    k_out = out.shape[1]
    if not out.requires_grad:  # the outputs do not depend on inputs or weights at all
        return [torch.zeros(out.shape[0], k_out, t.shape[-1], dtype=t.dtype, device=t.device)
                for t in targets]
    rows = [[] for _ in targets]
    with torch.enable_grad():  # backward runs without grad mode
        for k in range(k_out):
            grads = torch.autograd.grad(out[:, k].sum(), targets, retain_graph=k < k_out - 1,
                                        allow_unused=True)
            for row, g, t in zip(rows, grads, targets):
                g = torch.zeros_like(t) if g is None else g
                row.append(g.reshape(out.shape[0], -1))  # unbatched weights (batch 1) get their row
    return [torch.stack(row, dim=1) for row in rows]


def graph_inputs(x: torch.Tensor, w: torch.Tensor, want_x: bool,
                 want_w: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Leaves for :func:`autograd_jacobians`: ``x`` and, if wanted, one copy of ``w`` per sample."""
    batch = x.shape[0]
    x = x.detach().requires_grad_(want_x)
    w = w.detach()
    if want_w:
        # one copy of the weights per sample, so that each sample gets its own Jacobian row
        w = (w.expand(batch, -1).clone() if batch > 1 else w).requires_grad_(True)
    return x, w
