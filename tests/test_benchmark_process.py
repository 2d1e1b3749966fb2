"""A benchmark parent stopped by ``timeout`` (SIGTERM) takes its worker with it: workers run in
their own process group, which a signal to the parent's group does not reach, so a worker left
behind would run on, holding its memory (tens of GiB of a GPU's at 22 qubits) and overlapping
the next benchmark's timings."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

PARENT = """
import sys
sys.path.insert(0, {root!r})
from benchmarks.process import exit_on_sigterm, run_worker
if {handled}:
    exit_on_sigterm()
child = "import os, time; open({pidfile!r}, 'w').write(str(os.getpid())); time.sleep(120)"
run_worker([sys.executable, "-c", child], 300)
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"  # a zombie has ended: only its exit status is left


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc (Linux)")
@pytest.mark.parametrize("handled", [True, False])
def test_a_terminated_parent_kills_its_worker(handled, tmp_path):
    pidfile = tmp_path / "worker.pid"
    code = PARENT.format(root=str(ROOT), handled=handled, pidfile=str(pidfile))
    parent = subprocess.Popen([sys.executable, "-c", code])
    try:
        deadline = time.monotonic() + 60
        while not (pidfile.exists() and pidfile.read_text()):
            assert time.monotonic() < deadline and parent.poll() is None, "the worker never started"
            time.sleep(0.05)
        worker = int(pidfile.read_text())
        parent.send_signal(signal.SIGTERM)
        assert parent.wait(timeout=30) == (128 + signal.SIGTERM if handled else -signal.SIGTERM)
        deadline = time.monotonic() + 5
        while _alive(worker) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _alive(worker) is not handled  # without the handler, the worker runs on
    finally:
        parent.kill()
        if pidfile.exists() and pidfile.read_text():
            try:
                os.kill(int(pidfile.read_text()), signal.SIGKILL)
            except ProcessLookupError:
                pass
