"""Probability outputs as a map from the squared amplitudes, without a ``(K, 2**n)`` table.

A circuit measuring ``qml.probs`` (through a ``SamplerQNN`` head, or not) has outputs linear in
the squared amplitudes ``p = |psi|**2``: ``out = p @ L`` for a ``(2**n, K)`` matrix ``L``, the
one-hot columns of the measured outcomes times the head. For raw probabilities ``L`` is a
permutation of ``2**n`` columns; stored dense it would cost ``4**n`` numbers (2 GB at 14 qubits).
:class:`ProbabilityMap` keeps the outcome of every basis state and the head instead, and gives
the three products an engine needs in ``O(2**n)`` per sample:

* :meth:`ProbabilityMap.values`: ``p @ L``, the outputs (of a state or of its derivatives);
* :meth:`ProbabilityMap.weights`: ``g @ L^T``, the diagonal observable ``diag(L g)`` whose
  expectation is ``g . out``: the one bra of a vector-Jacobian product;
* :meth:`ProbabilityMap.table`: ``L^T`` itself, for engines that sweep one bra per output
  (few outputs only).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from .bit_order import probability_index

__all__ = ["ProbabilityMap"]

Constant = Callable[[np.ndarray, torch.device], torch.Tensor]
"""A NumPy table as a tensor on a device, made once (an engine's cache of constants)."""


class ProbabilityMap:
    """The outputs of ``qml.probs`` measurements on ``num_wires`` wires, through a head.

    Args:
        num_wires (int): the register (wire 0 the most significant bit, as in PennyLane).
        measured (Sequence[Sequence[int]]): the wires of each ``qml.probs`` measurement, in order.
        head (numpy.ndarray or None): a ``(measured outcomes, K)`` matrix applied to the
            concatenated probabilities, or None.

    **Example**

    >>> m = ProbabilityMap(2, [[1, 0]], None)  # Qiskit's order: the wires reversed
    >>> m.values(torch.tensor([[0.1, 0.2, 0.3, 0.4]], dtype=torch.float64)).tolist()
    [[0.1, 0.3, 0.2, 0.4]]
    """

    def __init__(self, num_wires: int, measured: Sequence[Sequence[int]], head: np.ndarray | None):
        self.dim = 2**num_wires
        self.outcomes = [probability_index(num_wires, wires) for wires in measured]
        self.sizes = [2 ** len(wires) for wires in measured]
        offsets = np.cumsum([0, *self.sizes[:-1]])
        # the column of every basis state in each measurement's block of the concatenated outcomes
        self.columns = [outcome + offset for outcome, offset in zip(self.outcomes, offsets)]
        self.measured_size = int(sum(self.sizes))
        if head is not None and head.shape[0] != self.measured_size:
            raise ValueError(f"head must have {self.measured_size} rows (the measured outcomes); "
                             f"got shape {head.shape}.")
        self.head = None if head is None else np.ascontiguousarray(head, dtype=np.float64)
        self.head_t = None if head is None else np.ascontiguousarray(self.head.T)
        # a permutation of the basis states (every wire measured once): outputs by a gather
        self.inverse = None
        if len(self.columns) == 1 and self.sizes[0] == self.dim:
            self.inverse = np.argsort(self.columns[0])

    @property
    def size(self) -> int:
        """int: the number of outputs ``K``."""
        return self.measured_size if self.head is None else self.head.shape[1]

    def values(self, p: torch.Tensor, constant: Constant | None = None) -> torch.Tensor:
        """``p @ L``: outputs ``(..., K)`` of squared amplitudes (or their derivatives) ``(..., 2**n)``.

        Args:
            p (torch.Tensor): real, last axis the basis states.
            constant (Constant or None): the engine's cache of constant tensors (None: made now).
        """
        constant = constant or _as_tensor
        if self.inverse is not None:
            measured = p.index_select(-1, constant(self.inverse, p.device))
        else:
            blocks = []
            for column, size in zip(self.outcomes, self.sizes):
                block = p.new_zeros(*p.shape[:-1], size)
                blocks.append(block.index_add_(-1, constant(column, p.device), p))
            measured = blocks[0] if len(blocks) == 1 else torch.cat(blocks, dim=-1)
        return measured if self.head is None else measured @ constant(self.head, p.device).to(p.dtype)

    def weights(self, g: torch.Tensor, constant: Constant | None = None) -> torch.Tensor:
        """``g @ L^T``: the diagonal ``(B, 2**n)`` whose expectation ``sum_i d_i p_i`` is
        ``g . out`` for output weights ``g`` ``(B, K)``."""
        constant = constant or _as_tensor
        if self.head is not None:
            g = g @ constant(self.head_t, g.device).to(g.dtype)
        parts = [g.index_select(-1, constant(column, g.device)) for column in self.columns]
        return parts[0] if len(parts) == 1 else sum(parts[1:], parts[0])

    def table(self) -> np.ndarray:
        """``L^T`` ``(K, 2**n)``, dense: one row per output (for a sweep of one bra each).

        One measurement through a head takes the head's rows by outcome: the product of the one-hot
        table with the head, without its ``(2**n, outcomes)`` table."""
        if self.head is not None and len(self.columns) == 1:
            return np.ascontiguousarray(self.head[self.columns[0]].T)
        onehot = np.zeros((self.dim, self.measured_size))
        for column in self.columns:
            onehot[np.arange(self.dim), column] += 1.0
        return np.ascontiguousarray((onehot if self.head is None else onehot @ self.head).T)

    def nbytes(self) -> int:
        """Bytes of the index arrays and the head."""
        arrays = [*self.outcomes, *self.columns, self.head, self.head_t, self.inverse]
        return int(sum(a.nbytes for a in arrays if a is not None))


def _as_tensor(array: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.as_tensor(array, device=device)
