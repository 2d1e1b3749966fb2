"""How training stops: one message naming the reason and the checkpoint, the signal that stopped it,
no IBM token; SIGTERM raised as an interruption only where it is ours to handle."""

import os
import signal
import threading
import time

import pytest

from qnn_torch.devices.journal import JobJournal
from qnn_torch.training.interruption import (Terminated, TrainingInterrupted, interruption,
                                             sigterm_as_interrupt)

CANARY = "canary-ibm-token-31f0-MUST-NOT-APPEAR"


@pytest.mark.parametrize("err, reason, signum", [
    (Terminated("received SIGTERM"), "SIGTERM", signal.SIGTERM),
    (KeyboardInterrupt(), "KeyboardInterrupt", signal.SIGINT),
    (RuntimeError("job failed\nsecond line"), "RuntimeError: job failed", None),
])
def test_the_message_names_the_reason_and_the_checkpoint(tmp_path, err, reason, signum):
    path = tmp_path / "run.pt"
    path.write_bytes(b"whole")
    stop = interruption(err, epoch=2, epochs=5, path=path, done=2)
    assert isinstance(stop, TrainingInterrupted)
    assert (stop.checkpoint, stop.epochs_done, stop.signum) == (path, 2, signum)
    assert str(stop) == (f"training stopped in epoch 3 of 5 ({reason}); resume from checkpoint {path} "
                         "(epochs done: 2) with resume=True / --resume")


def test_without_a_checkpoint_on_disk_nothing_is_done(tmp_path):
    stop = interruption(RuntimeError("x"), 0, 1, tmp_path / "never-written.pt", done=0)
    assert stop.checkpoint is None and stop.epochs_done == 0
    assert str(stop).endswith("no checkpoint was written yet")
    assert str(interruption(RuntimeError("x"), 0, 1, None, 0)).endswith("no checkpoint was written yet")


def test_the_job_journal_is_named_and_the_token_masked(tmp_path, monkeypatch):
    monkeypatch.setenv("QISKIT_IBM_TOKEN", CANARY)
    path = tmp_path / "run.pt"
    path.write_bytes(b"whole")
    journal = JobJournal.open(tmp_path / "run.pt.jobs.json", {"backend": ["b"]}, epoch=1, resume=False)
    stop = interruption(RuntimeError(f"401 for token {CANARY}"), 1, 3, path, 1, journal)
    assert f"job journal {journal.path} keeps the ids of the jobs since" in str(stop)
    assert "401 for token ***" in str(stop) and CANARY not in str(stop)


def test_sigterm_raises_terminated_inside_the_block_only():
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    with pytest.raises(Terminated, match="received SIGTERM"):
        with sigterm_as_interrupt():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler raises at once
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    assert issubclass(Terminated, KeyboardInterrupt)


def test_outside_the_main_thread_the_handler_is_left_alone():
    seen = []

    def worker():
        with sigterm_as_interrupt():
            seen.append(signal.getsignal(signal.SIGTERM))

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen == [signal.SIG_DFL]
