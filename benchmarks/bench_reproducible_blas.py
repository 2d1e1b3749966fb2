"""What MKL's compatible code path costs: the tutorial, a large float32 product, a 16-qubit step.

``qnn-torch tutorial`` asks MKL for its compatible path (``qnn_torch.use_reproducible_blas()``) so
that it prints the same numbers on every CPU. This measures the price side by side: each round
starts two fresh processes, one on MKL's compatible path and one on its default path, in turns
(so that a slow spell of the machine falls on both), and each times the four tutorial parts as
the command runs them (mnist-hybrid: 10 epochs), a 1024 x 1024 float32 matrix product, and one
forward + backward step of a 16-qubit network at batch 8. Medians over the rounds.

    python -m benchmarks.bench_reproducible_blas [--rounds 5] [--quick]

Results: ``benchmarks/results/reproducible-blas.{txt,json}`` (``--quick``: 2 rounds, 2 epochs,
``*-quick.*``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys

from .process import ROOT
from .report import RESULTS_DIR

WORKER = """
import json, sys, time
import qnn_torch
compatible = sys.argv[1] == "compatible"
if compatible:
    assert qnn_torch.use_reproducible_blas()
import torch
from qnn_torch import tutorial

record = {"blas": qnn_torch.blas_mode()}
for name, run in [("classification-estimator", tutorial.run_classification_estimator),
                  ("classification-sampler", tutorial.run_classification_sampler),
                  ("regression", tutorial.run_regression)]:
    result = run()
    record[name] = result.seconds
    record[name + " last loss"] = result.losses[-1]
result = tutorial.run_mnist_hybrid(epochs=int(sys.argv[2]), data_root="/nonexistent", on_message=None)
record["mnist-hybrid"] = result.seconds

a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
a @ b
start = time.perf_counter()
for _ in range(20):
    a @ b
record["matmul 1024 float32"] = (time.perf_counter() - start) / 20

model = qnn_torch.TorchConnector(qnn_torch.EstimatorQNN(16))
x = torch.rand(8, 16, requires_grad=True)
for _ in range(2):  # the first calls compile
    model(x).sum().backward()
times = []
for _ in range(5):
    start = time.perf_counter()
    model(x).sum().backward()
    times.append(time.perf_counter() - start)
record["16 qubits, batch 8 step"] = sorted(times)[2]
print(json.dumps(record))
"""

MEASURES = ["classification-estimator", "classification-sampler", "regression", "mnist-hybrid",
            "matmul 1024 float32", "16 qubits, batch 8 step"]


def _run(mode: str, epochs: int) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "MKL_CBWR"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    proc = subprocess.run([sys.executable, "-c", WORKER, mode, str(epochs)], env=env, capture_output=True,
                          text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _report(records: dict, rounds: int, epochs: int) -> str:
    lines = [f"MKL's compatible path vs its default path: medians of {rounds} rounds, "
             "fresh processes in turns",
             f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; mnist-hybrid: "
             f"{epochs} epochs", "",
             f"{'measure':<28}{'default':>12}{'compatible':>12}{'ratio':>8}"]
    for name in MEASURES:
        default = statistics.median(r[name] for r in records["default"])
        compatible = statistics.median(r[name] for r in records["compatible"])
        lines.append(f"{name:<28}{default:>11.4f}s{compatible:>11.4f}s{compatible / default:>8.2f}")
    total = {mode: sum(statistics.median(r[p] for r in records[mode]) for p in MEASURES[:4])
             for mode in records}
    lines.append(f"{'tutorial, four parts':<28}{total['default']:>11.4f}s{total['compatible']:>11.4f}s"
                 f"{total['compatible'] / total['default']:>8.2f}")
    last = {mode: records[mode][0]["classification-sampler last loss"] for mode in records}
    lines += ["", "classification-sampler's last loss: " + ", ".join(f"{m} {v:.4f}" for m, v in last.items())]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="2 rounds, 2 mnist-hybrid epochs")
    args = parser.parse_args()
    rounds, epochs = (2, 2) if args.quick else (args.rounds, 10)
    records = {"default": [], "compatible": []}
    for k in range(rounds):
        for mode in (("default", "compatible") if k % 2 == 0 else ("compatible", "default")):
            records[mode].append(_run(mode, epochs))
            print(f"round {k + 1}/{rounds}: {mode} done", file=sys.stderr)
    text = _report(records, rounds, epochs)
    print(text)
    stem = "reproducible-blas" + ("-quick" if args.quick else "")
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / f"{stem}.txt").write_text(text + "\n")
    data = {"rounds": rounds, "epochs": epochs, **records}
    (RESULTS_DIR / f"{stem}.json").write_text(json.dumps(data, indent=2))


if __name__ == "__main__":
    main()
