"""The training loop, :func:`fit`.

After every epoch :func:`fit` writes a checkpoint (:mod:`~qnn_torch.training.checkpoints`), and
an error or an interruption stops it with a
:class:`~qnn_torch.training.interruption.TrainingInterrupted` that names the checkpoint to
resume from.

On IBM hardware (jobs that the service can find again by id) the id of every job is written to a
job journal next to the checkpoint (``run.pt.jobs.json``) before the job is awaited
(:func:`~qnn_torch.devices.journal.attach_journal`). With ``resume=True`` the jobs in the journal
that finished (or are still queued or running) are fetched instead of being submitted again; only
failed ones are submitted again. The journal is removed when training ends.

Under ``torch.distributed`` (``model`` wrapped in ``DistributedDataParallel``, one process per
rank, see :mod:`qnn_torch.distributed`): only rank 0 writes the checkpoint and the others wait
until it is written; every rank resumes from it with its own random state; epoch losses are
averaged over all processes' batches; a ``DistributedSampler``'s epoch is set at the start of
each epoch (``loader.sampler.set_epoch``). Checkpoints hold the unwrapped model's state dict,
so they resume with or without DDP.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch

from ..devices import holds_secret
from ..devices.journal import attach_journal
from ..distributed import all_reduce, check_process_group
from .checkpoints import restore_training_state, save_training_state
from .interruption import interruption, sigterm_as_interrupt

__all__ = ["fit"]


def fit(model: torch.nn.Module, loader, optimizer: torch.optim.Optimizer, loss_fn: Callable, epochs: int,
        checkpoint=None, resume: bool = False, on_batch: Callable | None = None) -> list[float]:
    """Train ``model`` for ``epochs`` epochs; return the mean training loss of every epoch.

    After every epoch the model, the optimizer, the epoch losses and torch's random state are
    written atomically to ``checkpoint`` (if given); ``resume=True`` continues after the last
    epoch of an existing checkpoint, with its random state, so that a resumed run gives the
    numbers of an uninterrupted one. ``SIGTERM`` stops training as Ctrl-C does. IBM hardware's
    job journal and ``torch.distributed``: see the module docstring.

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
        TrainingInterrupted: if a batch fails (a hardware job, say) or the run is interrupted
            (Ctrl-C, ``SIGTERM``); it names the checkpoint to resume from, and its ``__cause__``
            is the original error unless that holds an IBM token (then a note says so).
        ValueError: for ``epochs < 0``, ``resume`` without ``checkpoint``, a checkpoint holding
            more than ``epochs`` epochs, and with ``resume=True`` a checkpoint or job journal of
            another model, optimizer or backend (``CheckpointError``, ``JobJournalError``).
        RuntimeError: for a ``DistributedDataParallel`` model without a process group.
    """
    path, losses = _start(model, optimizer, epochs, checkpoint, resume)
    done = len(losses)  # the epochs the checkpoint on disk holds
    model.train()
    failure = None
    with sigterm_as_interrupt(), attach_journal(model, path, done, resume) as journal:
        for epoch in range(done, epochs):
            _new_epoch(loader, epoch)
            try:
                losses.append(_train_epoch(model, loader, optimizer, loss_fn, on_batch))
                if path is not None:
                    save_training_state(model, optimizer, epoch + 1, losses, path)
                    done = epoch + 1
                    if journal is not None:  # the jobs so far are in the checkpoint now
                        journal.restart(done)
            except (Exception, KeyboardInterrupt) as err:
                failure = interruption(err, epoch, epochs, path, done, journal)
                if not holds_secret(err):
                    raise failure from err
                break  # raised below, outside the handler: no secret-holding __context__
        if failure is None and journal is not None:
            journal.remove()  # training ended: no job of it is left to fetch
    if failure is not None:
        failure.add_note("the original error was dropped because it contained credentials")
        raise failure
    return losses


def _start(model, optimizer, epochs, checkpoint, resume) -> tuple[Path | None, list[float]]:
    """The checkpoint's path and the losses of the epochs it holds (none unless resuming)."""
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"epochs must be a non-negative integer; got {epochs!r}.")
    if resume and checkpoint is None:
        raise ValueError("resume=True needs checkpoint=<path of the checkpoint to resume from>.")
    check_process_group(model)
    path = Path(checkpoint) if checkpoint is not None else None
    losses = restore_training_state(path, model, optimizer, epochs) if resume and path.is_file() else []
    return path, losses


def _new_epoch(loader, epoch: int) -> None:
    """Tell a ``DistributedSampler`` the epoch, so that it shuffles anew."""
    sampler = getattr(loader, "sampler", None)
    if hasattr(sampler, "set_epoch"):
        sampler.set_epoch(epoch)


def _train_epoch(model, loader, optimizer, loss_fn, on_batch) -> float:
    """One pass over ``loader``; the mean batch loss, over every process under ``torch.distributed``."""
    total = []
    for inputs, targets in loader:
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        optimizer.step()
        total.append(loss.item())
        if on_batch is not None:
            on_batch(total[-1])
    loss_sum, count = all_reduce([float(sum(total)), float(len(total))])
    return loss_sum / max(count, 1)
