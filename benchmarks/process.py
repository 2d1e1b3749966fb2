"""A worker in a fresh process: its command, its environment, its time and memory limits, and the
line protocol it reports on.

Standard library only, so that the Python 3.12 worker of qiskit-torch-module imports it as well as
the Python 3.11 parent.

**Protocol.** A worker prints one line ``@@RESULT {json}`` per measurement on its stdout (anything
else it prints is ignored) and flushes it at once, so that what it measured before a time-out or a
kill still reaches the parent. :func:`run_worker` collects those lines.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

__all__ = [
    "RESULT_PREFIX",
    "ROOT",
    "available_memory_bytes",
    "emit",
    "exit_on_sigterm",
    "memory_limit_bytes",
    "run_worker",
    "stop_note",
    "thread_env",
    "worker_command",
]

RESULT_PREFIX = "@@RESULT "
ROOT = Path(__file__).resolve().parents[1]
"""Path: the repository root, the workers' working directory: they import this checkout's qnn_torch."""


def emit(record: dict) -> None:
    """Report ``record`` to the parent (one JSON line on stdout, flushed)."""
    print(RESULT_PREFIX + json.dumps(record), flush=True)


def worker_command(module: str, spec: dict, python: str | None = None) -> list[str]:
    """The command that runs ``python -m module --worker SPEC`` (``python``: this interpreter)."""
    return [python or sys.executable, "-m", module, "--worker", json.dumps(spec)]


def thread_env(threads: int | None) -> dict:
    """The environment of a worker: this one, with the thread count pinned when one is given."""
    env = dict(os.environ)
    env.setdefault("OMP_PROC_BIND", "false")  # silences lightning.kokkos' start-up warning
    if threads is not None:
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS",
                    "RAYON_NUM_THREADS"):
            env[var] = str(threads)
    return env


def available_memory_bytes() -> int | None:
    """``MemAvailable`` of /proc/meminfo, or None where there is none."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def memory_limit_bytes(limit_gb: float | None) -> int | None:
    """``limit_gb`` in bytes, or by default 60% of the memory available now (None where unknown)."""
    if limit_gb:
        return int(limit_gb * 2**30)
    available = available_memory_bytes()
    return int(0.6 * available) if available else None


def _group_rss_bytes(pgid: int) -> int:
    """Resident memory of every process in process group ``pgid`` (Linux /proc), in bytes."""
    total = 0
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            # after the command: state ppid pgrp ...; rss (pages) is field 24 of the full line
            if int(fields[2]) == pgid:
                total += int(fields[21]) * page
        except (OSError, IndexError, ValueError):
            continue
    return total


def _read_output(proc: subprocess.Popen, records: list[dict], stderr: list[str], echo: bool) -> list:
    """Started threads that collect the ``@@RESULT`` records of stdout and the tail of stderr."""
    def read_stdout():
        for line in proc.stdout:
            if line.startswith(RESULT_PREFIX):
                try:
                    records.append(json.loads(line[len(RESULT_PREFIX):]))
                except json.JSONDecodeError:
                    stderr.append(f"[unreadable result line] {line}")
            elif echo:
                print("    | " + line.rstrip(), flush=True)

    def read_stderr():
        for line in proc.stderr:
            stderr.append(line)
            if len(stderr) > 400:
                del stderr[:200]

    readers = [threading.Thread(target=read_stdout, daemon=True),
               threading.Thread(target=read_stderr, daemon=True)]
    for t in readers:
        t.start()
    return readers


def _watch(proc: subprocess.Popen, start: float, timeout_s: float,
           memory_limit_bytes: int | None) -> tuple[str | None, int]:
    """Wait for ``proc``; kill its group past ``timeout_s`` or ``memory_limit_bytes``.

    Returns:
        tuple: ``(status, peak)``: ``"timeout"``, ``"memory"`` or None (it ended by itself), and
        the group's peak resident memory in bytes (0 without a memory limit).
    """
    status, peak = None, 0
    while proc.poll() is None:
        time.sleep(0.2)
        if memory_limit_bytes is not None:
            rss = _group_rss_bytes(proc.pid)
            peak = max(peak, rss)
            if rss > memory_limit_bytes:
                status = "memory"
        if time.perf_counter() - start > timeout_s:
            status = "timeout"
        if status is not None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # the group this call started, by its id
            except ProcessLookupError:
                pass
            break
    proc.wait()
    return status, peak


def run_worker(cmd: list[str], timeout_s: float, memory_limit_bytes: int | None = None,
               env: dict | None = None, cwd: str | Path | None = ROOT, echo: bool = False) -> dict:
    """Run ``cmd`` in its own process group (in ``cwd``, the repository root by default); kill it
    after ``timeout_s`` seconds or when the group's resident memory passes ``memory_limit_bytes``.

    Returns:
        dict: ``status`` (``"ok"``, ``"error"``, ``"timeout"`` or ``"memory"``), ``returncode``,
        ``records`` (the worker's ``@@RESULT`` objects, in order), ``wall_s``, ``peak_rss_bytes``
        and ``stderr_tail`` (its last 3,000 characters).
    """
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=cwd,
                            start_new_session=True)
    records: list[dict] = []
    stderr: list[str] = []
    readers = _read_output(proc, records, stderr, echo)
    try:
        status, peak = _watch(proc, start, timeout_s, memory_limit_bytes)
    finally:  # the parent stopped (SIGTERM from a time-out, Ctrl-C): its worker's group goes too
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    for t in readers:
        t.join(timeout=5)
    if status is None:
        status = "ok" if proc.returncode == 0 else "error"
    return {"status": status, "returncode": proc.returncode, "records": records,
            "wall_s": time.perf_counter() - start, "peak_rss_bytes": peak,
            "stderr_tail": "".join(stderr)[-3000:]}


def exit_on_sigterm() -> None:
    """Make SIGTERM (``timeout``'s signal) end this process as ``SystemExit`` does, so that a
    worker that :func:`run_worker` started in its own group is killed on the way out instead of
    running on (a benchmark parent calls this)."""
    def stop(signum, frame):
        signal.signal(signum, signal.SIG_IGN)  # once: the way out is under way
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, stop)


def stop_note(result: dict, timeout_note: str) -> str:
    """Why a worker of :func:`run_worker` stopped without finishing: ``timeout_note`` after a
    time-out, the memory limit, or the last line of its error output."""
    if result["status"] == "timeout":
        return timeout_note
    if result["status"] == "memory":
        return "killed: memory limit"
    lines = [ln for ln in result["stderr_tail"].strip().splitlines() if ln.strip()]
    return "error: " + (lines[-1] if lines else f"exit status {result['returncode']}")
