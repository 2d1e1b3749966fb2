"""Every engine by its ``engine=`` name, in the order a chain tries them.

A new engine is one module (a subclass of :class:`~qnn_torch.engines.base.Engine`) and one entry
in :data:`ENGINES`.
"""

from __future__ import annotations

from .base import Engine
from .numpy_adjoint import NumpyAdjointEngine
from .qnode import QNodeEngine
from .torch_adjoint import TorchAdjointEngine
from .torch_traced import TorchTracedEngine

__all__ = ["ENGINES", "ENGINE_CHOICES"]

ENGINES: dict[str, type[Engine]] = {
    cls.name: cls
    for cls in sorted((NumpyAdjointEngine, TorchAdjointEngine, TorchTracedEngine, QNodeEngine),
                      key=lambda cls: cls.order)
}
"""dict: every engine class by its ``engine=`` name, in chain order."""

ENGINE_CHOICES: tuple[str, ...] = ("auto", *ENGINES)
"""tuple[str, ...]: the values of the ``engine`` argument: ``"auto"`` and every engine's name."""
