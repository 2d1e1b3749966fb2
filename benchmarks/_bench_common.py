"""What the side-by-side benchmarks share: running a contender in a subprocess under a time and
memory limit, the line protocol a worker reports on, step timing, and the agreement check.

Standard library only at import time (NumPy and torch are imported inside the functions that need
them), so that the Python 3.12 worker of qiskit-torch-module can import it as well as the Python
3.11 parent.

**Protocol.** A worker prints one line ``@@RESULT {json}`` per measurement on its stdout (anything
else it prints is ignored) and flushes it at once, so that what it measured before a time-out or a
kill still reaches the parent. :func:`run_worker` collects those lines.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

__all__ = [
    "RESULTS_DIR",
    "RESULT_PREFIX",
    "available_memory_bytes",
    "check_agreement",
    "emit",
    "format_seconds",
    "load_average",
    "load_warning",
    "machine_info",
    "median_steps",
    "pennylane_gradients",
    "qiskit_outputs",
    "run_worker",
    "set_threads",
    "thread_env",
    "time_step",
]

RESULT_PREFIX = "@@RESULT "
BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"


def emit(record: dict) -> None:
    """Report ``record`` to the parent (one JSON line on stdout, flushed)."""
    print(RESULT_PREFIX + json.dumps(record), flush=True)


def set_threads(threads: int | None) -> None:
    """Use ``threads`` CPU threads in this process (``None``: the libraries' defaults)."""
    if threads is None:
        return
    import torch

    torch.set_num_threads(threads)


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


def run_worker(cmd: list[str], timeout_s: float, memory_limit_bytes: int | None = None,
               env: dict | None = None, cwd: str | None = None, echo: bool = False) -> dict:
    """Run ``cmd`` in its own process group; kill it after ``timeout_s`` seconds or when the group's
    resident memory passes ``memory_limit_bytes``.

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
    for t in readers:
        t.join(timeout=5)
    if status is None:
        status = "ok" if proc.returncode == 0 else "error"
    return {"status": status, "returncode": proc.returncode, "records": records,
            "wall_s": time.perf_counter() - start, "peak_rss_bytes": peak,
            "stderr_tail": "".join(stderr)[-3000:]}


def time_step(forward, backward, sync=None) -> tuple[float, float]:
    """Seconds of ``forward()`` (returns what ``backward`` takes) and of ``backward(that)``.

    ``sync`` (e.g. ``torch.cuda.synchronize``) is called before each clock reading.
    """
    sync = sync or (lambda: None)
    sync()
    t0 = time.perf_counter()
    out = forward()
    sync()
    t1 = time.perf_counter()
    backward(out)
    sync()
    return t1 - t0, time.perf_counter() - t1


def mean_sum_step(call, x, params):
    """``(forward, backward)`` of a training step: ``call(x)``, then the backward pass of
    ``mean(sum(outputs))`` after clearing the gradients of ``params`` and ``x``."""
    import torch

    def forward():
        return call(x)

    def backward(out):
        for p in params:
            p.grad = None
        x.grad = None
        torch.mean(torch.sum(out, dim=1)).backward()

    return forward, backward


def first_call(forward, backward, record: dict, start: float) -> None:
    """Time the process's first step into ``record`` (``first_call_s``, ``first_forward_s``,
    ``first_backward_s``), emitting ``first_start`` (seconds since ``start``) and ``first_call``."""
    emit({**record, "stage": "first_start", "started_s": time.perf_counter() - start})
    first_f, first_b = time_step(forward, backward)
    record.update(first_call_s=first_f + first_b, first_forward_s=first_f, first_backward_s=first_b)
    emit({**record, "stage": "first_call"})


def median_steps(forward, backward, repeats: int, budget_s: float, sync=None,
                 first_s: float | None = None) -> dict:
    """Time up to ``repeats`` steps, stopping early when the next one would overrun ``budget_s``.

    When even one step would not fit (``first_s``, the first step's seconds, exceeds ``budget_s``),
    none is timed and the first step stands in for the step time (``steps`` is 0: an
    overestimate, one-time costs included).

    Returns:
        dict: ``step_s`` (median of forward + backward), ``forward_s``, ``backward_s`` (their
        medians), ``min_step_s``, ``steps`` (how many were timed).
    """
    if first_s is not None and first_s > budget_s:
        return {"step_s": first_s, "forward_s": None, "backward_s": None, "min_step_s": first_s, "steps": 0,
                "note": "only the first call fitted in the time limit: it stands in for a step "
                        "(an overestimate)"}
    fwd, bwd, total = [], [], []
    start = time.perf_counter()
    for _ in range(max(1, repeats)):
        f, b = time_step(forward, backward, sync)
        fwd.append(f)
        bwd.append(b)
        total.append(f + b)
        elapsed = time.perf_counter() - start
        if elapsed + statistics.median(total) > budget_s:
            break
    return {"step_s": statistics.median(total), "forward_s": statistics.median(fwd),
            "backward_s": statistics.median(bwd), "min_step_s": min(total), "steps": len(total)}


def check_agreement(got: dict, want: dict, atol: float) -> dict:
    """Largest absolute differences of ``got`` from ``want`` for each key both hold.

    Returns:
        dict: ``{"max_abs_err": {key: err}, "atol": atol, "ok": bool}``; ``ok`` is False also when
        a shape differs (the error is then ``inf``).
    """
    import numpy as np

    errors = {}
    for key, ref in want.items():
        if key not in got or got[key] is None:
            continue
        a, b = np.asarray(got[key], dtype=np.float64), np.asarray(ref, dtype=np.float64)
        errors[key] = float(np.max(np.abs(a - b))) if a.shape == b.shape else float("inf")
    ok = bool(errors) and all(e <= atol for e in errors.values())
    return {"max_abs_err": errors, "atol": atol, "ok": ok}


def qiskit_outputs(circuit, params, values, observables):
    """Expectation values ``(B, K)`` of ``observables`` on ``circuit`` bound to each row of
    ``values`` (columns in the order of ``params``), by Qiskit's ``Statevector`` (float64)."""
    import numpy as np
    from qiskit.quantum_info import Statevector

    out = np.empty((len(values), len(observables)))
    for b, row in enumerate(values):
        state = Statevector(circuit.assign_parameters(dict(zip(params, row))))
        out[b] = [state.expectation_value(o).real for o in observables]
    return out


def pennylane_gradients(num_qubits: int, body, measure, x, w, device: str = "default.qubit") -> dict:
    """Outputs ``(B, K)`` and the gradients of ``mean(sum(outputs, 1))`` with respect to the inputs
    ``x`` ``(B, I)`` and weights ``w`` ``(P,)`` of ``body(inputs, weights)`` measured by
    ``measure()`` (a list of expectation values), by PennyLane's ``default.qubit`` with adjoint
    differentiation in float64 (memory of a few state vectors, whatever the circuit's depth), or
    by another ``device`` (``default.qubit`` densifies a Z string on every wire: 64 GiB at 16)."""
    import pennylane as qml
    import torch

    @qml.qnode(qml.device(device, wires=num_qubits), diff_method="adjoint", interface="torch")
    def qnode(inputs, weights):
        body(inputs, weights)
        return measure()

    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    wt = torch.tensor(w, dtype=torch.float64, requires_grad=True)
    out = torch.stack([r.reshape(len(x)) for r in qnode(xt, wt)], dim=1)
    out.sum(1).mean().backward()
    return {"outputs": out.detach().numpy(), "grad_inputs": xt.grad.numpy(), "grad_weights": wt.grad.numpy()}


def machine_info() -> dict:
    """Where the numbers were measured: CPU count, Python, and the versions of the libraries present."""
    import platform
    from importlib import metadata

    info = {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform(),
            "time": time.strftime("%Y-%m-%d %H:%M:%S"), "argv": sys.argv[1:], "load_average": load_average()}
    for dist in ("torch", "pennylane", "pennylane_lightning", "pennylane_lightning_kokkos", "qiskit",
                 "qiskit-aer", "qiskit-machine-learning", "numpy"):
        try:
            info[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    try:
        import qnn_torch

        info["qnn_torch"] = f"{qnn_torch.__version__} ({Path(qnn_torch.__file__).parent})"
    except ImportError:
        pass
    try:
        import torch

        info["torch_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            info["cuda_device"] = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    return info


def load_average() -> list[float] | None:
    """The 1, 5 and 15-minute load averages (other work on the machine skews every timing)."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def load_warning(meta: dict) -> list[str]:
    """A line for the report when the machine was busy with other work during the run."""
    cpus = meta["machine"].get("cpus") or 1
    loads = [v for v in (meta["machine"].get("load_average"), meta.get("load_average_end")) if v]
    if loads and max(v[0] for v in loads) > 0.5 * cpus:
        shown = " / ".join(f"{v[0]:.1f}" for v in loads)
        return [f"WARNING: load average {shown} (start / end) on {cpus} CPUs: other work shared the machine, "
                "timings are inflated and noisy", ""]
    return []


def format_seconds(seconds: float | None) -> str:
    """``1.23 s``, ``45.6 ms`` or ``789 us``; ``-`` for None."""
    if seconds is None:
        return "-"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds * 1e6:.0f} us"
