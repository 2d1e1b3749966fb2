"""The seed tutorial end to end as each library's users run it: one command, in a fresh process.

qnn_torch's side is ``qnn-torch tutorial --epochs N --json F``; qiskit-machine-learning's is the
workplace's peer script ``qiskit_ml_tutorial.py --epochs N`` (the seed's code on
qiskit-machine-learning 0.9, default primitives). Each command times its four parts itself (every
first call, compilation and import inside a part is in that part's time; the imports before the
first part are not); the two commands run one after the other, never at the same time, and take
turns over ``--rounds`` rounds. The report gives the median seconds of each part, the total of the
four parts and its ratio (the issue-24 target: at least 25x with one mnist epoch), the wall time of
each whole process (imports and start-up included), and each part's metric, which must agree.

Usage (from the repository root; needs ``pip install ".[bench]" mlxtend`` for the peer)::

    python -m benchmarks.bench_tutorial_command [--epochs 1] [--rounds 3] [--peer PATH]

Results: ``benchmarks/results/tutorial-command.{txt,json}``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .report import RESULTS_DIR, load_average, load_warning, machine_info, table_row, write_report

PARTS = {"cls_est": "classification-estimator", "cls_samp": "classification-sampler",
         "reg": "regression", "mnist": "mnist-hybrid"}
"""The peer script's part names and ours."""

_PEER = Path(__file__).resolve().parents[2] / "shared" / "tools" / "qiskit_ml_tutorial.py"


def run_ours(epochs: int) -> tuple[dict, float]:
    """``qnn-torch tutorial`` in a fresh process: ({part: (seconds, metric)}, process wall seconds)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "results.json"
        command = [sys.executable, "-m", "qnn_torch", "tutorial", "--epochs", str(epochs), "--no-progress",
                   "--out", tmp, "--json", str(out)]
        wall = _run(command)
        parts = json.loads(out.read_text())["parts"]
    return {name: (p["seconds"], _metric(p)) for name, p in parts.items()}, wall


def run_peer(peer: Path, epochs: int) -> tuple[dict, float]:
    """The peer script in a fresh process: ({part: (seconds, metric)}, process wall seconds)."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, str(peer), "--epochs", str(epochs)], capture_output=True,
                          text=True, check=True)
    wall = time.perf_counter() - start
    parts = {}
    for line in done.stdout.splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            metric = record.get("accuracy", record.get("loss"))
            parts[PARTS.get(record["part"], record["part"])] = (record["seconds"], metric)
    return parts, wall


def _metric(part: dict):
    return part["accuracy"] if part.get("accuracy") is not None else part["trained_loss"]


def _run(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    return time.perf_counter() - start


def summarise(rounds: list[dict]) -> dict:
    """Median seconds per part and side, totals, ratios and the last round's metrics."""
    summary = {"parts": {}, "wall": {}}
    for side in ("qnn_torch", "qiskit_ml"):
        summary["wall"][side] = statistics.median(r[side]["wall"] for r in rounds)
    for part in PARTS.values():
        ours = statistics.median(r["qnn_torch"]["parts"][part][0] for r in rounds)
        theirs = statistics.median(r["qiskit_ml"]["parts"][part][0] for r in rounds)
        summary["parts"][part] = {"qnn_torch_s": ours, "qiskit_ml_s": theirs, "ratio": theirs / ours,
                                  "metric": rounds[-1]["qnn_torch"]["parts"][part][1],
                                  "qiskit_ml_metric": rounds[-1]["qiskit_ml"]["parts"][part][1]}
    ours = sum(p["qnn_torch_s"] for p in summary["parts"].values())
    theirs = sum(p["qiskit_ml_s"] for p in summary["parts"].values())
    summary["total"] = {"qnn_torch_s": ours, "qiskit_ml_s": theirs, "ratio": theirs / ours}
    return summary


def render(summary: dict, meta: dict) -> str:
    """The report's text."""
    machine = meta["machine"]
    lines = [f"# python -m benchmarks.bench_tutorial_command {' '.join(machine['argv'])}",
             f"# {machine['time']}, {machine['cpus']} CPUs, torch {machine.get('torch')}, "
             f"qiskit-machine-learning {machine.get('qiskit-machine-learning')}",
             *load_warning(meta),
             f"== the tutorial as one command each (mnist {meta['epochs']} epoch(s), median of "
             f"{meta['rounds']} rounds; seconds of each part as the command timed it) ==",
             table_row("part", ["qnn_torch s", "qiskit-ml s", "ratio", "metric ours", "theirs"], 26, 13)]
    for part, p in summary["parts"].items():
        cells = [f"{p['qnn_torch_s']:.3f}", f"{p['qiskit_ml_s']:.2f}", f"{p['ratio']:.1f}",
                 f"{p['metric']:.4f}", f"{p['qiskit_ml_metric']:.4f}"]
        lines.append(table_row(part, cells, 26, 13))
    t = summary["total"]
    lines.append(table_row("total of the parts", [f"{t['qnn_torch_s']:.3f}", f"{t['qiskit_ml_s']:.2f}",
                                                  f"{t['ratio']:.1f}", "", ""], 26, 13))
    w = summary["wall"]
    lines += ["", f"whole process (start-up and imports included): qnn_torch {w['qnn_torch']:.2f} s, "
              f"qiskit-ml {w['qiskit_ml']:.2f} s ({w['qiskit_ml'] / w['qnn_torch']:.1f}x)", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=1, help="mnist-hybrid epochs (default 1)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--peer", type=Path, default=_PEER, help="qiskit_ml_tutorial.py")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "tutorial-command")
    args = parser.parse_args(argv)
    meta = {"machine": machine_info(), "epochs": args.epochs, "rounds": args.rounds}
    rounds = []
    for i in range(args.rounds):
        ours, ours_wall = run_ours(args.epochs)
        theirs, theirs_wall = run_peer(args.peer, args.epochs)
        rounds.append({"qnn_torch": {"parts": ours, "wall": ours_wall},
                       "qiskit_ml": {"parts": theirs, "wall": theirs_wall}})
        print(f"round {i + 1}: qnn_torch {sum(s for s, _ in ours.values()):.3f} s, "
              f"qiskit-ml {sum(s for s, _ in theirs.values()):.2f} s", flush=True)
    meta["load_average_end"] = load_average()
    summary = summarise(rounds)
    text = render(summary, meta)
    print(text)
    write_report(args.out, text, {"meta": meta, "summary": summary, "rounds": rounds})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
