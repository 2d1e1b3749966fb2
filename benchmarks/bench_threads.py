"""A busy core: one training step with and without a competing busy process (issue #24, item 3).

The network is ``bench_scaling``'s (the tutorial's shape: ZZFeatureMap, reps=2, linear entanglement;
RealAmplitudes, reps=3; one observable ``Z^n``), 16 qubits at batch 8 by default; one step is the
forward pass of ``torch.rand`` inputs (float32, ``requires_grad=True``) and the backward pass of
``mean(sum(outputs))``. Contenders, each in one long-lived process per register size:

* ``qnn_torch``: ``EstimatorQNN`` + ``TorchConnector`` of this checkout (``engine="auto"``);
* ``qnn_torch baseline``: the same from another checkout (``--baseline PATH``, e.g. the main branch),
  for an A/B comparison in the same run;
* ``lightning.qubit adjoint``: a QNode of qnn_torch's templates in ``qml.qnn.TorchLayer``.

Each process first computes, in float64 on 2 fixed samples, the outputs and the gradients of
``mean(sum(outputs))``; they are held to the first contender's to 1e-6 (a contender that fails is
``WRONG`` and the script exits with status 1) and the report says whether the two qnn_torch
checkouts agree to the last bit. Then in each of ``--rounds`` rounds, for each condition in turn
(``idle``, and ``busy``: a ``python -c "while True: pass"`` process runs throughout), every
contender times ``--steps`` steps (the contenders and conditions take turns, so that a slow spell
of the machine falls on all). Reported: the median step per condition, per sample, the busy/idle
ratio of each contender, and qnn_torch against the others.

Usage (from the repository root)::

    python -m benchmarks.bench_threads                          # 16 qubits, batch 8
    python -m benchmarks.bench_threads --baseline /work/main    # A/B against another checkout
    python -m benchmarks.bench_threads --qubits 12,16,20 --rounds 3

Results: ``benchmarks/results/threads.{txt,json}`` (``--out`` to change the stem).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from .process import ROOT
from .report import RESULTS_DIR, format_seconds, load_average, load_warning, machine_info, write_report

ATOL = 1e-6
CONDITIONS = ("idle", "busy")
BUSY = "while True: pass"

# a contender's process: the model, the float64 check, then timed steps on request; it imports only
# the public API of the qnn_torch on its path (a baseline checkout may lack this benchmark)
WORKER = """
import json, sys, time
from functools import partial
import numpy as np
import torch
contender, n, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
FM_REPS, RA_REPS = 2, 3
weights = np.random.default_rng(4321).uniform(-1, 1, n * (RA_REPS + 1))

def build():
    if contender.startswith("qnn_torch"):
        from qnn_torch import EstimatorQNN, RealAmplitudes, TorchConnector, ZZFeatureMap
        qnn = EstimatorQNN(n, feature_map=partial(ZZFeatureMap, reps=FM_REPS, entanglement="linear"),
                           ansatz=partial(RealAmplitudes, reps=RA_REPS))
        model = TorchConnector(qnn, initial_weights=torch.as_tensor(weights))
        return model, model
    import pennylane as qml
    from qnn_torch import RealAmplitudes, ZZFeatureMap

    @qml.qnode(qml.device("lightning.qubit", wires=n), diff_method="adjoint", interface="torch")
    def circuit(inputs, weights):
        ZZFeatureMap(inputs, wires=range(n), reps=FM_REPS, entanglement="linear")
        RealAmplitudes(weights, wires=range(n), reps=RA_REPS)
        return qml.expval(qml.prod(*[qml.Z(q) for q in range(n)]))

    layer = qml.qnn.TorchLayer(circuit, {"weights": len(weights)})
    with torch.no_grad():
        layer.qnode_weights["weights"].copy_(torch.as_tensor(weights))
    return (lambda x: layer(x).reshape(len(x), 1)), layer

call, module = build()
xc = torch.tensor(np.random.default_rng(7).uniform(0, 1, (2, n)), requires_grad=True)
module.double()
out = call(xc)
out.sum(1).mean().backward()
check = {"outputs": out.detach().tolist(), "grad_inputs": xc.grad.tolist(),
         "grad_weights": torch.cat([p.grad.reshape(-1) for p in module.parameters()]).tolist()}
call, module = build()
params = [p for p in module.parameters() if p.requires_grad]
x = torch.rand(batch, n, generator=torch.Generator().manual_seed(1), requires_grad=True)

def step():
    for p in params:
        p.grad = None
    x.grad = None
    torch.mean(torch.sum(call(x), dim=1)).backward()

for _ in range(3):  # first calls: tracing, generated programs
    step()
print("@@CHECK " + json.dumps(check), flush=True)
for line in sys.stdin:
    if not line.strip():
        break
    times = []
    for _ in range(int(line)):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    print("@@TIMES " + json.dumps(times), flush=True)
"""


class Worker:
    """One contender's process at one register size, answering requests for timed steps."""

    def __init__(self, contender: str, qubits: int, batch: int, checkout: Path):
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(checkout), env.get("PYTHONPATH")]))
        self.proc = subprocess.Popen([sys.executable, "-c", WORKER, contender, str(qubits), str(batch)],
                                     cwd=checkout, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True)
        self.check = self._answer("@@CHECK ")

    def _answer(self, tag: str):
        for line in self.proc.stdout:
            if line.startswith(tag):
                return json.loads(line[len(tag):])
        raise RuntimeError(f"worker exited with status {self.proc.wait()} before answering {tag.strip()}")

    def time(self, steps: int) -> list[float]:
        """Seconds of ``steps`` steps."""
        self.proc.stdin.write(f"{steps}\n")
        self.proc.stdin.flush()
        return self._answer("@@TIMES ")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(timeout=60)


class BusyProcess:
    """A competing process that keeps one core busy while the block runs."""

    def __enter__(self):
        self.proc = subprocess.Popen([sys.executable, "-c", BUSY])
        time.sleep(0.5)  # let the scheduler place it
        return self

    def __exit__(self, *exc):
        self.proc.kill()
        self.proc.wait()


def _agreement(check: dict, reference: dict) -> tuple[float, bool]:
    """The largest absolute difference of a check from the reference, and whether they are equal."""
    errors = [abs(a - b) for key in reference for a, b in zip(_flat(check[key]), _flat(reference[key]))]
    return max(errors), all(e == 0 for e in errors)


def _flat(value) -> list[float]:
    return [v for item in value for v in _flat(item)] if isinstance(value, list) else [value]


def measure(qubits: int, args, contenders: dict) -> dict:
    """Every contender at one register size: the checks, then the rounds of timed steps."""
    workers = {name: Worker(name, qubits, args.batch, path) for name, path in contenders.items()}
    try:
        names = list(workers)
        reference = workers[names[0]].check
        checks = {}
        for name, worker in workers.items():
            error, equal = _agreement(worker.check, reference)
            checks[name] = {"max_abs_err": error, "bit_identical": equal, "ok": error <= ATOL}
        times = {name: {c: [] for c in CONDITIONS} for name in names}
        for k in range(args.rounds):
            for condition in (CONDITIONS if k % 2 == 0 else CONDITIONS[::-1]):
                order = names[k % len(names):] + names[:k % len(names)]
                if condition == "busy":
                    with BusyProcess():
                        for name in order:
                            times[name][condition] += workers[name].time(args.steps)
                else:
                    for name in order:
                        times[name][condition] += workers[name].time(args.steps)
            print(f"{qubits} qubits: round {k + 1}/{args.rounds} done", file=sys.stderr)
    finally:
        for worker in workers.values():
            worker.close()
    medians = {name: {c: statistics.median(t[c]) for c in CONDITIONS} for name, t in times.items()}
    return {"qubits": qubits, "batch": args.batch, "checks": checks, "times": times, "median_step_s": medians}


def report_text(meta: dict, sizes: list[dict]) -> str:
    """The report: per size, per contender and condition, the median step, per sample and ratios."""
    lines = [f"A busy core (issue #24, item 3): one step (forward + backward, input gradients), medians of "
             f"{meta['rounds']} rounds x {meta['steps']} steps per condition; busy = one competing "
             f"'{BUSY}' process", f"machine: {meta['machine'].get('cpus')} CPUs, load average "
             f"{meta['machine'].get('load_average')} (start) / {meta.get('load_average_end')} (end)", ""]
    lines += load_warning(meta)
    for size in sizes:
        n, batch, med = size["qubits"], size["batch"], size["median_step_s"]
        lines.append(f"{n} qubits, batch {batch}")
        lines.append(f"  {'contender':<26}{'idle step':>12}{'busy step':>12}{'idle/sample':>13}"
                     f"{'busy/sample':>13}{'busy/idle':>11}  check")
        for name, m in med.items():
            check = size["checks"][name]
            verdict = (f"max err {check['max_abs_err']:.1e}" if check["ok"] else "WRONG") + (
                ", bit-identical" if check["bit_identical"] and name != next(iter(med)) else "")
            lines.append(f"  {name:<26}{format_seconds(m['idle']):>12}{format_seconds(m['busy']):>12}"
                         f"{format_seconds(m['idle'] / batch):>13}{format_seconds(m['busy'] / batch):>13}"
                         f"{m['busy'] / m['idle']:>11.2f}  {verdict}")
        ours = med["qnn_torch"]
        for other in (name for name in med if name != "qnn_torch"):
            lines.append(f"  qnn_torch vs {other}: " + ", ".join(
                f"{c} {med[other][c] / ours[c]:.2f}x faster" for c in CONDITIONS))
        lines.append("")
    lines += _targets(sizes)
    return "\n".join(lines) + "\n"


def _targets(sizes: list[dict]) -> list[str]:
    """Issue #24's targets for item 3 at 16 qubits, batch 8."""
    size = next((s for s in sizes if s["qubits"] == 16 and s["batch"] == 8), None)
    if size is None:
        return ["targets (16 qubits, batch 8): not measured"]
    med = size["median_step_s"]
    ratio = med["qnn_torch"]["busy"] / med["qnn_torch"]["idle"]
    lines = ["targets (16 qubits, batch 8):",
             f"  busy/idle at most 2x (one of 2 cores busy): {ratio:.2f}x "
             f"{'met' if ratio <= 2 else 'MISSED'}"]
    lightning = med.get("lightning.qubit adjoint")
    if lightning is not None:
        gain = lightning["busy"] / med["qnn_torch"]["busy"]
        lines.append(f"  busy, at least as fast as lightning.qubit: {gain:.2f}x "
                     f"{'met' if gain >= 1 else 'MISSED'}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qubits", default="16", help="register sizes, comma-separated (default 16)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per contender, condition and round")
    parser.add_argument("--baseline", type=Path, default=None, help="another checkout's root, for A/B")
    parser.add_argument("--no-lightning", action="store_true", help="leave lightning.qubit out")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "threads")
    args = parser.parse_args()
    contenders = {"qnn_torch": ROOT}
    if args.baseline is not None:
        contenders["qnn_torch baseline"] = args.baseline.resolve()
    if not args.no_lightning:
        contenders["lightning.qubit adjoint"] = ROOT
    meta = {"machine": machine_info(), "rounds": args.rounds, "steps": args.steps,
            "baseline": None if args.baseline is None else str(args.baseline.resolve())}
    sizes = []
    for qubits in (int(q) for q in args.qubits.split(",")):
        sizes.append(measure(qubits, args, contenders))
        meta["load_average_end"] = load_average()
        text = report_text(meta, sizes)
        write_report(args.out, text, {"meta": meta, "sizes": sizes})
    print(text)
    if not all(c["ok"] for size in sizes for c in size["checks"].values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
