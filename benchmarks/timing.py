"""Timing a training step: one step, the median of several under a time budget, and the step the
side-by-side benchmarks time (forward, then the backward pass of ``mean(sum(outputs))``).

Standard library only at import time (torch is imported by :func:`mean_sum_step`).
"""

from __future__ import annotations

import statistics
import time
from typing import Any, Callable, NamedTuple

__all__ = ["StepTime", "mean_sum_step", "median_steps", "time_step"]


class StepTime(NamedTuple):
    """Seconds of one step's forward and backward pass, and what the forward pass returned."""

    forward_s: float
    backward_s: float
    outputs: Any


def time_step(forward: Callable[[], Any], backward: Callable[[Any], None],
              sync: Callable[[], None] | None = None) -> StepTime:
    """Seconds of ``forward()`` and of ``backward(outputs)``, with the outputs.

    ``sync`` (e.g. ``torch.cuda.synchronize``) is called before each clock reading.
    """
    sync = sync or (lambda: None)
    sync()
    t0 = time.perf_counter()
    out = forward()
    sync()
    t1 = time.perf_counter()
    backward(out)
    sync()
    return StepTime(t1 - t0, time.perf_counter() - t1, out)


def mean_sum_step(call: Callable, x, params: list) -> tuple[Callable, Callable]:
    """``(forward, backward)`` of a training step: ``call(x)``, then the backward pass of
    ``mean(sum(outputs))`` after clearing the gradients of ``params`` and ``x``."""
    import torch

    def forward():
        return call(x)

    def backward(out):
        for p in params:
            p.grad = None
        x.grad = None
        torch.mean(torch.sum(out, dim=1)).backward()

    return forward, backward


def median_steps(forward: Callable, backward: Callable, repeats: int, budget_s: float,
                 sync: Callable[[], None] | None = None, first_s: float | None = None) -> dict:
    """Time up to ``repeats`` steps, stopping early when the next one would overrun ``budget_s``.

    When even one step would not fit (``first_s``, the first step's seconds, exceeds ``budget_s``),
    none is timed and the first step stands in for the step time (``steps`` is 0: an
    overestimate, one-time costs included).

    Returns:
        dict: ``step_s`` (median of forward + backward), ``forward_s``, ``backward_s`` (their
        medians), ``min_step_s``, ``steps`` (how many were timed).
    """
    if first_s is not None and first_s > budget_s:
        return {"step_s": first_s, "forward_s": None, "backward_s": None, "min_step_s": first_s, "steps": 0,
                "note": "only the first call fitted in the time limit: it stands in for a step "
                        "(an overestimate)"}
    fwd, bwd, total = [], [], []
    start = time.perf_counter()
    for _ in range(max(1, repeats)):
        f, b = time_step(forward, backward, sync)[:2]  # the outputs are not kept
        fwd.append(f)
        bwd.append(b)
        total.append(f + b)
        elapsed = time.perf_counter() - start
        if elapsed + statistics.median(total) > budget_s:
            break
    return {"step_s": statistics.median(total), "forward_s": statistics.median(fwd),
            "backward_s": statistics.median(bwd), "min_step_s": min(total), "steps": len(total)}
