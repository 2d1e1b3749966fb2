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

__all__ = ["RESULTS_DIR", "format_seconds", "load_average", "load_warning", "machine_info", "table_row",
           "write_report"]

RESULTS_DIR = Path(__file__).resolve().parent / "results"

_VERSIONS = ("torch", "pennylane", "pennylane_lightning", "pennylane_lightning_kokkos", "qiskit",
             "qiskit-aer", "qiskit-machine-learning", "numpy")


def machine_info() -> dict:
    """Where the numbers were measured: CPU count, Python, and the versions of the libraries present."""
    info = {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform(),
            "time": time.strftime("%Y-%m-%d %H:%M:%S"), "argv": sys.argv[1:], "load_average": load_average()}
    for dist in _VERSIONS:
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
