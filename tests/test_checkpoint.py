"""Checkpoint files: atomic writes that leave no temporaries, safe reads with one-sentence errors."""

import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from qnn_torch.checkpoint import CheckpointError, model_state, read_checkpoint, save_atomic, write_atomic


ROOT = str(Path(__file__).resolve().parents[1])
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")]))}


class Custom:
    """Not a tensor: ``weights_only=True`` refuses it."""


def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    return int(proc.stdout)


def _not_checkpoints(folder):
    """(file, what the message must say) for files that are no checkpoint."""
    torch.save({"w": torch.ones(50)}, folder / "whole.pt")
    whole = (folder / "whole.pt").read_bytes()

    files = {
        "empty.pt": (b"", "the file is empty"),
        "garbage.pt": (os.urandom(64) + b"PK\x03\x04 not a zip", "not written by torch.save"),
        "truncated.pt": (whole[: len(whole) // 2], "truncated or not written by torch.save"),
        "pickled-list.pt": (pickle.dumps([1, 2, 3]), "not written by torch.save"),
        "text.pt": (b"hello\n" * 20, "not written by torch.save"),
    }
    for name, (data, _) in files.items():
        (folder / name).write_bytes(data)
    torch.save({"obj": Custom()}, folder / "object.pt")
    files["object.pt"] = (None, "Python objects other than tensors")
    return {folder / name: why for name, (_, why) in files.items()}


def test_unreadable_files_get_one_clear_sentence(tmp_path):
    for path, why in _not_checkpoints(tmp_path).items():
        with pytest.raises(CheckpointError) as info:
            read_checkpoint(path)
        message = str(info.value)
        assert str(path) in message and why in message, message
        assert "\n" not in message and "weights_only" not in message
        assert info.value.__cause__ is None and info.value.__context__ is None


@pytest.mark.parametrize("obj, expected", [
    ([torch.ones(1)], "got a list"),
    ({"weights": [1, 2]}, "got a dict with keys 'weights'"),
    ({}, "got an empty dict"),
    ({"model": {"w": 3}}, "got a dict with keys 'model'"),
])
def test_model_state_rejects_what_is_no_model(tmp_path, obj, expected):
    path = save_atomic(obj, tmp_path / "x.pt")
    with pytest.raises(CheckpointError, match=f"{path}.*expected a state_dict or a training checkpoint.*"
                                              f"{expected}"):
        model_state(read_checkpoint(path), path)


def test_model_state_accepts_a_state_dict_and_a_training_checkpoint(tmp_path):
    weights = {"fc.weight": torch.ones(2, 2)}
    plain = save_atomic(weights, tmp_path / "plain.pt")
    training = save_atomic({"epoch": 2, "model": weights, "optimizer": {"state": {}}}, tmp_path / "train.pt")
    for path in (plain, training):
        assert model_state(read_checkpoint(path), path).keys() == {"fc.weight"}


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        read_checkpoint(tmp_path / "nope.pt")


def test_failed_write_removes_its_temporary(tmp_path):
    path = save_atomic({"w": torch.ones(3)}, tmp_path / "ckpt.pt")

    def broken(fh):
        fh.write(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_atomic(path, broken)
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]
    assert torch.equal(read_checkpoint(path)["w"], torch.ones(3))


def test_stale_temporaries_of_killed_writers_are_removed(tmp_path):
    path = tmp_path / "ckpt.pt"
    dead = tmp_path / f".ckpt.pt.{_dead_pid()}.abc123.tmp"  # left by a process that is gone
    alive = tmp_path / f".ckpt.pt.{os.getppid()}.def456.tmp"  # a writer still running
    unnamed = tmp_path / ".ckpt.pt.k2j3h4g5.tmp"  # no process id in the name, an hour old
    other = tmp_path / f".other.pt.{_dead_pid()}.x.tmp"  # another target: not ours to touch
    for p in (dead, alive, unnamed, other):
        p.write_bytes(b"partial")
    os.utime(unnamed, (0, 0))
    save_atomic({"w": torch.ones(1)}, path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([path.name, alive.name, other.name])


@pytest.mark.slow
def test_killed_writer_leaves_a_temporary_the_next_write_cleans(tmp_path):
    """A process killed (SIGKILL) in the middle of a write: the next write of the same file cleans up."""
    path = tmp_path / "run.pt"
    script = (
        "import os, signal, sys, torch\n"
        "from qnn_torch.checkpoint import write_atomic\n"
        "def die(fh):\n"
        "    fh.write(b'half'); fh.flush(); os.kill(os.getpid(), signal.SIGKILL)\n"
        f"write_atomic({str(path)!r}, die)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, check=False, env=ENV)
    assert proc.returncode == -9
    assert len(list(tmp_path.glob(".run.pt.*.tmp"))) == 1 and not path.exists()
    save_atomic({"w": torch.ones(1)}, path)
    assert [p.name for p in tmp_path.iterdir()] == ["run.pt"]


def test_atomic_checkpoint_survives_a_failed_write(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.pt"
    save_atomic({"w": torch.ones(3)}, path)

    def broken_save(obj, fh):
        fh.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_atomic({"w": torch.zeros(3)}, path)
    monkeypatch.undo()
    assert torch.equal(torch.load(path, weights_only=True)["w"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]
