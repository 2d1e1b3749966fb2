"""Training checkpoints: what :func:`~qnn_torch.training.fit` writes after every epoch and reads
back to resume.

A training checkpoint holds :data:`TRAINING_KEYS`: the epochs done, their losses, the model's and
the optimizer's state dicts and torch's random state, so that a resumed run gives the numbers of
an uninterrupted one. Under ``torch.distributed`` only rank 0 writes it, with the random state of
every process, and every process resumes from it with its own.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..checkpoint import CheckpointError, read_checkpoint, save_atomic
from ..distributed import all_reduce, process_rank, unwrap

__all__ = ["TRAINING_KEYS", "load_checkpoint", "restore_training_state", "save_training_state",
           "training_state"]

TRAINING_KEYS = ("epoch", "losses", "model", "optimizer", "torch_rng")
"""tuple[str]: the entries of a training checkpoint written by :func:`fit` (under
``torch.distributed`` also ``"torch_rng_ranks"``, the random state of every process)."""


def load_checkpoint(path) -> dict:
    """Read a training checkpoint written by :func:`fit` (``torch.load(..., weights_only=True)``).

    Args:
        path (str or Path): the checkpoint.

    Returns:
        dict: its entries, :data:`TRAINING_KEYS`.

    Raises:
        CheckpointError: (a ValueError) if the file is not a training checkpoint, or its epoch is
            not a non-negative integer equal to the number of its losses; the message names the
            file and what is wrong.
    """
    state = read_checkpoint(path)
    missing = [k for k in TRAINING_KEYS if not isinstance(state, dict) or k not in state]
    if missing:
        what = f"a dict without {', '.join(map(repr, missing))}" if isinstance(state, dict) else \
            f"a {type(state).__name__}"
        raise CheckpointError(
            f"{path} is not a training checkpoint written by fit (expected the entries "
            f"{', '.join(TRAINING_KEYS)}; got {what})"
        )
    epoch, losses = state["epoch"], state["losses"]
    problem = None
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        problem = f"its epoch {epoch!r} is not a non-negative integer"
    elif not isinstance(losses, (list, tuple)) or len(losses) != epoch:
        count = len(losses) if isinstance(losses, (list, tuple)) else type(losses).__name__
        problem = f"its epoch {epoch} is not the number of its losses ({count})"
    if problem is not None:
        raise CheckpointError(f"checkpoint {path} is damaged: {problem}; restore it, or train from the start "
                              "with resume=False")
    return state


def training_state(model, optimizer, epoch: int, losses, rng_states=None) -> dict:
    """The entries of a training checkpoint after ``epoch`` epochs."""
    state = {
        "epoch": epoch,
        "losses": list(losses),
        "model": unwrap(model).state_dict(),  # no DDP "module." prefix: loads with or without it
        "optimizer": optimizer.state_dict(),
        "torch_rng": torch.get_rng_state(),
    }
    if rng_states is not None:
        state["torch_rng_ranks"] = rng_states
    return state


def save_training_state(model, optimizer, epoch: int, losses, path: Path) -> None:
    """Write the checkpoint; under ``torch.distributed`` only rank 0 writes, with every process's
    random state, and every process waits until it has (or learns that it failed)."""
    rank, world = process_rank()
    if world == 1:
        save_atomic(training_state(model, optimizer, epoch, losses), path)
        return
    import torch.distributed as dist

    rng_states = [None] * world
    dist.all_gather_object(rng_states, torch.get_rng_state())
    error = None
    if rank == 0:
        try:
            save_atomic(training_state(model, optimizer, epoch, losses, rng_states), path)
        except Exception as err:  # noqa: BLE001 - reported to every process below
            error = err
    (written,) = all_reduce([0.0 if error is not None else 1.0])  # the barrier: rank 0 has finished
    if error is not None:
        raise error
    if written != world:
        raise RuntimeError(f"rank 0 could not write checkpoint {path} (its own error says why); "
                           "every process stops")


def restore_training_state(path: Path, model, optimizer, epochs: int) -> list[float]:
    """Load the checkpoint at ``path`` into ``model`` and ``optimizer`` and restore torch's random
    state (this process's own under ``torch.distributed``).

    Returns:
        list[float]: the losses of the epochs the checkpoint holds.

    Raises:
        ValueError: if the checkpoint holds more than ``epochs`` epochs.
        CheckpointError: (a ValueError) if it is no training checkpoint of this model and optimizer.
    """
    state = load_checkpoint(path)
    start = int(state["epoch"])
    if start > epochs:
        raise ValueError(
            f"checkpoint {path} already holds {start} epochs, more than epochs={epochs}; "
            f"resume with epochs >= {start}, or start a new checkpoint."
        )
    try:
        unwrap(model).load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
    except (RuntimeError, ValueError, KeyError) as err:
        problem = str(err).splitlines()[0][:200]
    else:
        problem = None
    if problem is not None:
        raise CheckpointError(f"checkpoint {path} does not fit this model or optimizer: {problem}")
    rank, world = process_rank()
    ranks = state.get("torch_rng_ranks")
    torch.set_rng_state(ranks[rank] if ranks is not None and len(ranks) == world else state["torch_rng"])
    return list(state["losses"])
