"""The parts of qnn_torch below its public API that the benchmarks use, in one place: when the
package renames one, the fix is here.

* :func:`engine_values`: every ``engine=`` value, read from the engine registry;
* :func:`values_and_jacobians`: a network's outputs with per-sample Jacobians, as the torch
  connector asks for them.
"""

from __future__ import annotations

__all__ = ["engine_values", "values_and_jacobians"]


def engine_values() -> list[str]:
    """``"auto"`` and every other ``engine=`` value qnn_torch knows now."""
    from qnn_torch.engines import ENGINE_CHOICES

    return list(ENGINE_CHOICES)


def values_and_jacobians(qnn, x, weights):
    """``(outputs, (input_jacobian, weight_jacobian))`` of the network ``qnn`` as torch tensors."""
    return qnn.differentiate(x, weights)
