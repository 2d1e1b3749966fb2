"""What single precision costs: outputs and Jacobians of ``precision="single"`` against double.

For the tutorial's four circuits and the tutorial's network shape at 12 qubits, the compiled
engine (the one that computes in complex64) runs a batch in both precisions; the script prints
the largest absolute error of the outputs, of the input Jacobians and of the weight Jacobians,
each also relative to the largest magnitude of the double-precision values, and the time per
sample of forward plus Jacobians in both precisions. Inputs and weights are uniform in
[-pi, pi] (the regression tutorial's input range, the widest of the tutorial's).

Usage::

    python -m benchmarks.bench_precision [--json benchmarks/results/precision.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from functools import partial

import numpy as np
import pennylane as qml
import torch

from qnn_torch import EstimatorQNN, RealAmplitudes, SamplerQNN, ZZFeatureMap, parity

from .internals import values_and_jacobians


def _regression(**kwargs):
    def block(params, wires):
        qml.RY(params[..., 0], wires=wires[0])

    return EstimatorQNN(1, feature_map=block, ansatz=block, num_inputs=1, num_weights=1, **kwargs)


CIRCUITS = {
    "classification-estimator (2 qubits)": lambda **k: EstimatorQNN(2, **k),
    "classification-sampler (2 qubits, parity)": lambda **k: SamplerQNN(2, interpret=parity, output_shape=2,
                                                                        **k),
    "regression (1 qubit)": _regression,
    "mnist-hybrid QNN (2 qubits, reps=1)": lambda **k: EstimatorQNN(2, ansatz=partial(RealAmplitudes, reps=1),
                                                                    **k),
    "12 qubits, ZZFeatureMap(linear) + RealAmplitudes(reps=3)": lambda **k: EstimatorQNN(
        12, feature_map=partial(ZZFeatureMap, entanglement="linear"), **k),
    "12 qubits, ZZFeatureMap(full) + RealAmplitudes(reps=3)": lambda **k: EstimatorQNN(12, **k),
}


KEYS = ("outputs", "input_jacobian", "weight_jacobian")


def _timed(qnn, x, w, repeats: int = 3) -> float:
    values_and_jacobians(qnn, x, w)  # traced on the first call
    start = time.perf_counter()
    for _ in range(repeats):
        values_and_jacobians(qnn, x, w)
    return (time.perf_counter() - start) / repeats / x.shape[0]


def measure(name: str, make, batch: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    double, single = make(engine="compiled"), make(engine="compiled", precision="single")
    x = torch.tensor(rng.uniform(-np.pi, np.pi, (batch, double.num_inputs)))
    w = torch.tensor(rng.uniform(-np.pi, np.pi, double.num_weights))
    out64, (jx64, jw64) = values_and_jacobians(double, x, w)
    out32, (jx32, jw32) = values_and_jacobians(single, x, w)
    row = {"circuit": name, "batch": batch}
    for key, a, b in zip(KEYS, (out32, jx32, jw32), (out64, jx64, jw64)):
        error = float((a.double() - b).abs().max())
        row[key] = {"max_abs_error": error, "relative": error / float(b.abs().max())}
    row["seconds_per_sample"] = {"double": _timed(double, x, w), "single": _timed(single, x, w)}
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="write the rows here")
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    rows = []
    print(f"{'circuit':58s} {'outputs':>9s} {'d/dx':>9s} {'d/dw':>9s}  (max abs error; relative)  "
          f"{'s/sample f64':>12s} {'f32':>8s}")
    for name, make in CIRCUITS.items():
        row = measure(name, make, args.batch)
        rows.append(row)
        cells = " ".join(f"{row[k]['max_abs_error']:9.1e}" for k in KEYS)
        relative = " ".join(f"{row[k]['relative']:.0e}" for k in KEYS)
        times = row["seconds_per_sample"]
        print(f"{name:58s} {cells}  ({relative})  {times['double']:12.2e} {times['single']:8.2e}", flush=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"machine": platform.platform(), "torch": torch.__version__,
                       "threads": torch.get_num_threads(), "rows": rows}, fh, indent=1)


if __name__ == "__main__":
    main()
