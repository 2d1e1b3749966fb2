"""A batch of inputs split into pieces, with per-sample weights split alongside."""

from __future__ import annotations

from collections.abc import Iterator

import torch

__all__ = ["split_batch"]


def split_batch(x: torch.Tensor, w: torch.Tensor, size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """``(x, w)`` in pieces of at most ``size`` samples.

    Args:
        x (torch.Tensor): inputs ``(B, I)``.
        w (torch.Tensor): weights shared by the batch ``(P,)`` (given whole to every piece) or one
            row per sample ``(B, P)`` (split with ``x``).
        size (int): the most samples of a piece.

    **Example**

    >>> import torch
    >>> [tuple(x.shape) for x, _ in split_batch(torch.zeros(5, 2), torch.zeros(3), 2)]
    [(2, 2), (2, 2), (1, 2)]
    """
    for start in range(0, x.shape[0], size):
        stop = start + size
        yield x[start:stop], (w if w.dim() == 1 else w[start:stop])
