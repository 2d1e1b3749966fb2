"""Where and in what dtype an engine computes: the tensors of a call placed for it, and the engines
of a chain ordered for the device of a call.

An engine computes on the tensors' own device when it supports it
(:meth:`~qnn_torch.engines.base.Engine.supports_device`) and on CPU copies otherwise; it computes in
the network's precision when it lists that dtype (:attr:`~qnn_torch.engines.base.Engine.dtypes`)
and in float64 otherwise. The chain moves the results back to the inputs' device.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from .base import Engine
from .errors import EngineUnavailable

__all__ = ["order_for_device", "place"]


def place(engine: Engine, x: torch.Tensor, weight: torch.Tensor,
          dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """``x`` and ``weight`` where and as ``engine`` computes.

    Args:
        engine (Engine): the engine of the call.
        x (torch.Tensor): inputs ``(B, I)``.
        weight (torch.Tensor): weights on ``x``'s device.
        dtype (torch.dtype): the network's precision (float64 or float32).

    Raises:
        ValueError: if ``weight`` is on another device than ``x``, or ``x`` is on the ``meta``
            device and the engine computes on the CPU only (meta tensors hold no data to copy).
    """
    if weight.device != x.device:
        raise ValueError(f"weight must be on the inputs' device {x.device}; got weight on "
                         f"{weight.device}. Move both (model.to(device) moves a TorchConnector's weight).")
    device = x.device if engine.supports_device(x.device) else torch.device("cpu")
    if device != x.device and x.device.type == "meta":
        raise ValueError(
            f"inputs on the 'meta' device hold no data, and the {engine.name!r} engine computes on the "
            "CPU only: use engine='compiled' on default.qubit for meta tensors (shape checks).")
    dtype = dtype if dtype in engine.dtypes else torch.float64
    return x.to(device=device, dtype=dtype), weight.to(device=device, dtype=dtype)


def order_for_device(names: list[str], device: torch.device, engine: Callable[[str], Engine]) -> list[str]:
    """``names`` with the engines that compute on ``device`` first (each group in chain order).

    Args:
        names (list[str]): the engines of the chain, in order.
        device (torch.device): the device of the call's tensors.
        engine (Callable[[str], Engine]): the engine of a name, built on first use.
    """
    if device.type == "cpu":  # every engine computes on the CPU
        return names

    def on_device(name):
        try:
            return engine(name).supports_device(device)
        except EngineUnavailable:  # refused at construction: dropped when it is tried
            return False

    first = [n for n in names if on_device(n)]
    return first + [n for n in names if n not in first]
