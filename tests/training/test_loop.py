"""fit: the mean loss of every epoch, a checkpoint after each, resuming only from real training
checkpoints with the numbers of an uninterrupted run, SIGTERM as Ctrl-C, no IBM token in any error."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from qnn_torch import fit
from qnn_torch.checkpoint import CheckpointError, save_atomic
from qnn_torch.training import TrainingInterrupted, load_checkpoint
from tests.secrets_check import everything_about

CANARY = "canary-ibm-token-5d1e-MUST-NOT-APPEAR"
ROOT = str(Path(__file__).resolve().parents[2])
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")]))}
"""dict: the environment of subprocesses: this checkout's qnn_torch first."""


def _problem(seed=0):
    torch.manual_seed(seed)
    model = torch.nn.Linear(2, 1)
    loader = [(torch.rand(4, 2), torch.rand(4, 1)) for _ in range(3)]
    return model, loader, torch.optim.SGD(model.parameters(), lr=0.1)


def test_the_losses_are_the_mean_batch_losses_of_every_epoch():
    model, loader, opt = _problem()
    seen = []
    losses = fit(model, loader, opt, torch.nn.MSELoss(), epochs=2, on_batch=seen.append)
    assert len(seen) == 2 * len(loader) and all(isinstance(v, float) for v in seen)
    assert losses == pytest.approx([sum(seen[:3]) / 3, sum(seen[3:]) / 3], rel=1e-12)
    assert fit(model, loader, opt, torch.nn.MSELoss(), epochs=0) == []


def test_a_resumed_run_gives_the_numbers_of_an_uninterrupted_one(tmp_path):
    """Dropout draws random numbers: the restored random state makes the resumed epoch equal."""
    def run(epochs, path, resume=False):
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.Dropout(0.5), torch.nn.Linear(4, 1))
        loader = [(torch.rand(4, 2), torch.rand(4, 1)) for _ in range(3)]
        opt = torch.optim.Adam(model.parameters(), lr=0.1)
        if resume:
            torch.manual_seed(123)  # another random state: the checkpoint's is restored
        return fit(model, loader, opt, torch.nn.MSELoss(), epochs, checkpoint=path, resume=resume), model

    whole, model = run(3, tmp_path / "whole.pt")
    run(2, tmp_path / "split.pt")
    resumed, again = run(3, tmp_path / "split.pt", resume=True)
    assert resumed == whole
    for a, b in zip(model.parameters(), again.parameters()):
        assert torch.equal(a, b)
    assert load_checkpoint(tmp_path / "split.pt")["epoch"] == 3


@pytest.mark.parametrize("epochs, checkpoint, resume, message", [
    (-1, None, False, "epochs must be a non-negative integer; got -1"),
    (True, None, False, "epochs must be a non-negative integer; got True"),
    (2, None, True, "resume=True needs checkpoint="),
])
def test_bad_arguments(epochs, checkpoint, resume, message):
    model, loader, opt = _problem()
    with pytest.raises(ValueError, match=message):
        fit(model, loader, opt, torch.nn.MSELoss(), epochs=epochs, checkpoint=checkpoint, resume=resume)


# ---------------------------------------------------------------- resuming


@pytest.mark.parametrize("content, expected", [
    ({"fc.weight": torch.ones(1, 2)}, "not a training checkpoint.*got a dict without 'epoch'"),
    ([1, 2], "not a training checkpoint.*got a list"),
    (b"\x80\x02garbage", "not a PyTorch checkpoint: the file is not written by torch.save"),
    (b"", "not a PyTorch checkpoint: the file is empty"),
])
def test_resume_from_a_file_that_is_no_training_checkpoint(tmp_path, content, expected):
    path = tmp_path / "run.pt"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        save_atomic(content, path)
    model, loader, opt = _problem()
    with pytest.raises(ValueError, match=expected) as info:
        fit(model, loader, opt, torch.nn.MSELoss(), epochs=2, checkpoint=path, resume=True)
    assert isinstance(info.value, CheckpointError) and str(path) in str(info.value)


def test_resume_with_fewer_epochs_than_the_checkpoint_holds(tmp_path):
    path = tmp_path / "run.pt"
    model, loader, opt = _problem()
    fit(model, loader, opt, torch.nn.MSELoss(), epochs=2, checkpoint=path)
    with pytest.raises(ValueError, match=f"checkpoint {path} already holds 2 epochs, more than epochs=1"):
        fit(model, loader, opt, torch.nn.MSELoss(), epochs=1, checkpoint=path, resume=True)
    assert len(fit(model, loader, opt, torch.nn.MSELoss(), epochs=2, checkpoint=path, resume=True)) == 2


def test_resume_into_another_model(tmp_path):
    path = tmp_path / "run.pt"
    model, loader, opt = _problem()
    fit(model, loader, opt, torch.nn.MSELoss(), epochs=1, checkpoint=path)
    other = torch.nn.Linear(3, 1)
    with pytest.raises(CheckpointError, match=f"checkpoint {path} does not fit this model"):
        fit(other, loader, torch.optim.SGD(other.parameters(), lr=0.1), torch.nn.MSELoss(), epochs=2,
            checkpoint=path, resume=True)
    assert load_checkpoint(path)["epoch"] == 1


# ---------------------------------------------------------------- SIGTERM

FIT_SCRIPT = """
import sys, time, torch
from qnn_torch import TrainingInterrupted, fit

def slow_loss(out, target):
    time.sleep(0.05)
    return torch.nn.functional.mse_loss(out, target)

torch.manual_seed(0)
model = torch.nn.Linear(2, 1)
loader = [(torch.rand(2, 2), torch.rand(2, 1)) for _ in range(4)]
try:
    fit(model, loader, torch.optim.SGD(model.parameters(), lr=0.1), slow_loss, epochs=1000,
        checkpoint=sys.argv[1])
except TrainingInterrupted as err:
    print(f"stopped: {err}", file=sys.stderr)
    sys.exit(3)
"""


def _sigterm_when(path, proc, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no checkpoint was written"
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    return proc.communicate(timeout=timeout)


@pytest.mark.slow
def test_sigterm_stops_fit_like_ctrl_c(tmp_path):
    path = tmp_path / "run.pt"
    proc = subprocess.Popen([sys.executable, "-c", FIT_SCRIPT, str(path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ENV)
    _, err = _sigterm_when(path, proc)
    assert proc.returncode == 3, err
    assert "(SIGTERM); resume from checkpoint" in err and str(path) in err
    assert load_checkpoint(path)["epoch"] >= 1
    assert [p.name for p in tmp_path.iterdir()] == ["run.pt"]


def test_a_handler_of_the_application_is_left_alone(tmp_path):
    seen = []
    previous = signal.signal(signal.SIGTERM, lambda *_: seen.append("app"))
    try:
        model, loader, opt = _problem()

        def loss(out, target):
            if not seen:
                os.kill(os.getpid(), signal.SIGTERM)
            return torch.nn.functional.mse_loss(out, target)

        assert len(fit(model, loader, opt, loss, epochs=1)) == 1
        assert seen == ["app"] and signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    finally:
        signal.signal(signal.SIGTERM, previous)


# ---------------------------------------------------------------- secrets


def test_token_reaches_no_exception_chain_of_fit(tmp_path, monkeypatch):
    monkeypatch.setenv("QISKIT_IBM_TOKEN", CANARY)
    model, loader, opt = _problem()

    def hardware_job(out, target):
        token = os.environ["QISKIT_IBM_TOKEN"]  # a library frame holding the token, like a runtime client
        raise RuntimeError(f"401 Unauthorized for token {token}")

    with pytest.raises(TrainingInterrupted) as info:
        fit(model, loader, opt, hardware_job, epochs=2, checkpoint=tmp_path / "run.pt")
    assert "401 Unauthorized for token ***" in str(info.value)
    assert CANARY not in everything_about(info.value)
    assert info.value.__cause__ is None and info.value.__context__ is None
    assert "dropped because it contained credentials" in "".join(info.value.__notes__)


def test_an_error_without_secrets_stays_the_cause(tmp_path, monkeypatch):
    monkeypatch.setenv("QISKIT_IBM_TOKEN", CANARY)
    model, loader, opt = _problem()

    def bad_loss(out, target):
        raise RuntimeError("shapes do not match")

    with pytest.raises(TrainingInterrupted) as info:
        fit(model, loader, opt, bad_loss, epochs=1)
    assert isinstance(info.value.__cause__, RuntimeError)  # kept for debugging
