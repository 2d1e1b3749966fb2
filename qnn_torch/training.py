"""A small training loop that never loses work: a checkpoint after every epoch, resumable.

.. code-block:: python

    losses = fit(model, loader, optimizer, loss_fn, epochs=10, checkpoint="run.pt")
    # after a failure or an interruption, carry on where the checkpoint ends:
    losses = fit(model, loader, optimizer, loss_fn, epochs=10, checkpoint="run.pt", resume=True)
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import torch

from .checkpoint import save_atomic
from .devices import scrub_secrets

__all__ = ["TrainingInterrupted", "fit", "load_checkpoint", "tiny_batch_mode"]


class TrainingInterrupted(RuntimeError):
    """Training stopped (a failed job, an interruption); the checkpoint on disk is whole.

    Attributes:
        checkpoint (Path or None): the checkpoint to resume from, if one was written.
        epochs_done (int): the completed epochs the checkpoint holds.
    """

    def __init__(self, message: str, checkpoint: Path | None, epochs_done: int):
        super().__init__(message)
        self.checkpoint = checkpoint
        self.epochs_done = epochs_done


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


def load_checkpoint(path) -> dict:
    """Read a training checkpoint written by :func:`fit` (``torch.load(..., weights_only=True)``)."""
    return torch.load(path, weights_only=True)


def _state(model, optimizer, epoch, losses) -> dict:
    return {
        "epoch": epoch,
        "losses": list(losses),
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "torch_rng": torch.get_rng_state(),
    }


def fit(model: torch.nn.Module, loader, optimizer: torch.optim.Optimizer, loss_fn: Callable, epochs: int,
        checkpoint=None, resume: bool = False, on_batch: Callable | None = None) -> list[float]:
    """Train ``model`` for ``epochs`` epochs; return the mean training loss of every epoch.

    After every epoch the model, the optimizer, the epoch losses and torch's random state are
    written atomically to ``checkpoint`` (if given). With ``resume=True`` an existing checkpoint
    is loaded first and training continues after its last epoch; the random state is restored
    too, so a resumed run gives the same numbers as an uninterrupted one.

    Args:
        model (torch.nn.Module): the model.
        loader (Iterable): yields ``(inputs, targets)`` batches.
        optimizer (torch.optim.Optimizer): the optimizer.
        loss_fn (Callable): ``loss_fn(model(inputs), targets)``.
        epochs (int): the total number of epochs.
        checkpoint (str or Path or None): where to keep the checkpoint.
        resume (bool): continue from ``checkpoint`` if it exists.
        on_batch (Callable or None): called with each batch loss.

    Returns:
        list[float]: the epoch losses, including those of resumed epochs.

    Raises:
        TrainingInterrupted: if a batch fails (for example a hardware job); the message names
            the checkpoint to resume from. The original error is its ``__cause__``.
        ValueError: for ``epochs < 0`` or ``resume`` without ``checkpoint``.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"epochs must be a non-negative integer; got {epochs!r}.")
    if resume and checkpoint is None:
        raise ValueError("resume=True needs checkpoint=<path of the checkpoint to resume from>.")
    path = Path(checkpoint) if checkpoint is not None else None
    losses: list[float] = []
    start = 0
    if resume and path.is_file():
        state = load_checkpoint(path)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        losses, start = list(state["losses"]), int(state["epoch"])
    model.train()
    for epoch in range(start, epochs):
        total = []
        try:
            for inputs, targets in loader:
                optimizer.zero_grad(set_to_none=True)
                loss = loss_fn(model(inputs), targets)
                loss.backward()
                optimizer.step()
                total.append(loss.item())
                if on_batch is not None:
                    on_batch(total[-1])
        except (Exception, KeyboardInterrupt) as err:
            saved = path if path is not None and path.is_file() else None
            where = (f"resume from checkpoint {saved} (epochs done: {epoch}) with resume=True / --resume"
                     if saved else "no checkpoint was written yet")
            reason = scrub_secrets(f"{type(err).__name__}: {err}".splitlines()[0][:300])
            raise TrainingInterrupted(f"training stopped in epoch {epoch + 1} of {epochs} ({reason}); {where}",
                                      saved, epoch if saved else 0) from err
        losses.append(sum(total) / max(len(total), 1))
        if path is not None:
            save_atomic(_state(model, optimizer, epoch + 1, losses), path)
    return losses
