"""What the benchmarks' reports share: where results go, the machine they were measured on, the
warning for a busy machine, how seconds are shown, and the text and JSON files written.

Standard library only at import time.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from importlib import metadata
from pathlib import Path

__all__ = ["RESULTS_DIR", "cpu_snapshot", "format_seconds", "load_average", "load_warning", "machine_info",
           "others_cpu", "package_version", "table_row", "write_report"]

OTHERS_LIMIT = 0.1
"""float: the share of one CPU that other processes may have used on average during a run before
its report warns that they shared the machine."""

RESULTS_DIR = Path(__file__).resolve().parent / "results"

_VERSIONS = ("torch", "pennylane", "pennylane_lightning", "pennylane_lightning_kokkos", "qiskit",
             "qiskit-aer", "qiskit-machine-learning", "numpy")


def package_version(dist: str) -> str | None:
    """The installed version of the distribution ``dist``, or None where it is not installed."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def machine_info() -> dict:
    """Where the numbers were measured: CPU count, Python, and the versions of the libraries present."""
    info = {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform(),
            "time": time.strftime("%Y-%m-%d %H:%M:%S"), "argv": sys.argv[1:], "load_average": load_average(),
            "cpu_snapshot": cpu_snapshot()}
    for dist in _VERSIONS:
        version = package_version(dist)
        if version is not None:
            info[dist] = version
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


def cpu_snapshot() -> dict | None:
    """Now: the CPU seconds every process of the machine has run (``/proc/stat``), those of this
    process and of its children that ended, and the monotonic clock; None without ``/proc/stat``."""
    try:
        with open("/proc/stat") as stat:
            fields = stat.readline().split()
        ticks = os.sysconf("SC_CLK_TCK")
        user, nice, system, _idle, _iowait, irq, softirq = (int(v) for v in fields[1:8])
    except (OSError, ValueError):
        return None
    own = os.times()
    return {"machine_s": (user + nice + system + irq + softirq) / ticks,
            "own_s": own.user + own.system + own.children_user + own.children_system,
            "clock_s": time.monotonic()}


def others_cpu(start: dict | None, end: dict | None = None) -> float | None:
    """The CPUs that other processes kept busy on average between two snapshots (:func:`cpu_snapshot`;
    ``end`` now by default): the machine's CPU time less this process's and its ended children's
    (a benchmark's own workers and busy processes), over the time between. None without them."""
    end = end if end is not None else cpu_snapshot()
    if not start or not end or end["clock_s"] <= start["clock_s"]:
        return None
    others = (end["machine_s"] - start["machine_s"]) - (end["own_s"] - start["own_s"])
    return max(0.0, others) / (end["clock_s"] - start["clock_s"])


def load_warning(meta: dict) -> list[str]:
    """A line for the report when other processes used the machine during the run.

    From the CPU time of other processes (:func:`others_cpu`, stored as ``meta["others_cpus"]``)
    where ``/proc/stat`` exists: the load average counts the benchmark's own workers and busy
    processes too. Elsewhere from the load averages at the start and the end."""
    cpus = meta["machine"].get("cpus") or 1
    others = others_cpu(meta["machine"].get("cpu_snapshot"))
    if others is not None:
        meta["others_cpus"] = round(others, 3)
        if others > OTHERS_LIMIT:
            return [f"WARNING: other processes kept {others:.2f} of {cpus} CPUs busy on average during the "
                    "run: timings are inflated and noisy", ""]
        return []
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


def table_row(name: str, cells: list[str], width: int, cell_width: int) -> str:
    """A table line: ``name`` left-aligned in ``width`` characters, each cell right-aligned."""
    return f"{name:{width}s}" + "".join(f"{c:>{cell_width}s}" for c in cells)


def write_report(out: Path, text: str, report: dict) -> list[Path]:
    """Write ``out.txt`` (``text``) and ``out.json`` (``report``); returns their paths."""
    out.parent.mkdir(parents=True, exist_ok=True)
    txt, js = out.with_suffix(".txt"), out.with_suffix(".json")
    txt.write_text(text)
    js.write_text(json.dumps(report, indent=1, default=float))
    return [txt, js]
