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

A job is recorded once the service has accepted it, so a process killed between the two leaves a
job that ran but is not in the journal. Each job therefore carries a tag made from the journal's
run id, the epoch, the device and the job's number and digest (:meth:`JobJournal.tag`); on a
service that finds jobs by tag, a resumed run looks for the first job the journal does not hold
and fetches it instead of paying for it again.

The journal holds job ids, digests, backend names, a random run id and an epoch number: never a
token.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np

from ..checkpoint import write_atomic
from .model_devices import remote_devices, remote_networks

__all__ = ["FORMAT", "JobJournal", "JobJournalError", "attach_journal", "digest", "journal_path"]

FORMAT = "qnn_torch job journal"
"""str: the ``format`` entry of a journal file."""
_VERSION = 1


_DELETE = "delete it to submit its jobs again."
_MOVE = "move it away or delete it, and the run writes its journal there."


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
            with ``job_id`` and ``digest``; None for a journal that continues no earlier one.
        run (str or None): the run's id, part of every job's tag (a new random one if None).

    Attributes:
        fetched (int): jobs fetched from the journal instead of being submitted.
        run (str): the run's id, kept across resumes.
    """

    def __init__(self, path: Path, fingerprint: dict, epoch: int, jobs: dict | None = None,
                 run: str | None = None):
        self.path = Path(path)
        self.fingerprint = fingerprint
        self.epoch = int(epoch)
        self.run = run or secrets.token_hex(8)
        self._jobs: dict[str, list[dict]] = {k: list(v) for k, v in (jobs or {}).items()}
        self._next: dict[str, int] = {}
        self._resumed = jobs is not None  # jobs of this epoch may have run without being recorded
        self._searched: set = set()
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
            JobJournalError: with ``resume``, if the file is not a job journal, is damaged, or was
                written for another model or backend; whether or not resuming, if ``path`` is a
                directory. The message is one sentence naming the file, the problem and what to do.
        """
        path = Path(path)
        if path.exists() and not path.is_file():
            what = "a directory" if path.is_dir() else "not a regular file"
            raise JobJournalError(f"{path} is {what}, not a job journal; move it away so that the journal "
                                  "can be written there.")
        jobs = run = None
        if resume and path.is_file():
            saved = cls._read(path)
            cls._check_fingerprint(path, saved["fingerprint"], fingerprint)
            run = saved.get("run")
            if saved["epoch"] == epoch:
                jobs = saved["jobs"]
            elif saved["epoch"] > epoch:
                warnings.warn(f"job journal {path} continues a checkpoint of {saved['epoch']} epochs, not "
                              f"the {epoch} resumed from: its jobs are not reused", RuntimeWarning,
                              stacklevel=3)
            # saved["epoch"] < epoch: the checkpoint was written after those jobs; they are in it
        journal = cls(path, fingerprint, epoch, jobs, run)
        journal._write()
        return journal

    def restart(self, epoch: int) -> None:
        """A new checkpoint of ``epoch`` epochs was written: forget the jobs before it."""
        self.epoch = int(epoch)
        self._jobs = {}
        self._next = {}
        self._resumed = False
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

    def tag(self, key: str, index: int, job_digest: str) -> str:
        """The tag of job ``index`` of device ``key`` with digest ``job_digest`` in this run and epoch:
        ``"qnn_torch-"`` and 32 hex digits, the same in the process that resumes the run."""
        return f"qnn_torch-{digest(self.run, self.epoch, key, index, job_digest)[:32]}"

    def unrecorded(self, key: str, index: int) -> bool:
        """Whether job ``index`` of device ``key`` may have been accepted by the service without
        being recorded: the first job after the recorded ones of a resumed journal (True once)."""
        if not self._resumed or index != len(self._jobs.get(key, [])) or (key, index) in self._searched:
            return False
        self._searched.add((key, index))
        return True

    def record(self, key: str, index: int, job_digest: str, job_id: str, backend: str) -> None:
        """Record job ``index`` of device ``key`` (written to disk before this returns)."""
        jobs = self._jobs.setdefault(key, [])
        jobs.extend([None] * (index + 1 - len(jobs)))
        jobs[index] = {"job_id": str(job_id), "digest": job_digest, "backend": str(backend)}
        self._write()

    # ------------------------------------------------------------------ the file

    def _write(self) -> None:
        data = {"format": FORMAT, "version": _VERSION, "fingerprint": self.fingerprint, "epoch": self.epoch,
                "run": self.run, "jobs": self._jobs}
        text = json.dumps(data, indent=1, sort_keys=True).encode()
        write_atomic(self.path, lambda fh: fh.write(text))

    @staticmethod
    def _read(path: Path) -> dict:
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as err:
            raise JobJournalError(f"{path} is not a job journal ({type(err).__name__}); {_MOVE}") from None
        try:
            data = json.loads(text)
        except RecursionError:
            raise JobJournalError(f"{path} is a damaged job journal (nested too deeply to be one); "
                                  f"{_DELETE}") from None
        except ValueError as err:  # not JSON (JSONDecodeError), or a number too long to read
            if FORMAT not in text:
                raise JobJournalError(f"{path} is not a job journal ({type(err).__name__}); "
                                      f"{_MOVE}") from None
            reason = str(err).splitlines()[0][:80]  # a journal whose text was damaged
            raise JobJournalError(f"{path} is a damaged job journal ({type(err).__name__}: {reason}); "
                                  f"{_DELETE}") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise JobJournalError(f"{path} is not a job journal (no 'format': {FORMAT!r} entry); {_MOVE}")
        if data.get("version") != _VERSION:
            raise JobJournalError(f"{path} is a job journal of version {data.get('version')!r}, not "
                                  f"{_VERSION}; {_DELETE}")
        problem = _problem(data)
        if problem is not None:
            raise JobJournalError(f"{path} is a damaged job journal ({problem}); {_DELETE}")
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


def _problem(data: dict) -> str | None:
    """What is wrong with the entries of a journal's ``data`` (its format and version are right),
    or None."""
    epoch = data.get("epoch")
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        return f"'epoch' is {epoch!r}, not a non-negative integer"
    problem = _first_bad_field(data, ("fingerprint", "jobs"), dict, "no {name!r}",
                               "{name!r} is a {value.__class__.__name__}, not an object")
    if problem is not None:
        return problem
    if "run" in data and not isinstance(data["run"], str):
        return f"'run' is {data['run']!r}, not a string"
    for key, jobs in data["jobs"].items():
        if not isinstance(jobs, list):
            return f"device {key} holds {jobs!r:.40}, not a list of jobs"
        for index, entry in enumerate(jobs):
            problem = _entry_problem(entry)
            if problem is not None:
                return f"job {index} of device {key}{problem}"
    return None


def _entry_problem(entry) -> str | None:
    """What is wrong with one recorded job (None: a gap, or a valid entry), or None."""
    if entry is None:
        return None
    if not isinstance(entry, dict):
        return f" is {entry!r:.40}, not an object"
    return _first_bad_field(entry, ("job_id", "digest"), str, " has no {name!r}",
                            ": {name!r} is {value!r:.40}, not a string")


def _first_bad_field(mapping: dict, names, kind: type, missing: str, wrong: str) -> str | None:
    """The first of ``names`` that ``mapping`` lacks (said by ``missing``) or holds as another type
    than ``kind`` (said by ``wrong``), or None; the templates read ``name`` and ``value``."""
    for name in names:
        if name not in mapping:
            return missing.format(name=name)
        if not isinstance(mapping[name], kind):
            return wrong.format(name=name, value=mapping[name])
    return None


@contextmanager
def attach_journal(model, checkpoint: Path | None, epoch: int, resume: bool) -> Iterator[JobJournal | None]:
    """The job journal of a training run, attached to the model's devices whose jobs can be
    fetched by id while the block runs (None without a checkpoint or without such devices).

    Args:
        model: a ``torch.nn.Module``, a connector or a QNN.
        checkpoint (Path or None): the run's training checkpoint; the journal is kept beside it.
        epoch (int): the epochs of the checkpoint the run continues from.
        resume (bool): keep the jobs of a journal written for this checkpoint (see
            :meth:`JobJournal.open`).
    """
    devices = [d for d in remote_devices(model) if d.jobs_retrievable] if checkpoint is not None else []
    if not devices:
        yield None
        return
    journal = JobJournal.open(journal_path(checkpoint), _fingerprint(model, devices), epoch, resume)
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
    qnns = remote_networks(model)
    shapes = sorted((k, tuple(v.shape)) for k, v in model.state_dict().items())
    return {
        "backend": [str(d.backend.name) for d in devices],
        "model": f"{type(model).__name__} {digest(shapes, [repr(q) for q in qnns])[:16]}",
        "shots": [q.spec.shots for q in qnns],
    }
