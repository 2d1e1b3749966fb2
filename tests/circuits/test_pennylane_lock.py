"""PENNYLANE_LOCK: PennyLane's own queuing lock, so that holding it keeps every circuit of every
thread from being recorded meanwhile."""

import threading

import pennylane as qml
import pytest

from qnn_torch.circuits import PENNYLANE_LOCK
from qnn_torch.circuits import pennylane_lock


def test_one_lock_under_every_name():
    assert PENNYLANE_LOCK is pennylane_lock.PENNYLANE_LOCK


def test_it_is_reentrant():
    with PENNYLANE_LOCK, PENNYLANE_LOCK, qml.queuing.AnnotatedQueue() as queue:
        qml.RX(0.1, wires=0)
    assert len(queue.queue) == 1


def test_a_circuit_recorded_in_another_thread_waits_for_it():
    events = []

    def record():
        with qml.queuing.AnnotatedQueue():
            events.append("recorded")

    thread = threading.Thread(target=record, daemon=True)
    with PENNYLANE_LOCK:
        thread.start()
        thread.join(timeout=0.5)
        assert thread.is_alive() and events == [], "PennyLane recorded a circuit while the lock was held"
        events.append("released")
    thread.join(timeout=30)
    assert events == ["released", "recorded"]


@pytest.mark.parametrize("hold", [False, True])
def test_a_failure_inside_leaves_it_free(hold):
    """An error raised while the lock is held (and while a circuit is recorded) releases it."""
    with pytest.raises(RuntimeError):
        with PENNYLANE_LOCK:
            if hold:
                with qml.queuing.AnnotatedQueue():
                    raise RuntimeError("inside a recording")
            raise RuntimeError("inside the lock")
    taken = []

    def take():
        taken.append(PENNYLANE_LOCK.acquire(timeout=5))
        if taken[-1]:
            PENNYLANE_LOCK.release()

    thread = threading.Thread(target=take)
    thread.start()
    thread.join()
    assert taken == [True]
