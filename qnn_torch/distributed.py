"""Many processes: data-parallel training with ``torch.distributed`` (``torchrun``).

A model holding :class:`~qnn_torch.TorchConnector` layers trains under
``torch.nn.parallel.DistributedDataParallel`` like any other: every process runs its share of
each batch and DDP averages the gradients. :func:`~qnn_torch.training.fit` knows about it: only
rank 0 writes checkpoints (the others wait for it, so all resume from the same file), epoch
losses are averaged over the processes, and a ``DistributedSampler``'s epoch is set.

.. code-block:: bash

    torchrun --nproc_per_node=2 examples/ddp_train.py --checkpoint run.pt

.. code-block:: python

    def train():
        model = DistributedDataParallel(HybridNet(qnn))
        fit(model, loader, optimizer, loss_fn, epochs=10, checkpoint="run.pt", resume=True)

    rank, world_size = init_distributed()          # gloo on CPUs, NCCL with GPUs
    try:
        train()
    finally:
        shutdown_distributed()                     # after the DDP model is released
"""

from __future__ import annotations

import gc
import os
import sys
import warnings
from datetime import timedelta

import torch
import torch.distributed as dist

__all__ = ["TORCHRUN_VARIABLES", "all_reduce", "check_process_group", "init_distributed", "process_rank",
           "shutdown_distributed", "unwrap"]

TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
"""tuple[str, ...]: the environment variables ``torchrun`` sets and :func:`init_distributed` reads."""

_HOW = "start the script with torchrun, e.g. `torchrun --nproc_per_node=2 examples/ddp_train.py`"


def process_rank() -> tuple[int, int]:
    """``(rank, world_size)`` of the default process group, or ``(0, 1)`` without one."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The module inside ``DistributedDataParallel`` / ``DataParallel``, or ``model`` itself: its
    state dict has no ``module.`` prefix, so checkpoints load with or without the wrapper."""
    wrappers = (torch.nn.parallel.DistributedDataParallel, torch.nn.DataParallel)
    return model.module if isinstance(model, wrappers) else model


def check_process_group(model: torch.nn.Module) -> None:
    """Raise a RuntimeError if ``model`` is wrapped in ``DistributedDataParallel`` but no process
    group is initialised (it was destroyed): its gradients could not be synchronised."""
    if isinstance(model, torch.nn.parallel.DistributedDataParallel) and not (
            dist.is_available() and dist.is_initialized()):
        raise RuntimeError(
            "the model is wrapped in DistributedDataParallel, but no torch.distributed process group is "
            "initialised: call qnn_torch.distributed.init_distributed() (or "
            f"torch.distributed.init_process_group) in every process before training, and {_HOW}."
        )


def init_distributed(backend: str | None = None, timeout_s: float = 60.0) -> tuple[int, int]:
    """Initialise the default process group from the environment ``torchrun`` sets.

    Args:
        backend (str or None): ``"gloo"`` or ``"nccl"``; None: NCCL when CUDA is available, else
            gloo. With CUDA, the process's GPU is ``cuda:LOCAL_RANK``.
        timeout_s (float): how long to wait for the other processes (and for any collective
            operation later) before raising, instead of hanging.

    Returns:
        tuple: ``(rank, world_size)``. A process group that already exists is kept.

    Raises:
        RuntimeError: if the script was not started by ``torchrun`` (the message names the
            missing variables and the command), or the other processes do not join within
            ``timeout_s``.
        ValueError: for a ``timeout_s`` that is not positive or an unknown ``backend``.
    """
    if not dist.is_available():  # pragma: no cover - torch built without distributed
        raise RuntimeError("this torch build has no torch.distributed; install a standard torch wheel.")
    if dist.is_initialized():
        return process_rank()
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, (int, float)) or not timeout_s > 0:
        raise ValueError(f"timeout_s must be a positive number of seconds; got {timeout_s!r}.")
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend not in ("gloo", "nccl"):
        raise ValueError(f"backend must be 'gloo', 'nccl' or None; got {backend!r}.")
    missing = [v for v in TORCHRUN_VARIABLES if v not in os.environ]
    if missing:
        raise RuntimeError(f"init_distributed needs the environment variables torchrun sets "
                           f"({', '.join(missing)} missing): {_HOW}.")
    if backend == "nccl" and "LOCAL_RANK" in os.environ:
        torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
    try:
        dist.init_process_group(backend, init_method="env://", timeout=timedelta(seconds=timeout_s))
    except (RuntimeError, ValueError) as err:
        raise RuntimeError(
            f"the process group did not form within {timeout_s:g} s (rank {os.environ['RANK']} of "
            f"{os.environ['WORLD_SIZE']} at {os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']}): start "
            f"all {os.environ['WORLD_SIZE']} processes with torchrun ({type(err).__name__}: "
            f"{str(err).splitlines()[0][:200] if str(err) else ''})"
        ) from err
    return process_rank()


def shutdown_distributed() -> None:
    """Leave the process group together and destroy it (nothing happens without one).

    Call it after the ``DistributedDataParallel`` model is released (e.g. when the function that
    trained it has returned). It first collects garbage: a model caught in a reference cycle
    (a traceback from its first call, for example) would otherwise keep the process group alive
    until the interpreter exits, and gloo then aborts the process ("terminate called without an
    active exception") after training has finished.

    When another process has died, the closing barrier fails. Called while an error propagates
    (in a ``finally`` clause after :class:`~qnn_torch.TrainingInterrupted`, as the recipe above
    does), it destroys the group without them and warns, so that the error that stopped training
    is the one the caller sees; otherwise it raises.

    Raises:
        RuntimeError: if the barrier fails while no error propagates (another process died after
            this one finished); the group is destroyed first.
    """
    if not (dist.is_available() and dist.is_initialized()):
        return
    in_flight = sys.exc_info()[1]
    gc.collect()
    try:
        dist.barrier()
        failure = None
    except Exception as err:  # noqa: BLE001 - a peer that died; reported below
        failure = f"{type(err).__name__}: {str(err).splitlines()[0][:200] if str(err) else ''}"
    try:
        dist.destroy_process_group()
    except Exception:  # noqa: BLE001 - the group is gone with its peer; nothing is left to free
        if failure is None:
            raise
    if failure is None:
        return
    message = (f"shutdown_distributed: the other processes did not reach the closing barrier ({failure}); "
               "the process group was destroyed without them")
    if in_flight is not None:
        warnings.warn(f"{message}; the error that stopped this process follows", RuntimeWarning, stacklevel=2)
        return
    raise RuntimeError(message)


def all_reduce(values: list[float], op=None) -> list[float]:
    """``values`` summed (or reduced by ``op``) over every process of the default group, in float64
    (returned unchanged without a group). The tensor is on the GPU for NCCL, else on the CPU."""
    if process_rank()[1] == 1:
        return list(values)
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else "cpu"
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM if op is None else op)
    return tensor.tolist()
