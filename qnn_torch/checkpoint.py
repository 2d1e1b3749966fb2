"""Atomic checkpoint writes: a checkpoint on disk is either the old one or the new one, whole."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch

__all__ = ["save_atomic"]


def save_atomic(obj, path) -> Path:
    """``torch.save`` ``obj`` to ``path`` through a temporary file in the same folder.

    The data is flushed and fsynced before ``os.replace`` puts it in place, so a crash or an
    interruption never leaves a half-written file at ``path``.

    Args:
        obj: anything ``torch.save`` accepts (keep to tensors and plain containers so that
            ``torch.load(..., weights_only=True)`` can read it).
        path (str or Path): the destination.

    Returns:
        Path: the destination.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(obj, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
