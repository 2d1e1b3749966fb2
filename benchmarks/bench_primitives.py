"""One training step with a primitive passed in (``estimator=``, ``sampler=``), qnn_torch against
qiskit-machine-learning 0.9, interleaved: ``python -m benchmarks.bench_primitives [--repeats N]``.

The network: ``zz_feature_map(2)`` + ``real_amplitudes(2, reps=1)``, observable Z on both qubits
(a sampler: ``SamplerQNN``, the 4 probabilities), input gradients on, a batch of 8 through
``TorchConnector``, forward and backward. Each repeat times
qnn_torch then qiskit-ml on the same primitive; the medians go to ``results/primitives.txt``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch


def _primitives():
    from qiskit.primitives import StatevectorEstimator, StatevectorSampler
    from qiskit_aer.primitives import EstimatorV2 as AerEstimator
    from qiskit_ibm_runtime import EstimatorV2
    from qiskit_ibm_runtime.fake_provider import FakeManilaV2
    from qiskit_machine_learning.primitives import QMLEstimator

    backend = FakeManilaV2()
    return {
        "QMLEstimator() (exact)": (QMLEstimator, None),
        "StatevectorEstimator(seed=1)": (lambda: StatevectorEstimator(seed=1), None),
        "StatevectorEstimator(default_precision>0)": (
            lambda: StatevectorEstimator(default_precision=0.01, seed=np.random.default_rng(1)), None),
        "StatevectorSampler(seed=1) (SamplerQNN)": (lambda: StatevectorSampler(seed=1), None),
        "qiskit_aer EstimatorV2": (lambda: AerEstimator(options={"run_options": {"seed": 1}}), None),
        "runtime EstimatorV2(mode=FakeManilaV2)": (lambda: EstimatorV2(mode=backend), backend),
    }


def _step(library: str, make, backend) -> float:
    from qiskit.circuit.library import real_amplitudes, zz_feature_map

    from qiskit.primitives import BaseSamplerV2

    if library == "qnn_torch":
        from qnn_torch import EstimatorQNN, SamplerQNN, TorchConnector
    else:
        from qiskit_machine_learning.connectors import TorchConnector
        from qiskit_machine_learning.neural_networks import EstimatorQNN, SamplerQNN
    features, ansatz = zz_feature_map(2), real_amplitudes(2, reps=1)
    circuit = features.compose(ansatz)
    extra = {}
    if backend is not None:
        from qiskit.transpiler.preset_passmanagers import generate_preset_pass_manager

        extra["pass_manager"] = generate_preset_pass_manager(backend=backend, optimization_level=1)
    primitive = make()
    if isinstance(primitive, BaseSamplerV2):
        extra["sampler"] = primitive
        network = SamplerQNN
    else:
        extra["estimator"] = primitive
        network = EstimatorQNN
    qnn = network(circuit=circuit, input_params=features.parameters, weight_params=ansatz.parameters,
                  input_gradients=True, **extra)
    model = TorchConnector(qnn, initial_weights=np.linspace(-1, 1, ansatz.num_parameters))
    x = torch.tensor(np.random.default_rng(0).uniform(-1, 1, (8, 2)), dtype=torch.float32, requires_grad=True)
    model(x).sum().backward()  # first call: conversions and transpilation, not timed
    start = time.perf_counter()
    model(x).sum().backward()
    return time.perf_counter() - start


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    lines = ["one training step (batch 8, forward + backward), median of "
             f"{args.repeats} interleaved repeats, seconds", "",
             f"{'primitive':42} {'qnn_torch':>10} {'qiskit-ml':>10} {'speed-up':>9}"]
    for name, (make, backend) in _primitives().items():
        ours, theirs = [], []
        for _ in range(args.repeats):
            ours.append(_step("qnn_torch", make, backend))
            theirs.append(_step("qiskit-ml", make, backend))
        a, b = statistics.median(ours), statistics.median(theirs)
        lines.append(f"{name:42} {a:10.4f} {b:10.4f} {b / a:8.1f}x")
        print(lines[-1], flush=True)
    out = Path(__file__).parent / "results" / "primitives.txt"
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
