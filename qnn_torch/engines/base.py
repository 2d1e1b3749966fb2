"""The engine contract: what every way of running a QNN's circuit provides.

An engine is built from a :class:`~qnn_torch.circuits.CircuitDescription` (never from the QNN)
and answers two questions about a batch of inputs ``x`` ``(B, num_inputs)`` and weights ``w``
``(num_weights,)`` or ``(B, num_weights)``, both float64 tensors:

* :meth:`Engine.values` -- the outputs ``(B, K)`` as a float64 tensor; differentiable by autograd
  when the class says :attr:`Engine.builds_graph` and grad mode is on.
* :meth:`Engine.values_and_jacobians` -- the outputs (detached) and, eagerly, the wanted
  per-sample Jacobians ``(B, K, num_inputs)`` then ``(B, K, num_weights)``.

An engine that cannot run a circuit raises :class:`EngineUnavailable` (at construction or on a
call) and the QNN hands over to the next engine; any other exception is a bug and propagates.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import torch
from torch.fx.experimental.proxy_tensor import make_fx

from ..circuits.lock import PENNYLANE_LOCK

__all__ = ["Engine", "EngineUnavailable", "PENNYLANE_LOCK", "autograd_jacobians", "graph_inputs", "trace"]


class EngineUnavailable(RuntimeError):
    """This engine cannot run this circuit: hand over to the next engine."""


class Engine(ABC):
    """One way of running a circuit description.

    Args:
        circuit (CircuitDescription): what to run.

    Raises:
        EngineUnavailable: if this engine cannot run ``circuit``.
    """

    name: ClassVar[str]
    """str: the key in :data:`qnn_torch.engines.ENGINES`, saying what the engine is."""
    label: ClassVar[str]
    """str: the user-facing ``engine=`` value and what ``qnn.engine`` reports."""
    builds_graph: ClassVar[bool]
    """bool: whether :meth:`values` is differentiable by autograd (a torch graph)."""
    supports_vjp: ClassVar[bool] = False
    """bool: whether the engine also provides ``forward_for_vjp(x, w) -> (outputs, saved)`` and
    ``vjp(saved, grad_output, want_x, want_w) -> [grad_x, grad_w]``: a backward pass computed
    when the gradient arrives, at the cost of one sweep whatever the number of outputs, instead
    of eager Jacobians."""

    def __init__(self, circuit):
        self.circuit = circuit

    @abstractmethod
    def values(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """The outputs ``(B, K)`` (float64) for a non-empty batch."""

    @abstractmethod
    def values_and_jacobians(self, x: torch.Tensor, w: torch.Tensor, want_x: bool,
                             want_w: bool) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The outputs ``(B, K)`` (detached) and the list of wanted per-sample Jacobians:
        ``(B, K, num_inputs)`` if ``want_x``, then ``(B, K, num_weights)`` if ``want_w``."""


def trace(fn, *args) -> torch.fx.GraphModule:
    """``make_fx(fn)(*args)``; a circuit whose gates depend on parameter *values* (data-dependent
    Python control flow, which tracing cannot follow) raises :class:`EngineUnavailable`."""
    try:
        return make_fx(fn, tracing_mode="real")(*args)
    except RuntimeError as err:
        if isinstance(err, EngineUnavailable) or "data-dependent" not in str(err):
            raise
        raise EngineUnavailable(f"{type(err).__name__}: {err}") from err


def autograd_jacobians(out: torch.Tensor, x: torch.Tensor, w: torch.Tensor, want_x: bool,
                       want_w: bool) -> list[torch.Tensor]:
    """Per-sample Jacobians ``(B, K, P)`` of ``out`` (B, K) for ``x`` and/or ``w`` (one copy of the
    weights per sample, or ``(P,)`` for a batch of one), by one backward sweep per output."""
    targets = [t for t, want in ((x, want_x), (w, want_w)) if want]
    k_out = out.shape[1]
    if not out.requires_grad:  # the outputs do not depend on inputs or weights at all
        return [torch.zeros(out.shape[0], k_out, t.shape[-1], dtype=t.dtype) for t in targets]
    rows = [[] for _ in targets]
    with torch.enable_grad():  # backward runs without grad mode
        for k in range(k_out):
            grads = torch.autograd.grad(out[:, k].sum(), targets, retain_graph=k < k_out - 1,
                                        allow_unused=True)
            for row, g, t in zip(rows, grads, targets):
                g = torch.zeros_like(t) if g is None else g
                row.append(g.reshape(out.shape[0], -1))  # unbatched weights (batch 1) get their row
    return [torch.stack(row, dim=1) for row in rows]


def graph_inputs(x: torch.Tensor, w: torch.Tensor, want_x: bool, want_w: bool):
    """Leaves for :func:`autograd_jacobians`: ``x`` and, if wanted, one copy of ``w`` per sample."""
    batch = x.shape[0]
    x = x.detach().requires_grad_(want_x)
    w = w.detach()
    if want_w:
        # one copy of the weights per sample, so that each sample gets its own Jacobian row
        w = (w.expand(batch, -1).clone() if batch > 1 else w).requires_grad_(True)
    return x, w
