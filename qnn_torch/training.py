"""A small training loop that never loses work: a checkpoint after every epoch, resumable.

.. code-block:: python

    losses = fit(model, loader, optimizer, loss_fn, epochs=10, checkpoint="run.pt")
    # after a failure or an interruption, carry on where the checkpoint ends:
    losses = fit(model, loader, optimizer, loss_fn, epochs=10, checkpoint="run.pt", resume=True)

On IBM hardware :func:`fit` also keeps a job journal next to the checkpoint
(:mod:`qnn_torch.devices.journal`), so that a resumed run fetches the jobs that already ran
instead of paying for them again; :func:`runtime_session` runs the jobs in a session or batch.
"""

from __future__ import annotations

import signal
import sys
import threading
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import torch

from .checkpoint import CheckpointError, read_checkpoint, save_atomic
from .devices import holds_secret, scrub_secrets, without_secrets
from .devices.journal import JobJournal, digest, journal_path
from .distributed import all_reduce, check_process_group, process_rank, unwrap

__all__ = ["SESSION_MODES", "Terminated", "TrainingInterrupted", "fit", "load_checkpoint", "runtime_session",
           "sigterm_as_interrupt", "tiny_batch_mode"]


class TrainingInterrupted(RuntimeError):
    """Training stopped (a failed job, an interruption); the checkpoint on disk is whole.

    Attributes:
        checkpoint (Path or None): the checkpoint to resume from, if one was written.
        epochs_done (int): the completed epochs the checkpoint holds.
        signum (int or None): the signal that stopped training (``SIGINT`` for Ctrl-C,
            ``SIGTERM``), or None when an error did.
    """

    def __init__(self, message: str, checkpoint: Path | None, epochs_done: int, signum: int | None = None):
        super().__init__(message)
        self.checkpoint = checkpoint
        self.epochs_done = epochs_done
        self.signum = signum


class Terminated(KeyboardInterrupt):
    """Raised by :func:`sigterm_as_interrupt`'s handler when the process receives ``SIGTERM``."""


def _raise_terminated(signum, frame):
    raise Terminated("received SIGTERM")


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Inside the block, ``SIGTERM`` raises :class:`Terminated` (a ``KeyboardInterrupt``), as Ctrl-C does.

    Only in the main thread, and only while ``SIGTERM`` has its default handler (a handler
    installed by the application is left alone); the previous handler is restored afterwards.
    """
    install = (threading.current_thread() is threading.main_thread()
               and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL)
    if install:
        signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        if install:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


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


def _safe_cause(err: BaseException) -> BaseException | None:
    """``err``, or None when a known secret appears anywhere in its chain, messages or frame locals."""
    return None if holds_secret(err) else err


def _state(model, optimizer, epoch, losses, rng_states=None) -> dict:
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


def _save(model, optimizer, epoch, losses, path: Path) -> None:
    """Write the checkpoint; under ``torch.distributed`` only rank 0 writes, with every process's
    random state, and every process waits until it has (or learns that it failed)."""
    rank, world = process_rank()
    if world == 1:
        save_atomic(_state(model, optimizer, epoch, losses), path)
        return
    import torch.distributed as dist

    rng_states = [None] * world
    dist.all_gather_object(rng_states, torch.get_rng_state())
    error = None
    if rank == 0:
        try:
            save_atomic(_state(model, optimizer, epoch, losses, rng_states), path)
        except Exception as err:  # noqa: BLE001 - reported to every process below
            error = err
    (written,) = all_reduce([0.0 if error is not None else 1.0])  # the barrier: rank 0 has finished
    if error is not None:
        raise error
    if written != world:
        raise RuntimeError(f"rank 0 could not write checkpoint {path} (its own error says why); "
                           "every process stops")


def _epoch_loss(total: list[float]) -> float:
    """The mean batch loss of the epoch, over every process under ``torch.distributed``."""
    loss_sum, count = all_reduce([float(sum(total)), float(len(total))])
    return loss_sum / max(count, 1)


def fit(model: torch.nn.Module, loader, optimizer: torch.optim.Optimizer, loss_fn: Callable, epochs: int,
        checkpoint=None, resume: bool = False, on_batch: Callable | None = None) -> list[float]:
    """Train ``model`` for ``epochs`` epochs; return the mean training loss of every epoch.

    After every epoch the model, the optimizer, the epoch losses and torch's random state are
    written atomically to ``checkpoint`` (if given). With ``resume=True`` an existing checkpoint
    is loaded first and training continues after its last epoch; the random state is restored
    too, so a resumed run gives the same numbers as an uninterrupted one. ``SIGTERM`` stops
    training as Ctrl-C does (see :func:`sigterm_as_interrupt`).

    When the model runs on IBM hardware (jobs that the service can find again by id), the id of
    every job is written to a job journal next to the checkpoint (``run.pt.jobs.json``) before
    the job is awaited. With ``resume=True`` the jobs in the journal that finished (or are still
    queued or running) are fetched instead of being submitted again; only failed ones are
    submitted again (see :mod:`qnn_torch.devices.journal`). The journal is removed when training
    ends.

    Under ``torch.distributed`` (``model`` wrapped in ``DistributedDataParallel``, one process per
    rank, see :mod:`qnn_torch.distributed`): only rank 0 writes the checkpoint and the others wait
    until it is written; every rank resumes from it with its own random state; epoch losses are
    averaged over all processes' batches; a ``DistributedSampler``'s epoch is set at the start of
    each epoch (``loader.sampler.set_epoch``). Checkpoints hold the unwrapped model's state dict,
    so they resume with or without DDP.

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
        TrainingInterrupted: if a batch fails (for example a hardware job) or the run is
            interrupted (Ctrl-C, or ``SIGTERM`` while ``SIGTERM`` has its default handler); the
            message names the checkpoint to resume from. The original error is its ``__cause__``,
            unless it holds an IBM token: then it is dropped (a note says so).
        ValueError: for ``epochs < 0``, ``resume`` without ``checkpoint``, or a checkpoint that
            already holds more than ``epochs`` epochs.
        RuntimeError: if ``model`` is wrapped in ``DistributedDataParallel`` but no process group
            is initialised.
        CheckpointError: (a ValueError) with ``resume=True``, if ``checkpoint`` is not a
            training checkpoint of this model and optimizer; the message names the file.
        JobJournalError: (a ValueError) with ``resume=True``, if the job journal was written for
            another model or backend; the message names the file and the difference.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"epochs must be a non-negative integer; got {epochs!r}.")
    if resume and checkpoint is None:
        raise ValueError("resume=True needs checkpoint=<path of the checkpoint to resume from>.")
    check_process_group(model)
    path = Path(checkpoint) if checkpoint is not None else None
    losses: list[float] = []
    start = 0
    if resume and path.is_file():
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
        losses = list(state["losses"])
    model.train()
    done = start  # the epochs the checkpoint on disk holds
    failure = None
    with sigterm_as_interrupt(), _job_journal(model, path, start, resume) as journal:
        for epoch in range(start, epochs):
            total = []
            sampler = getattr(loader, "sampler", None)
            if hasattr(sampler, "set_epoch"):  # DistributedSampler: a new shuffle each epoch
                sampler.set_epoch(epoch)
            try:
                for inputs, targets in loader:
                    optimizer.zero_grad(set_to_none=True)
                    loss = loss_fn(model(inputs), targets)
                    loss.backward()
                    optimizer.step()
                    total.append(loss.item())
                    if on_batch is not None:
                        on_batch(total[-1])
                losses.append(_epoch_loss(total))
                if path is not None:
                    _save(model, optimizer, epoch + 1, losses, path)
                    done = epoch + 1
                    if journal is not None:  # the jobs so far are in the checkpoint now
                        journal.restart(done)
            except (Exception, KeyboardInterrupt) as err:
                failure = _interrupted(err, epoch, epochs, path, done, journal)
                cause = _safe_cause(err)
                if cause is not None:
                    raise failure from err
                break  # raised below, outside the handler: no secret-holding __context__
        if failure is None and journal is not None:
            journal.remove()  # training ended: no job of it is left to fetch
    if failure is not None:
        failure.add_note("the original error was dropped because it contained credentials")
        raise failure
    return losses


@contextmanager
def _job_journal(model, path: Path | None, epoch: int, resume: bool) -> Iterator[JobJournal | None]:
    """The job journal of a training run, attached to the model's devices whose jobs can be
    fetched by id (none without a checkpoint or without such devices)."""
    devices = [d for d in _remote_devices(model) if d.jobs_retrievable] if path is not None else []
    if not devices:
        yield None
        return
    journal = JobJournal.open(journal_path(path), _fingerprint(model, devices), epoch, resume)
    previous = [(d.journal, d.journal_key) for d in devices]
    for key, device in enumerate(devices):
        device.journal, device.journal_key = journal, str(key)
    try:
        yield journal
    finally:
        for device, (old, old_key) in zip(devices, previous):
            device.journal, device.journal_key = old, old_key


def _fingerprint(model, devices) -> dict:
    """What a journal's jobs ran on: the backends, their shots and the model's structure (no
    values: those change every step)."""
    qnns = _remote_qnns(model)
    shapes = sorted((k, tuple(v.shape)) for k, v in model.state_dict().items())
    return {
        "backend": [str(d.backend.name) for d in devices],
        "model": f"{type(model).__name__} {digest(shapes, [repr(q) for q in qnns])[:16]}",
        "shots": [q.spec.shots for q in qnns],
    }


def _interrupted(err: BaseException, epoch: int, epochs: int, path: Path | None,
                 done: int, journal: JobJournal | None = None) -> TrainingInterrupted:
    saved = path if path is not None and path.is_file() else None
    where = (f"resume from checkpoint {saved} (epochs done: {done}) with resume=True / --resume"
             if saved else "no checkpoint was written yet")
    if journal is not None and journal.path.is_file():
        where += (f"; job journal {journal.path} keeps the ids of the jobs since, which a resumed run "
                  "fetches instead of submitting again")
    if isinstance(err, Terminated):
        reason, signum = "SIGTERM", signal.SIGTERM
    elif isinstance(err, KeyboardInterrupt):
        reason, signum = "KeyboardInterrupt", signal.SIGINT
    else:
        reason = scrub_secrets(f"{type(err).__name__}: {err}".splitlines()[0][:300])
        signum = None
    return TrainingInterrupted(f"training stopped in epoch {epoch + 1} of {epochs} ({reason}); {where}",
                               saved, done if saved else 0, signum)


# ---------------------------------------------------------------- IBM Runtime sessions

def _remote_qnns(obj):
    """The QNNs of a model, a TorchConnector or a QNN that run on a BatchedRemoteDevice."""
    remote = sys.modules.get(f"{__package__}.devices.remote")
    if remote is None:  # no remote device was ever made: no need to import the Qiskit stack for nothing
        return []
    BatchedRemoteDevice = remote.BatchedRemoteDevice
    from .qnn.neural_network import QuantumNeuralNetwork

    qnns = [obj] if isinstance(obj, QuantumNeuralNetwork) else [
        m.qnn for m in obj.modules() if isinstance(getattr(m, "qnn", None), QuantumNeuralNetwork)]
    return [q for q in qnns if isinstance(q.spec.device, BatchedRemoteDevice)]


def _remote_devices(obj):
    """The BatchedRemoteDevices used by a model, a TorchConnector or a QNN (each once)."""
    devices = {}
    for q in _remote_qnns(obj):
        devices.setdefault(id(q.spec.device), q.spec.device)
    return list(devices.values())


SESSION_MODES = ("auto", "session", "batch", "job")
"""tuple[str, ...]: the ``mode`` values of :func:`runtime_session`."""


@contextmanager
def runtime_session(model, mode: str = "session", **kwargs):
    """Run every IBM job of ``model`` inside one Qiskit Runtime ``Session`` (or ``Batch``).

    Args:
        model: a ``torch.nn.Module`` holding :class:`~qnn_torch.TorchConnector` layers, a
            connector, or a QNN, whose device is an IBM (or fake IBM) backend.
        mode (str): ``"session"`` (dedicated, iterative access), ``"batch"``, ``"job"`` (no
            session: each job queues on its own), or ``"auto"``: a session where the account
            allows one, else a batch, else job mode, with one warning saying which and why
            (accounts on IBM's Open plan cannot open sessions).
        **kwargs: passed to ``Session``/``Batch`` (e.g. ``max_time``).

    Yields:
        Session or Batch or None: the open session (closed on exit), or None in job mode.

    Raises:
        ValueError: if ``model`` runs on no IBM backend, if ``mode`` is unknown, or if the
            account refuses the ``mode`` asked for (the message names it and the service's
            reason).

    **Example**

    .. code-block:: python

        with runtime_session(model, mode="auto", max_time="1h"):
            fit(model, loader, optimizer, loss_fn, epochs=3, checkpoint="run.pt")
    """
    if mode not in SESSION_MODES:
        raise ValueError(f"mode must be one of {', '.join(map(repr, SESSION_MODES))}; got {mode!r}.")
    devices = _remote_devices(model)
    if not devices:
        raise ValueError("runtime_session needs a model whose QNN runs on an IBM backend "
                         "(device='ibm:<name>', 'fake:<name>' or a Backend object); found none.")
    backends = {id(d.backend): d.backend for d in devices}
    if len(backends) > 1:
        raise ValueError(f"runtime_session needs one backend; the model uses {len(backends)}.")
    session = _open_session(devices[0].backend, mode, kwargs)
    previous = [d.session for d in devices]
    for d in devices:
        d.update_session(session)
    try:
        yield session
    finally:
        for d, old in zip(devices, previous):
            d.update_session(old)
        if session is not None:
            _close(session)


def _open_session(backend, mode: str, kwargs: dict):
    """A ``Session`` or ``Batch`` on ``backend`` for ``mode`` (None in job mode); in ``"auto"``
    mode the first the account allows, with one warning when it is not a session."""
    from qiskit_ibm_runtime import Batch, Session

    kinds = {"session": Session, "batch": Batch}
    refused, session = [], None
    for candidate in (("session", "batch", "job") if mode == "auto" else (mode,)):
        if candidate == "job":
            break
        session, refusal, error = _try_open(kinds[candidate], candidate, backend, kwargs)
        if error is not None:  # raised here, outside the handler: no __context__ that may hold a token
            raise error
        if session is not None:
            break
        refused.append((candidate, refusal))
        if mode != "auto":
            raise ValueError(f"runtime_session(mode={mode!r}): the account cannot open a {candidate} on "
                             f"{backend.name} ({refusal}); use mode='auto' to fall back to what it allows.")
    if refused:
        fallback = "a batch" if session is not None else "job mode (each job queues on its own)"
        reasons = "; ".join(f"no {kind} ({reason})" for kind, reason in refused)
        warnings.warn(f"runtime_session(mode='auto') on {backend.name}: {reasons}; running the jobs in "
                      f"{fallback}", RuntimeWarning, stacklevel=4)
    return session


def _try_open(cls, kind: str, backend, kwargs: dict):
    """``(session, None, None)``; ``(None, reason, None)`` when the service refuses ``kind`` to the
    account (an ``IBMError``; the reason scrubbed of secrets); ``(None, None, error)`` for any other
    error, to be raised by the caller (a :class:`~qnn_torch.devices.jobs.ServiceError` if it held
    a secret)."""
    from qiskit_ibm_runtime.exceptions import IBMError

    try:
        return cls(backend=backend, **kwargs), None, None
    except IBMError as err:  # the service refuses this mode to the account
        return None, scrub_secrets(f"{type(err).__name__}: {err}".splitlines()[0][:200]), None
    except Exception as err:  # noqa: BLE001 - handed to the caller, which raises it
        return None, None, without_secrets(err, f"opening a {kind} on {backend.name}")


def _close(session) -> None:
    """Close ``session``; an error that holds a secret is raised scrubbed."""
    try:
        session.close()
        return
    except Exception as err:  # noqa: BLE001 - raised below, outside the handler
        error = without_secrets(err, "closing the session")
    raise error
