"""Tracing a function of tensors into an ATen graph, with the refusal engines hand over on."""

from __future__ import annotations

from typing import Callable

import torch
from torch.fx.experimental.proxy_tensor import make_fx

from .errors import EngineUnavailable

__all__ = ["trace"]


def trace(fn: Callable, *args: torch.Tensor) -> torch.fx.GraphModule:
    """``make_fx(fn)(*args)``: the ATen graph of ``fn`` on tensors shaped as ``args``.

    Raises:
        EngineUnavailable: for a function whose operations depend on tensor *values*
            (data-dependent Python control flow, which tracing cannot follow).
    """
    try:
        return make_fx(fn, tracing_mode="real")(*args)
    except RuntimeError as err:
        if isinstance(err, EngineUnavailable) or "data-dependent" not in str(err):
            raise
        raise EngineUnavailable(f"{type(err).__name__}: {err}") from err
