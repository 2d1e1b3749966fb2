"""Side-by-side speed of qnn_torch and qiskit-machine-learning on the tutorial's experiments.

Runs, in one process, the sections asked for (``--sections``, all by default):

1. ``parts``: the four tutorial parts with the seed's hyper-parameters on qnn_torch (default
   device) and on qiskit-machine-learning 0.9 (EstimatorQNN/SamplerQNN + TorchConnector, default
   primitives), printing seconds, the ratio and the final metric of each. The two mnist-hybrid
   runs take turns, an epoch each, each with its own random state, so that a slow spell of the
   machine falls on both;
2. ``step``: the mnist-hybrid training step next to the same CNN with the QNN replaced by
   Linear(2, 1);
3. ``batch``: forward + backward of the mnist-hybrid QNN (2 qubits, ZZFeatureMap +
   RealAmplitudes(reps=1), default device, ``engine="adjoint"``) at batch sizes 1 to 256, and how
   much lower the per-sample time is at the largest batch than at batch 1;
4. ``aer``: a mnist-hybrid epoch on exact Aer, pennylane-qiskit's ``qiskit.aer`` device against
   qnn_torch's.

Larger registers on every engine are measured by ``bench_scaling``, training steps on a fake IBM
backend by ``bench_hardware``.

Usage (from the repository root; needs the bench extra: ``pip install ".[bench]"``)::

    python -m benchmarks.bench_tutorial [--quick] [--sections parts,step] [--json results.json]

``--quick`` uses 1 mnist epoch, batch sizes 1, 16 and 256 and fewer Aer steps.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from functools import partial

import numpy as np
import torch
from torch import nn

warnings.filterwarnings("ignore", category=DeprecationWarning)


# ---------------------------------------------------------------- qiskit-machine-learning side


def qiskit_parts() -> dict:
    """The three LBFGS parts on qiskit-machine-learning; returns {part: (seconds, metric, losses)}."""
    from qiskit_machine_learning.connectors import TorchConnector
    from qiskit_machine_learning.neural_networks import EstimatorQNN, SamplerQNN

    from qnn_torch import parity
    from qnn_torch.data import tutorial_random
    from tests.qiskit_reference import ry_ry_circuit, zz_ra_circuit

    r = tutorial_random()
    X = torch.tensor(r.X, dtype=torch.float32)
    results = {}

    def lbfgs(model, loss_of):
        opt = torch.optim.LBFGS(model.parameters())
        losses = []

        def closure():
            opt.zero_grad()
            loss = loss_of()
            loss.backward()
            losses.append(loss.item())
            return loss

        opt.step(closure)
        return losses

    start = time.perf_counter()
    qc, xi, wi = zz_ra_circuit(2, 2, 3)
    model = TorchConnector(EstimatorQNN(circuit=qc, input_params=xi, weight_params=wi),
                           initial_weights=r.w_estimator)
    y = torch.tensor(r.y, dtype=torch.float32).reshape(-1, 1)
    losses = lbfgs(model, lambda: nn.MSELoss(reduction="sum")(model(X), y))
    with torch.no_grad():
        acc = float(np.mean(np.sign(model(X).numpy()[:, 0]) == r.y))
    results["classification-estimator"] = (time.perf_counter() - start, acc, losses)

    start = time.perf_counter()
    qc, xi, wi = zz_ra_circuit(2, 2, 1, "linear")
    qnn = SamplerQNN(circuit=qc, input_params=xi, weight_params=wi, interpret=parity, output_shape=2)
    model = TorchConnector(qnn, initial_weights=r.w_sampler)
    y01 = torch.tensor(r.y01)
    losses = lbfgs(model, lambda: nn.CrossEntropyLoss()(model(X), y01))
    with torch.no_grad():
        acc = float(np.mean(model(X).argmax(1).numpy() == r.y01))
    results["classification-sampler"] = (time.perf_counter() - start, acc, losses)

    start = time.perf_counter()
    qc, (px,), (pw,) = ry_ry_circuit()
    model = TorchConnector(EstimatorQNN(circuit=qc, input_params=[px], weight_params=[pw]),
                           initial_weights=r.w_regression)
    Xr, yr = torch.tensor(r.X_reg, dtype=torch.float32), torch.tensor(r.y_reg, dtype=torch.float32)
    losses = lbfgs(model, lambda: nn.MSELoss(reduction="sum")(model(Xr), yr))
    results["regression"] = (time.perf_counter() - start, losses[-1], losses)
    return results


def qiskit_mnist_model():
    """The hybrid CNN with qiskit-machine-learning's QNN and TorchConnector in the middle."""
    from qiskit_machine_learning.connectors import TorchConnector
    from qiskit_machine_learning.neural_networks import EstimatorQNN

    from qnn_torch.tutorial import HybridNet
    from tests.qiskit_reference import zz_ra_circuit

    qc, xi, wi = zz_ra_circuit(2, 2, 1)
    qnn = EstimatorQNN(circuit=qc, input_params=xi, weight_params=wi, input_gradients=True)
    return _swap_qnn(HybridNet, TorchConnector(qnn))


def _swap_qnn(net_cls, layer):
    from qnn_torch.tutorial import make_mnist_qnn

    net = net_cls(make_mnist_qnn())
    net.qnn = layer
    return net


class _MnistRun:
    """One side's mnist-hybrid run (the tutorial's loop), advanced one epoch at a time.

    Each run keeps its own torch random state and times only its own work, so two runs advanced
    in turn give exactly the numbers each gives alone, while slow spells of a shared machine fall
    on both sides alike.
    """

    def __init__(self, make_model):
        from torch.utils.data import DataLoader

        from qnn_torch.data import load_mnist01

        start = time.perf_counter()
        torch.manual_seed(42)
        split = load_mnist01("data", 100, 50)
        self.train = DataLoader(split.train, batch_size=1, shuffle=True)
        self.test = DataLoader(split.test, batch_size=1, shuffle=True)
        self.model = make_model()
        # the training loop of qnn_torch.tutorial, for both sides: foreach Adam, tiny_batch_mode()
        self.opt = torch.optim.Adam(self.model.parameters(), lr=1e-3, foreach=True)
        self.losses: list[float] = []
        self.rng = torch.get_rng_state()
        self.seconds = time.perf_counter() - start

    def _timed(self, work):
        from qnn_torch import tiny_batch_mode

        start = time.perf_counter()
        torch.set_rng_state(self.rng)
        with tiny_batch_mode():
            result = work()
        self.rng = torch.get_rng_state()
        self.seconds += time.perf_counter() - start
        return result

    def epoch(self) -> None:
        def work():
            self.model.train()
            total = []
            for data, target in self.train:
                self.opt.zero_grad(set_to_none=True)
                loss = nn.NLLLoss()(self.model(data), target)
                loss.backward()
                self.opt.step()
                total.append(loss.item())
            self.losses.append(sum(total) / len(total))

        self._timed(work)

    def finish(self) -> tuple[float, float, list[float]]:
        """``(seconds, test accuracy, epoch losses)``."""
        from qnn_torch.tutorial import evaluate_mnist

        accuracy, _ = self._timed(lambda: evaluate_mnist(self.model, self.test))
        return self.seconds, accuracy, self.losses


def mnist_side_by_side(epochs: int, makers: dict) -> dict:
    """Train each model of ``makers`` ({label: make_model}) for ``epochs``, an epoch of each in turn."""
    runs = {label: _MnistRun(make) for label, make in makers.items()}
    for _ in range(epochs):
        for run in runs.values():
            run.epoch()
    return {label: run.finish() for label, run in runs.items()}


# ---------------------------------------------------------------- qnn_torch side


def qnn_torch_parts() -> dict:
    """The three LBFGS parts on qnn_torch; returns {part: (seconds, metric, losses)}."""
    from qnn_torch import tutorial

    results = {}
    for name, run in [("classification-estimator", tutorial.run_classification_estimator),
                      ("classification-sampler", tutorial.run_classification_sampler),
                      ("regression", tutorial.run_regression)]:
        r = run()
        metric = r.accuracy if r.accuracy is not None else r.losses[-1]
        results[name] = (r.seconds, metric, r.losses)
    return results


# ---------------------------------------------------------------- the mnist-hybrid step, batches, Aer


def _warm_up():
    """Import and initialise both stacks once, so neither side pays it inside a timed part."""
    from qiskit_machine_learning.neural_networks import EstimatorQNN  # noqa: F401

    from qnn_torch import EstimatorQNN as Ours
    from qnn_torch import TorchConnector

    TorchConnector(Ours(2))(torch.zeros(1, 2)).sum().backward()


def _time(fn, repeat):
    """Seconds per call of ``fn`` over ``repeat`` calls (after one untimed warm-up call)."""
    fn()
    repeat = max(1, repeat)
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat


def mnist_step_cost(rounds=9, block=40) -> dict:
    """Seconds per training step of the hybrid model and of the same CNN with Linear(2, 1).

    The two models are timed in alternating blocks and the median block is kept, so that load
    changes on the machine affect both alike.
    """
    from qnn_torch import tiny_batch_mode
    from qnn_torch.tutorial import HybridNet, make_mnist_qnn

    data, target = torch.rand(1, 1, 28, 28), torch.tensor([1])
    steppers = {}
    for label, make in [("classical Linear(2, 1)", lambda: _swap_qnn(HybridNet, nn.Linear(2, 1))),
                        ("hybrid (qnn_torch QNN)", lambda: HybridNet(make_mnist_qnn()))]:
        torch.manual_seed(0)
        model = make()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3, foreach=True)

        def step(model=model, opt=opt):
            opt.zero_grad(set_to_none=True)
            nn.NLLLoss()(model(data), target).backward()
            opt.step()

        for _ in range(30):
            step()
        steppers[label] = step
    times = {label: [] for label in steppers}
    with tiny_batch_mode():  # as the tutorial trains
        for _ in range(rounds):
            for label, step in steppers.items():
                times[label].append(_time(step, block))
    return {label: float(np.median(t)) for label, t in times.items()}


def aer_epoch(steps_stock: int = 5, steps_ours: int = 20) -> dict:
    """Seconds per mnist-hybrid epoch (200 steps, extrapolated) on exact Aer: stock vs qnn_torch."""
    import pennylane as qml

    from qnn_torch.data import load_mnist01
    from qnn_torch.tutorial import HybridNet, make_mnist_qnn

    split = load_mnist01("data", 100, 50)
    out = {}
    for label, device, steps in [
        ("stock qiskit.aer (statevector)", lambda: qml.device("qiskit.aer", wires=2, method="statevector"),
         steps_stock),
        ("qnn_torch qiskit.aer", lambda: "qiskit.aer", steps_ours),
    ]:
        torch.manual_seed(0)
        model = HybridNet(make_mnist_qnn(device()))
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)

        def step(i):
            data, target = split.train[i]
            opt.zero_grad(set_to_none=True)
            nn.NLLLoss()(model(data.unsqueeze(0)), target.unsqueeze(0)).backward()
            opt.step()

        step(0)  # transpilation and set-up, once
        start = time.perf_counter()
        for i in range(steps):
            step(i + 1)
        per_step = (time.perf_counter() - start) / steps
        out[label] = {"seconds_per_step": per_step, "seconds_per_epoch": 200 * per_step, "steps_timed": steps}
        print(f"  {label:32s} {per_step * 1e3:8.1f} ms/step -> {200 * per_step:7.1f} s/epoch "
              f"(from {steps} steps)", flush=True)
    return out


def batch_gain(batches: list[int], budget_s: float = 2.0) -> tuple[list[dict], float]:
    """Forward+backward seconds per call of the mnist-hybrid QNN at each batch size, and the
    per-sample time at the smallest batch over that at the largest."""
    from qnn_torch import EstimatorQNN, RealAmplitudes, TorchConnector

    label, n = "default.qubit (adjoint, NumPy)", 2
    model = TorchConnector(EstimatorQNN(n, ansatz=partial(RealAmplitudes, reps=1), device="default.qubit",
                                        engine="adjoint"))
    rows = []
    for b in batches:
        x = torch.rand(b, n, requires_grad=True)

        def step():
            model.zero_grad()
            model(x).sum().backward()

        once = _time(step, 1)
        repeat = max(1, min(20, int(budget_s / max(once, 1e-4))))
        seconds = _time(step, repeat)
        rows.append({"path": label, "qubits": n, "batch": b, "seconds": seconds, "per_sample": seconds / b})
        print(f"  {label:34s} n={n:2d} batch={b:3d}: {seconds * 1e3:9.2f} ms/step "
              f"({seconds / b * 1e3:8.3f} ms/sample)", flush=True)
    per_sample = {r["batch"]: r["per_sample"] for r in rows}
    return rows, per_sample[min(per_sample)] / per_sample[max(per_sample)]


# ---------------------------------------------------------------- the sections


def parts_section(args: argparse.Namespace) -> dict:
    """The four tutorial parts on both libraries, side by side."""
    epochs = args.epochs or (1 if args.quick else 10)
    print(f"== tutorial parts (mnist {epochs} epochs) ==", flush=True)
    _warm_up()
    from qnn_torch.tutorial import HybridNet, make_mnist_qnn

    ours = qnn_torch_parts()
    theirs = {} if args.skip_qiskit else qiskit_parts()
    makers = {"ours": lambda: HybridNet(make_mnist_qnn())}
    if not args.skip_qiskit:
        makers["theirs"] = qiskit_mnist_model
    mnist = mnist_side_by_side(epochs, makers)  # interleaved by epoch
    ours["mnist-hybrid"] = mnist["ours"]
    if "theirs" in mnist:
        theirs["mnist-hybrid"] = mnist["theirs"]
    print(f"{'part':26s} {'qnn_torch s':>12s} {'qiskit-ml s':>12s} {'ratio':>7s}  metric (ours / qiskit-ml)")
    total_ours = total_theirs = 0.0
    table = []
    for part, (sec, metric, _) in ours.items():
        t_sec, t_metric, _ = theirs.get(part, (float("nan"), float("nan"), None))
        total_ours += sec
        total_theirs += t_sec
        table.append({"part": part, "qnn_torch_s": sec, "qiskit_ml_s": t_sec, "ratio": t_sec / sec,
                      "metric": metric, "qiskit_ml_metric": t_metric})
        print(f"{part:26s} {sec:12.2f} {t_sec:12.2f} {t_sec / sec:7.1f}  {metric:.4f} / {t_metric:.4f}")
    print(f"{'total':26s} {total_ours:12.2f} {total_theirs:12.2f} {total_theirs / total_ours:7.1f}")
    return {"parts": table, "total_ratio": total_theirs / total_ours}


def step_section(args: argparse.Namespace) -> dict:
    """The mnist-hybrid training step against the classical CNN's."""
    print("== mnist-hybrid step cost ==", flush=True)
    steps = mnist_step_cost()
    for label, sec in steps.items():
        print(f"  {label:26s} {sec * 1e3:7.2f} ms/step")
    ratio = steps["hybrid (qnn_torch QNN)"] / steps["classical Linear(2, 1)"]
    print(f"  hybrid / classical: {ratio:.2f}")
    return {"mnist_step": steps, "mnist_step_ratio": ratio}


def batch_section(args: argparse.Namespace) -> dict:
    """The mnist-hybrid QNN's per-sample cost by batch size."""
    print("== forward+backward by batch size ==", flush=True)
    rows, gain = batch_gain([1, 16, 256] if args.quick else [1, 4, 16, 64, 256])
    print(f"  default device, 2 qubits: per-sample time at batch {rows[-1]['batch']} is {gain:.1f}x lower "
          "than at batch 1")
    return {"scaling": rows, "batch_gain": gain}


def aer_section(args: argparse.Namespace) -> dict:
    """A mnist-hybrid epoch on exact Aer, both devices."""
    print("== mnist-hybrid on exact qiskit.aer ==")
    return {"aer_epoch": aer_epoch(2 if args.quick else 5, 5 if args.quick else 20)}


SECTIONS = {"parts": parts_section, "step": step_section, "batch": batch_section, "aer": aer_section}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 mnist epoch, 3 batch sizes, fewer Aer steps")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--skip-qiskit", action="store_true", help="only qnn_torch (no ratios)")
    parser.add_argument("--sections", default=",".join(SECTIONS),
                        help=f"comma-separated subset of {','.join(SECTIONS)}")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    asked = set(args.sections.split(","))
    report = {}
    for name, section in SECTIONS.items():
        if name in asked:
            report.update(section(args))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(report, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
