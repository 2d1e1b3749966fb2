"""The benchmarks' warning for a machine shared with other work: it counts the CPU time of other
processes, not that of the benchmark's own workers and busy processes (which the load average
counts, so that a busy-core benchmark always warned about itself)."""

import subprocess
import sys

import pytest

from benchmarks import report
from benchmarks.report import cpu_snapshot, load_warning, others_cpu

# a child that runs until it has used 0.3 s of CPU, however loaded the machine is
BURN = "import time\nwhile time.process_time() < 0.3: pass"


def _snapshot(machine_s: float, own_s: float, clock_s: float) -> dict:
    return {"machine_s": machine_s, "own_s": own_s, "clock_s": clock_s}


def test_others_are_the_machine_s_cpu_time_less_the_benchmark_s_own():
    start = _snapshot(100.0, 10.0, 50.0)
    assert others_cpu(start, _snapshot(104.0, 13.0, 52.0)) == pytest.approx(0.5)  # 1 s of 2 s
    assert others_cpu(start, _snapshot(103.0, 13.0, 52.0)) == 0.0  # all of it the benchmark's own
    assert others_cpu(start, _snapshot(103.0, 13.0, 50.0)) is None  # no time between
    assert others_cpu(None, _snapshot(103.0, 13.0, 52.0)) is None


@pytest.mark.skipif(cpu_snapshot() is None, reason="needs /proc/stat (Linux)")
def test_a_child_that_ended_counts_as_the_benchmark_s_own():
    start = cpu_snapshot()
    subprocess.run([sys.executable, "-c", BURN], check=True)
    end = cpu_snapshot()
    # 0.3 s of the child's CPU, counted in clock ticks (10 ms) by both: less a few ticks
    assert end["own_s"] - start["own_s"] >= 0.25
    assert end["machine_s"] - start["machine_s"] >= 0.25


@pytest.mark.parametrize("others, warned", [(0.05, False), (0.6, True)])
def test_the_report_warns_when_other_processes_used_the_cpus(others, warned, monkeypatch):
    start = _snapshot(100.0, 10.0, 50.0)
    monkeypatch.setattr(report, "cpu_snapshot", lambda: _snapshot(100.0 + 20 * others + 5, 15.0, 70.0))
    meta = {"machine": {"cpus": 2, "cpu_snapshot": start, "load_average": [3.0, 3.0, 3.0]},
            "load_average_end": [3.0, 3.0, 3.0]}
    lines = load_warning(meta)
    assert meta["others_cpus"] == pytest.approx(others)
    assert bool(lines) == warned  # the load average of 3 (the benchmark's own work) is not the judge
    if warned:
        assert lines[0].startswith(f"WARNING: other processes kept {others:.2f} of 2 CPUs busy")


def test_without_cpu_times_the_load_average_judges():
    meta = {"machine": {"cpus": 2, "cpu_snapshot": None, "load_average": [0.2, 0.2, 0.2]},
            "load_average_end": [1.5, 1.0, 1.0]}
    assert load_warning(meta)[0].startswith("WARNING: load average 0.2 / 1.5 (start / end) on 2 CPUs")
    meta["load_average_end"] = [0.4, 0.4, 0.4]
    assert load_warning(meta) == []
