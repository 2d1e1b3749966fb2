"""A job journal: the ids of a training run's hardware jobs, kept next to its checkpoint.

On hardware a job is paid when it runs, whether or not the process that submitted it is still
there to read its result. :func:`qnn_torch.fit` therefore writes the id of every job, before
waiting for it, to a small JSON file next to the training checkpoint (``run.pt`` ->
``run.pt.jobs.json``), replaced atomically (:func:`~qnn_torch.checkpoint.write_atomic`) at each
write. The journal holds the jobs submitted since the last checkpoint, numbered in the order
the run submitted them, each with a digest of its circuits, parameter values and shots.

A resumed run starts again from the checkpoint with the same random state, so it submits the
same jobs in the same order. Each job that is in the journal with the same digest is fetched
from the service instead of being submitted: its result if it finished, or once it finishes
if it is still queued or running. Only jobs that failed or were cancelled are submitted again.
A job whose digest differs, a journal written for another model or backend, or a job the
service does not know raise :class:`JobJournalError`: a journal never leads to a silent
resubmission.

The journal holds job ids, digests, backend names and an epoch number: never a token.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

import numpy as np

from ..checkpoint import write_atomic

__all__ = ["FORMAT", "JobJournal", "JobJournalError", "digest", "journal_path"]

FORMAT = "qnn_torch job journal"
"""str: the ``format`` entry of a journal file."""
_VERSION = 1


class JobJournalError(ValueError):
    """A job journal that does not belong to this run; the message names the file and why."""


def journal_path(checkpoint) -> Path:
    """The journal of the training checkpoint ``checkpoint`` (``run.pt`` -> ``run.pt.jobs.json``)."""
    checkpoint = Path(checkpoint)
    return checkpoint.with_name(checkpoint.name + ".jobs.json")


def digest(*parts) -> str:
    """A SHA-256 hex digest of ``parts`` (strings, bytes, numbers, arrays, nested sequences)."""
    h = hashlib.sha256()

    def feed(part):
        if isinstance(part, (list, tuple)):
            h.update(b"(")
            for p in part:
                feed(p)
            h.update(b")")
        elif isinstance(part, np.ndarray):
            h.update(str((part.dtype.str, part.shape)).encode())
            h.update(np.ascontiguousarray(part).tobytes())
        elif isinstance(part, bytes):
            h.update(part)
        else:
            h.update(repr(part).encode())
        h.update(b"|")

    feed(parts)
    return h.hexdigest()


class JobJournal:
    """The jobs a training run submitted since its last checkpoint, on disk.

    Use :meth:`open`; devices call :meth:`next_index`, :meth:`entry` and :meth:`record`.

    Args:
        path (Path): the journal file.
        fingerprint (dict): what the jobs ran on: the backends' names and the model's
            structure (JSON values).
        epoch (int): the completed epochs of the checkpoint the jobs continue from.
        jobs (dict or None): recorded jobs, ``{device key: [entry, ...]}``, each entry a dict
            with ``job_id`` and ``digest``.

    Attributes:
        fetched (int): jobs fetched from the journal instead of being submitted.
    """

    def __init__(self, path: Path, fingerprint: dict, epoch: int, jobs: dict | None = None):
        self.path = Path(path)
        self.fingerprint = fingerprint
        self.epoch = int(epoch)
        self._jobs: dict[str, list[dict]] = {k: list(v) for k, v in (jobs or {}).items()}
        self._next: dict[str, int] = {}
        self.fetched = 0

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    def open(cls, path, fingerprint: dict, epoch: int, resume: bool) -> JobJournal:
        """The journal at ``path`` for a run continuing from ``epoch`` completed epochs.

        Args:
            path (str or Path): the journal file.
            fingerprint (dict): the run's backends and model (see the class).
            epoch (int): the epochs of the checkpoint the run continues from (0 without one).
            resume (bool): keep the jobs of a journal written for this checkpoint; otherwise a
                new, empty journal replaces any file at ``path``.

        Returns:
            JobJournal: the journal, written to ``path``.

        Raises:
            JobJournalError: with ``resume``, if the file is not a job journal, or was written for
                another model or backend (the message names the file and the difference).
        """
        path = Path(path)
        jobs = None
        if resume and path.is_file():
            saved = cls._read(path)
            cls._check_fingerprint(path, saved["fingerprint"], fingerprint)
            if saved["epoch"] == epoch:
                jobs = saved["jobs"]
            elif saved["epoch"] > epoch:
                warnings.warn(f"job journal {path} continues a checkpoint of {saved['epoch']} epochs, not "
                              f"the {epoch} resumed from: its jobs are not reused", RuntimeWarning,
                              stacklevel=3)
            # saved["epoch"] < epoch: the checkpoint was written after those jobs; they are in it
        journal = cls(path, fingerprint, epoch, jobs)
        journal._write()
        return journal

    def restart(self, epoch: int) -> None:
        """A new checkpoint of ``epoch`` epochs was written: forget the jobs before it."""
        self.epoch = int(epoch)
        self._jobs = {}
        self._next = {}
        self._write()

    def remove(self) -> None:
        """Delete the journal file (training finished)."""
        self.path.unlink(missing_ok=True)

    # ------------------------------------------------------------------ the devices' side

    def next_index(self, key: str) -> int:
        """The number of the next job of device ``key`` in this run since the checkpoint."""
        index = self._next.get(key, 0)
        self._next[key] = index + 1
        return index

    def entry(self, key: str, index: int, job_digest: str) -> dict | None:
        """The recorded job ``index`` of device ``key``, or None if there is none.

        Raises:
            JobJournalError: if the recorded job's digest is not ``job_digest`` (the run differs
                from the one that wrote the journal).
        """
        jobs = self._jobs.get(key, [])
        if index >= len(jobs) or jobs[index] is None:
            return None
        entry = jobs[index]
        if entry["digest"] != job_digest:
            raise JobJournalError(
                f"job journal {self.path}: job {index} of device {key} ({entry['job_id']}) ran other "
                "circuits or parameter values than this run submits now, so the run differs from the one "
                "that wrote the journal (other data, batch size or hyperparameters?); resume it unchanged, "
                "or delete the journal to submit every job again.")
        return entry

    def record(self, key: str, index: int, job_digest: str, job_id: str, backend: str) -> None:
        """Record job ``index`` of device ``key`` (written to disk before this returns)."""
        jobs = self._jobs.setdefault(key, [])
        jobs.extend([None] * (index + 1 - len(jobs)))
        jobs[index] = {"job_id": str(job_id), "digest": job_digest, "backend": str(backend)}
        self._write()

    # ------------------------------------------------------------------ the file

    def _write(self) -> None:
        data = {"format": FORMAT, "version": _VERSION, "fingerprint": self.fingerprint, "epoch": self.epoch,
                "jobs": self._jobs}
        text = json.dumps(data, indent=1, sort_keys=True).encode()
        write_atomic(self.path, lambda fh: fh.write(text))

    @staticmethod
    def _read(path: Path) -> dict:
        try:
            data = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise JobJournalError(f"{path} is not a job journal: {type(err).__name__}") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise JobJournalError(f"{path} is not a job journal (no 'format': {FORMAT!r} entry)")
        if data.get("version") != _VERSION or not isinstance(data.get("jobs"), dict) \
                or not isinstance(data.get("epoch"), int) or not isinstance(data.get("fingerprint"), dict):
            raise JobJournalError(f"{path} is a job journal of another version or damaged; delete it to "
                                  "submit its jobs again")
        return data

    @staticmethod
    def _check_fingerprint(path: Path, saved: dict, current: dict) -> None:
        for name in sorted(set(saved) | set(current)):
            if saved.get(name) != current.get(name):
                raise JobJournalError(
                    f"job journal {path} was written for {name} {saved.get(name)!r}, but this run has "
                    f"{current.get(name)!r}: its jobs cannot be reused. Resume with the same {name}, or "
                    "delete the journal to submit every job again.")

    def __repr__(self) -> str:
        count = sum(1 for jobs in self._jobs.values() for e in jobs if e is not None)
        return f"JobJournal({str(self.path)!r}, epoch={self.epoch}, jobs={count})"
