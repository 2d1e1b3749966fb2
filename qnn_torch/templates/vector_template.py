"""The base of the templates here: a PennyLane operation whose one parameter is a vector of angles."""

from __future__ import annotations

from pennylane.operation import Operation

__all__ = ["VectorTemplate"]


class VectorTemplate(Operation):
    """An operation with one trainable-or-data parameter, a vector ``(n,)`` or a batch of them
    ``(batch, n)`` (PennyLane broadcasts over the leading axis); it is differentiated through its
    decomposition (``grad_method = None``)."""

    grad_method = None

    @property
    def num_params(self):
        return 1

    @property
    def ndim_params(self):
        return (1,)
