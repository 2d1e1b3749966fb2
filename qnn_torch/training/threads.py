"""PyTorch's thread and kernel settings for training on one sample per step."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch

__all__ = ["tiny_batch_mode"]


@contextmanager
def tiny_batch_mode(threads: int = 1) -> Iterator[None]:
    """PyTorch settings for training on one sample per step, restored when the block ends.

    Batch-1 training of a small network is thousands of tiny operations. Inside the block,
    PyTorch uses ``threads`` intra-op threads (splitting such operations over several threads
    only adds synchronisation, and stalls badly when other processes share the cores) and its
    native CPU kernels instead of oneDNN's, whose set-up per call costs more than a small
    convolution on one image. Results equal those with the default settings up to float
    rounding (oneDNN sums in another order).

    Args:
        threads (int): intra-op threads inside the block.

    Raises:
        ValueError: if ``threads`` is not a positive integer.

    **Example**

    >>> import torch
    >>> before = torch.get_num_threads()
    >>> with tiny_batch_mode():
    ...     torch.get_num_threads(), torch.backends.mkldnn.enabled
    (1, False)
    >>> torch.get_num_threads() == before, torch.backends.mkldnn.enabled
    (True, True)
    """
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be a positive integer; got {threads!r}.")
    before, onednn = torch.get_num_threads(), torch.backends.mkldnn.enabled
    torch.set_num_threads(threads)
    torch.backends.mkldnn.enabled = False
    try:
        yield
    finally:
        torch.set_num_threads(before)
        torch.backends.mkldnn.enabled = onednn
