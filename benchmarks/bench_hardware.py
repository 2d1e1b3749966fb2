"""Primitive jobs and wall time of one training step on a fake IBM backend.

One training step (forward and backward, input and weight gradients) of a 2-qubit EstimatorQNN
(ZZFeatureMap, then RealAmplitudes with one repetition; 1024 shots) on ``FakeManilaV2``, at
batch 1, 8 and 32, for:

* qnn_torch in one-job mode (the default) and in two-job mode (``jobs_per_step=2``);
* qiskit-machine-learning 0.9: ``EstimatorQNN`` with qiskit-ibm-runtime's ``EstimatorV2`` on the
  fake backend, the circuit transpiled by ``generate_preset_pass_manager`` and its
  ``ParamShiftEstimatorGradient`` with the same pass manager, in its ``TorchConnector``;
* pennylane-qiskit's stock ``qiskit.remote`` device (one job per circuit: batch 1 and 8 only,
  batch 32 would take minutes).

Jobs are counted by wrapping ``run`` of qiskit-ibm-runtime's ``EstimatorV2`` and ``SamplerV2``,
the primitives every path submits through. On real hardware every job also waits in the queue,
which this local simulation does not show: the job count is the number that matters there.
Target: qnn_torch exactly 1 job per step. Exits with 1 when it is missed.

    python -m benchmarks.bench_hardware [--repeat 3] [--out benchmarks/results/hardware]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
import warnings
from functools import partial
from pathlib import Path

import numpy as np
import torch

from .report import RESULTS_DIR, table_row

SHOTS = 1024
BATCHES = (1, 8, 32)
STOCK_BATCHES = (1, 8)


class JobCounter:
    """Counts ``run`` calls of qiskit-ibm-runtime's V2 primitives while active."""

    def __init__(self):
        from qiskit_ibm_runtime import EstimatorV2, SamplerV2

        self.jobs = 0
        self._originals = {cls: cls.run for cls in (EstimatorV2, SamplerV2)}

    def __enter__(self):
        for cls, original in self._originals.items():
            def run(primitive, *args, _original=original, **kwargs):
                self.jobs += 1
                return _original(primitive, *args, **kwargs)

            cls.run = run
        return self

    def __exit__(self, *exc):
        for cls, original in self._originals.items():
            cls.run = original


def qnn_torch_model(backend, jobs_per_step: int | None):
    import pennylane as qml

    from qnn_torch import EstimatorQNN, RealAmplitudes, TorchConnector

    if jobs_per_step is None:  # the stock pennylane-qiskit device
        device = qml.device("qiskit.remote", wires=2, backend=backend)
        qnn = EstimatorQNN(2, ansatz=partial(RealAmplitudes, reps=1), device=device, shots=SHOTS)
    else:
        qnn = EstimatorQNN(2, ansatz=partial(RealAmplitudes, reps=1), device=backend, shots=SHOTS,
                           device_options={"jobs_per_step": jobs_per_step})
    return TorchConnector(qnn, initial_weights=np.full(4, 0.3))


def qiskit_ml_model(backend):
    from qiskit.circuit.library import real_amplitudes, zz_feature_map
    from qiskit.quantum_info import SparsePauliOp
    from qiskit.transpiler import generate_preset_pass_manager
    from qiskit_ibm_runtime import EstimatorV2
    from qiskit_machine_learning.connectors import TorchConnector
    from qiskit_machine_learning.gradients import ParamShiftEstimatorGradient
    from qiskit_machine_learning.neural_networks import EstimatorQNN

    feature_map, ansatz = zz_feature_map(2), real_amplitudes(2, reps=1)
    circuit = feature_map.compose(ansatz)
    pass_manager = generate_preset_pass_manager(backend=backend, optimization_level=1)
    isa = pass_manager.run(circuit)
    estimator = EstimatorV2(mode=backend)
    estimator.options.default_precision = 1 / np.sqrt(SHOTS)  # the gradient job's shots too
    observable = SparsePauliOp("ZZ").apply_layout(isa.layout)
    qnn = EstimatorQNN(circuit=isa, estimator=estimator, observables=observable,
                       input_params=list(feature_map.parameters), weight_params=list(ansatz.parameters),
                       gradient=ParamShiftEstimatorGradient(estimator, pass_manager=pass_manager),
                       input_gradients=True, default_precision=1 / np.sqrt(SHOTS), pass_manager=pass_manager)
    return TorchConnector(qnn, initial_weights=np.full(4, 0.3))


def one_step(model, batch: int, seed: int) -> tuple[float, int]:
    """Seconds and primitive jobs of one forward and backward pass."""
    x = torch.rand(batch, 2, generator=torch.Generator().manual_seed(seed), requires_grad=True)
    model.zero_grad(set_to_none=True)
    with JobCounter() as counter:
        start = time.perf_counter()
        model(x).sum().backward()
        seconds = time.perf_counter() - start
    assert x.grad is not None and x.grad.abs().sum() > 0  # input gradients really computed
    return seconds, counter.jobs


def measure(name: str, make, batches, repeat: int) -> dict:
    from qiskit_ibm_runtime.fake_provider import FakeManilaV2

    model = make(FakeManilaV2())
    one_step(model, 1, seed=0)  # warm-up: imports, transpilation, caches
    rows = {}
    for batch in batches:
        times, jobs = [], set()
        for r in range(repeat):
            seconds, count = one_step(model, batch, seed=100 * batch + r)
            times.append(seconds)
            jobs.add(count)
        rows[str(batch)] = {"jobs": sorted(jobs), "seconds": statistics.median(times), "all_seconds": times}
        print(f"  {name:34s} batch {batch:3d}: {statistics.median(times):7.2f} s/step, jobs {sorted(jobs)}",
              flush=True)
    return rows


def versions() -> dict:
    """The versions of the libraries every path runs on."""
    import pennylane
    import pennylane_qiskit
    import qiskit
    import qiskit_ibm_runtime
    import qiskit_machine_learning

    import qnn_torch

    return {"qnn_torch": qnn_torch.__version__, "pennylane": pennylane.__version__,
            "pennylane_qiskit": pennylane_qiskit.__version__, "qiskit": qiskit.__version__,
            "qiskit_ibm_runtime": qiskit_ibm_runtime.__version__,
            "qiskit_machine_learning": qiskit_machine_learning.__version__, "torch": torch.__version__}


def render(results: dict, met: bool, repeat: int, stock_repeat: int) -> str:
    lines = [f"== one training step on FakeManilaV2 ({SHOTS} shots, input and weight gradients; "
             f"median of {repeat} steps, stock device {stock_repeat}) ==",
             f"{'':36s}" + "".join(f"{'batch ' + str(b):>22s}" for b in BATCHES)]
    for name, rows in results.items():
        cells = []
        for b in BATCHES:
            row = rows.get(str(b))
            cells.append("not run" if row is None else
                         f"{'/'.join(map(str, row['jobs']))} jobs {row['seconds']:6.2f} s")
        lines.append(table_row(name, cells, 36, 22))
    lines.append(f"target (qnn_torch one-job: exactly 1 job per step): {'met' if met else 'MISSED'}")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="steps per batch size (median reported)")
    parser.add_argument("--stock-repeat", type=int, default=1,
                        help="steps per batch size of the stock device")
    parser.add_argument("--out", default=str(RESULTS_DIR / "hardware"), help="writes OUT.json and OUT.txt")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")

    cases = [
        ("qnn_torch one-job (default)", partial(qnn_torch_model, jobs_per_step=1), BATCHES, args.repeat),
        ("qnn_torch two-job (jobs_per_step=2)", partial(qnn_torch_model, jobs_per_step=2), BATCHES,
         args.repeat),
        ("qiskit-machine-learning 0.9 (V2)", qiskit_ml_model, BATCHES, args.repeat),
        ("pennylane-qiskit qiskit.remote", partial(qnn_torch_model, jobs_per_step=None), STOCK_BATCHES,
         args.stock_repeat),
    ]
    print(f"== one training step on FakeManilaV2 ({SHOTS} shots, input and weight gradients) ==", flush=True)
    results = {name: measure(name, make, batches, repeat) for name, make, batches, repeat in cases}

    met = all(row["jobs"] == [1] for row in results["qnn_torch one-job (default)"].values())
    report = {
        "benchmark": "one training step of a 2-qubit EstimatorQNN on FakeManilaV2",
        "shots": SHOTS,
        "results": results,
        "target": "qnn_torch one-job mode: exactly 1 primitive job per step",
        "target_met": met,
        "versions": versions(),
        "machine": f"{platform.machine()}, {platform.python_version()}",
    }
    text = render(results, met, args.repeat, args.stock_repeat)
    print(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    out.with_suffix(".txt").write_text(text)
    print(f"written to {out.with_suffix('.json')} and {out.with_suffix('.txt')}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
