"""How training stops: :class:`TrainingInterrupted`, whose message names the checkpoint to resume
from, and ``SIGTERM`` handled as Ctrl-C (:func:`sigterm_as_interrupt`).

The message of a stop never holds an IBM token (:func:`~qnn_torch.devices.scrub_secrets`).
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ..devices import scrub_secrets
from ..devices.journal import JobJournal

__all__ = ["Terminated", "TrainingInterrupted", "interruption", "sigterm_as_interrupt"]


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


def interruption(err: BaseException, epoch: int, epochs: int, path: Path | None,
                 done: int, journal: JobJournal | None = None) -> TrainingInterrupted:
    """The :class:`TrainingInterrupted` for ``err``, raised in epoch ``epoch`` (from 0) of ``epochs``.

    Args:
        err (BaseException): the error or interruption.
        epoch (int): the epoch it stopped.
        epochs (int): the epochs asked for.
        path (Path or None): the checkpoint.
        done (int): the epochs the checkpoint holds.
        journal (JobJournal or None): the run's job journal.

    Returns:
        TrainingInterrupted: its message names the reason (the error's first line, secrets
        masked, or the signal) and the checkpoint and journal to resume from.
    """
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
