"""Atomic writes and safe reads of checkpoints.

A file written here is either the old one or the new one, whole; a file read here is loaded with
``torch.load(..., weights_only=True)`` only, and anything that is not a checkpoint is reported in
one sentence naming the file.
"""

from __future__ import annotations

import os
import pickle
import tempfile
import time
import warnings
import zipfile
from pathlib import Path
from typing import Callable

import torch

__all__ = ["CheckpointError", "model_state", "read_checkpoint", "save_atomic", "write_atomic"]

_STALE_SECONDS = 3600.0
"""float: a temporary file without a process id in its name is judged by its age: stale after this."""


class CheckpointError(ValueError):
    """A file that is not the checkpoint it should be; the message names the file and the problem."""


def _stale(tmp: Path, now: float) -> bool:
    """Whether ``tmp`` (``.<name>.<pid>.<random>.tmp``) was left by a process that no longer runs."""
    parts = tmp.name.split(".")
    try:
        pid = int(parts[-3])
    except (IndexError, ValueError):  # no process id in the name: judge by age
        try:
            return now - tmp.stat().st_mtime > _STALE_SECONDS
        except OSError:
            return False
    if pid == os.getpid():
        return False  # ours: another thread may be writing it
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # alive under another user
        return False
    return False


def _remove_stale_temporaries(path: Path) -> None:
    now = time.time()
    for tmp in path.parent.glob(f".{path.name}.*.tmp"):
        if _stale(tmp, now):
            tmp.unlink(missing_ok=True)


def write_atomic(path, write: Callable) -> Path:
    """Write ``path`` through a temporary file in the same folder, then ``os.replace`` it in place.

    The data is flushed and fsynced before the replace, so a crash or an interruption never leaves
    a half-written file at ``path``. The temporary file (``.<name>.<pid>.<random>.tmp``) is removed
    when writing fails; those left by killed processes for the same ``path`` are removed by the
    next write.

    Args:
        path (str or Path): the destination.
        write (Callable): called with the open binary file.

    Returns:
        Path: the destination.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def save_atomic(obj, path) -> Path:
    """``torch.save`` ``obj`` to ``path`` atomically (see :func:`write_atomic`).

    Args:
        obj: anything ``torch.save`` accepts (keep to tensors and plain containers so that
            ``torch.load(..., weights_only=True)`` can read it).
        path (str or Path): the destination.

    Returns:
        Path: the destination.

    **Example**

    >>> import tempfile, torch
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     save_atomic({"w": torch.ones(2)}, f"{folder}/w.pt").name
    'w.pt'
    """
    return write_atomic(path, lambda fh: torch.save(obj, fh))


def _why_unreadable(path: Path, err: BaseException) -> str:
    if path.stat().st_size == 0:
        return "the file is empty"
    if isinstance(err, pickle.UnpicklingError) and "unsupported global" in str(err).lower():
        return ("it holds Python objects other than tensors and plain containers, "
                "which are not loaded for safety")
    if isinstance(err, (EOFError, zipfile.BadZipFile)) or "zip archive" in str(err).lower() \
            or "central directory" in str(err).lower():
        return "the file is truncated or not written by torch.save"
    return "the file is not written by torch.save"


def read_checkpoint(path):
    """``torch.load(path, weights_only=True, map_location="cpu")``, with a one-sentence error for a
    file that is no checkpoint.

    Tensors come back on the CPU, so a checkpoint written on a GPU reads on a machine without one;
    ``load_state_dict`` of a model or an optimizer puts them back on the parameters' devices.

    Args:
        path (str or Path): the file.

    Returns:
        The loaded object (tensors and plain containers only).

    Raises:
        CheckpointError: if the file is missing, empty, truncated, or not a ``torch.save`` file
            of tensors and plain containers. The message names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist or is not a file")
    problem = None
    try:
        with warnings.catch_warnings():  # e.g. "Detected pickle protocol 4": the error below says it all
            warnings.simplefilter("ignore")
            return torch.load(path, weights_only=True, map_location="cpu")
    except Exception as err:  # noqa: BLE001 - torch raises many kinds; one clear sentence instead
        problem = _why_unreadable(path, err)
    raise CheckpointError(f"{path} is not a PyTorch checkpoint: {problem}")


def _is_state_dict(obj) -> bool:
    return isinstance(obj, dict) and bool(obj) and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())


def _kind(obj) -> str:
    if isinstance(obj, dict):
        keys = ", ".join(map(repr, list(obj)[:4])) + (", ..." if len(obj) > 4 else "")
        return f"a dict with keys {keys}" if obj else "an empty dict"
    return f"a {type(obj).__name__}"


def model_state(obj, path) -> dict:
    """The model ``state_dict`` in a loaded checkpoint: a plain ``state_dict``, or the ``"model"``
    entry of a training checkpoint written by :func:`qnn_torch.fit`.

    Args:
        obj: what :func:`read_checkpoint` returned.
        path (str or Path): the file, for the message.

    Returns:
        dict: the ``state_dict``.

    Raises:
        CheckpointError: if ``obj`` is neither.
    """
    if isinstance(obj, dict) and "model" in obj and _is_state_dict(obj["model"]):
        return obj["model"]
    if _is_state_dict(obj):
        return obj
    raise CheckpointError(
        f"{path} is not a model checkpoint: expected a state_dict or a training checkpoint with a "
        f"'model' entry; got {_kind(obj)}"
    )
