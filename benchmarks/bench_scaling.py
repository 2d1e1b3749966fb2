"""Scaling with the register and the batch: every qnn_torch engine against PennyLane's simulators
and Qiskit Aer (issue #13).

The network is the tutorial's shape: ZZFeatureMap (reps=2, ``entanglement="linear"``) then
RealAmplitudes (reps=3, Qiskit's default ``reverse_linear`` entanglement), one observable
``Z^{\\otimes n}`` (qiskit-machine-learning's and qnn_torch's default). One step is a forward pass
of a batch of ``torch.rand`` inputs (float32, ``requires_grad=True``) and the backward pass of
``mean(sum(outputs))``: gradients for the inputs and the weights.

Contenders (discovered at run time; each size of each one runs in its own fresh process, all batch
sizes in turn, under ``--timeout``: :mod:`benchmarks.worker`):

* ``qnn_torch[<engine>]`` for every ``engine=`` value, ``"auto"`` first, ``EstimatorQNN`` +
  ``TorchConnector`` on ``default.qubit``; with a GPU also ``qnn_torch[<engine>] cuda`` (model and
  data moved with ``.to("cuda")``; a row fails when the outputs do not come back on the GPU);
* ``lightning.qubit adjoint``, ``lightning.kokkos adjoint`` (when installed), ``lightning.gpu
  adjoint`` (with a GPU, when installed) and ``default.qubit backprop`` (also on ``cuda`` with a
  GPU): a ``QNode`` of qnn_torch's templates (Qiskit's circuits gate for gate) in
  ``qml.qnn.TorchLayer``;
* ``aer EstimatorV2 forward``: Qiskit Aer's ``EstimatorV2`` (statevector, exact) on the Qiskit
  circuit, **forward pass only** (one PUB holding the whole batch): a lower bound for any Aer
  training step;
* ``aer EstimatorV2 + param-shift``: the same estimator in qiskit-machine-learning's
  ``EstimatorQNN`` with its ``ParamShiftEstimatorGradient`` on that estimator and
  ``input_gradients=True``, in its ``TorchConnector``: a full step as a Qiskit user gets it.

Measured per contender, size and batch: seconds per step (median of up to ``--repeats`` steps after
the first step at that batch size) and per sample; the first step at each batch size; and the
**first-call latency**, the first forward + backward in the fresh process (the first batch size
of ``--batches``, 1 by default), model construction reported apart. Before its timed steps every
process checks, on 2 fixed samples in float64, outputs and gradients against a reference (outputs
by Qiskit's ``Statevector``, gradients by PennyLane's ``default.qubit`` with adjoint
differentiation; the two outputs agree to 1e-10) to 1e-6; a failed check is reported ``WRONG``,
with no times, and the script exits with status 1.

A contender that times out, runs out of the memory limit or fails at a batch size is skipped at
that batch size (and larger ones) for larger registers; a batch size whose estimated time (the
previous batch size's time per sample) would overrun the remaining time is skipped ahead of time.
Each such cell says why.

Usage (from the repository root)::

    python -m benchmarks.bench_scaling                  # 4..20 qubits (even), batches 1, 8, 64
    python -m benchmarks.bench_scaling --quick          # 4, 6, 8 qubits; batches 1, 8
    python -m benchmarks.bench_scaling --qubits 12,16,20 --batches 8 --timeout 600

Results: ``benchmarks/results/scaling.txt``, ``.json`` and ``.png`` (``--out`` to change the stem).
"""

from __future__ import annotations

import argparse
import json
import sys
from functools import partial
from pathlib import Path

from .contender import (Contender, Model, check_agreement, engine_in, network_gradients, torch_gradients,
                        torch_layer)
from .internals import engine_values
from .process import stop_note
from .reference import check_data, reference
from .report import format_seconds, load_average, load_warning, table_row, write_report
from .scaling_network import FM_REPS, RA_REPS, num_weights, pennylane_body, qiskit_network, z_all
from .worker import Runner, add_arguments, command

CHECK_BATCH = 2
SEED = 4321
ATOL = 1e-6

# the targets of issue #13 (qnn_torch[auto] on the CPU)
OURS = "qnn_torch[auto]"
BASELINE = "lightning.qubit adjoint"


# ---------------------------------------------------------------- the data


def data(n: int, batches: list[int]) -> dict:
    """The data file of one size (:mod:`benchmarks.worker`): check samples, the reference on them
    (gradients by default.qubit's adjoint, Lightning's from 16 qubits), and the timed weights and
    inputs (``torch.rand``-like, float32) of each batch size."""
    import numpy as np
    import pennylane as qml

    x, w = check_data(SEED + n, CHECK_BATCH, n, num_weights(n))
    qc, xi, wi, obs = qiskit_network(n)
    # default.qubit's adjoint densifies the Z string from 16 qubits (64 GiB): Lightning's adjoint
    # there, its outputs checked against Qiskit's Statevector like default.qubit's (to about 2e-9 at 16)
    device = "default.qubit" if n <= 14 else "lightning.qubit"
    ref = reference((qc, xi, wi, [obs]), (pennylane_body(n), lambda: [qml.expval(z_all(n))]), x, w, device,
                    tolerance=1e-10 if device == "default.qubit" else 1e-8)
    rng = np.random.default_rng(SEED + 1000 + n)
    timed = {"timed_weights": rng.uniform(-1, 1, num_weights(n)).astype(np.float32)}
    timed.update({f"timed_inputs_{b}": rng.random((b, n), dtype=np.float32) for b in batches})
    return {**ref, "x": x, "w": w, **timed}


# ---------------------------------------------------------------- the contenders


class TorchContender(Contender):
    """A torch model, checked in float64 (``.double()``) on its device."""

    def check(self, x, w, reference: dict) -> dict:
        got = torch_gradients(self.setup(w), x, double=True, device=self.device)
        return check_agreement(got, reference, ATOL)


class QnnTorch(TorchContender):
    """``qnn_torch[<engine>]``: ``EstimatorQNN`` + ``TorchConnector`` on ``default.qubit``."""

    def setup(self, weights) -> Model:
        import torch

        from qnn_torch import EstimatorQNN, RealAmplitudes, TorchConnector, ZZFeatureMap

        feature_map = partial(ZZFeatureMap, reps=FM_REPS, entanglement="linear")
        qnn = EstimatorQNN(self.qubits, feature_map=feature_map, ansatz=partial(RealAmplitudes, reps=RA_REPS),
                           engine=engine_in(self.name))
        return Model.of(TorchConnector(qnn, initial_weights=torch.as_tensor(weights)).to(self.device))


class PennyLaneLayer(TorchContender):
    """A QNode of qnn_torch's templates on a PennyLane device, in ``qml.qnn.TorchLayer``."""

    DEVICES = {"lightning.qubit adjoint": ("lightning.qubit", "adjoint"),
               "lightning.kokkos adjoint": ("lightning.kokkos", "adjoint"),
               "lightning.gpu adjoint": ("lightning.gpu", "adjoint"),
               "default.qubit backprop": ("default.qubit", "backprop"),
               "default.qubit backprop cuda": ("default.qubit", "backprop")}

    def setup(self, weights) -> Model:
        import pennylane as qml
        import torch

        body, n = pennylane_body(self.qubits), self.qubits
        # PennyLane 0.45's default.qubit makes its initial state on the CPU whatever the parameters'
        # device (its first PhaseShift then fails on CUDA angles): give it |0...0> on the GPU instead
        zero = None
        if self.device != "cpu":
            zero = torch.zeros(2**n, dtype=torch.complex128, device=self.device)
            zero[0] = 1

        def circuit(inputs, weights):
            if zero is not None:
                qml.StatePrep(zero, wires=range(n), validate_norm=False)
            body(inputs, weights)
            return qml.expval(z_all(n))

        layer = torch_layer(n, *self.DEVICES[self.name], circuit, weights, to=self.device)
        return Model(lambda x: layer(x).reshape(len(x), 1), layer)


class AerForward(Contender):
    """Aer's ``EstimatorV2`` on the Qiskit circuit, the whole batch in one PUB: forward only."""

    forward_only = True

    def setup(self, weights) -> Model:
        import numpy as np
        from qiskit_aer.primitives import EstimatorV2

        qc, xi, wi, obs = qiskit_network(self.qubits)
        estimator = EstimatorV2(options={"backend_options": {"method": "statevector"}})
        position = {p: i for i, p in enumerate(xi + wi)}
        order = [position[p] for p in qc.parameters]  # V2 primitives bind in circuit.parameters order
        weights = np.asarray(weights, dtype=np.float64)

        def forward(x):
            values = np.hstack([np.asarray(x, dtype=np.float64), np.tile(weights, (len(x), 1))])[:, order]
            return estimator.run([(qc, obs, values)]).result()[0].data.evs.reshape(-1, 1)

        return Model(forward, None)

    def check(self, x, w, reference: dict) -> dict:
        return check_agreement({"outputs": self.setup(w).call(x)}, reference, ATOL)


class AerParamShift(Contender):
    """qiskit-machine-learning's ``EstimatorQNN`` on Aer's ``EstimatorV2`` with its parameter-shift
    gradient, in its ``TorchConnector``; checked through its float64 network API (its torch
    module is float32)."""

    def setup(self, weights) -> Model:
        import torch
        from qiskit_aer.primitives import EstimatorV2
        from qiskit_machine_learning.connectors import TorchConnector
        from qiskit_machine_learning.gradients import ParamShiftEstimatorGradient
        from qiskit_machine_learning.neural_networks import EstimatorQNN

        qc, xi, wi, obs = qiskit_network(self.qubits)
        estimator = EstimatorV2(options={"backend_options": {"method": "statevector"}})
        # precision 0: Aer's EstimatorV2 adds Gaussian noise of that size otherwise
        qnn = EstimatorQNN(circuit=qc, observables=obs, input_params=xi, weight_params=wi,
                           estimator=estimator, gradient=ParamShiftEstimatorGradient(estimator=estimator),
                           input_gradients=True, default_precision=0.0)
        return Model.of(TorchConnector(qnn, initial_weights=torch.as_tensor(weights, dtype=torch.float32)))

    def check(self, x, w, reference: dict) -> dict:
        qnn = self.setup(w).module.neural_network
        return check_agreement(network_gradients(qnn.forward(x, w), *qnn.backward(x, w)), reference, ATOL)


def contender_named(spec: dict) -> Contender:
    """The contender of a worker's ``spec`` (a name ending in `` cuda`` runs on the GPU)."""
    name, n = spec["contender"], spec["qubits"]
    device = "cuda" if name.endswith(" cuda") else "cpu"
    if name.startswith("qnn_torch["):
        return QnnTorch(name, n, device)
    if name in PennyLaneLayer.DEVICES:
        return PennyLaneLayer(name, n, device)
    aer = {"aer EstimatorV2 forward": AerForward, "aer EstimatorV2 + param-shift": AerParamShift}
    return aer[name](name, n)


def discover(cuda: bool) -> tuple[list[str], dict]:
    """The contenders present here, and why the others are left out."""
    import pennylane as qml

    engines = engine_values()
    names = [f"qnn_torch[{e}]" for e in engines]
    absent = {}
    names.append("lightning.qubit adjoint")
    if "lightning.kokkos" in qml.plugin_devices:
        names.append("lightning.kokkos adjoint")
    else:
        absent["lightning.kokkos adjoint"] = "not installed (pip install pennylane-lightning-kokkos)"
    names.append("default.qubit backprop")
    names += ["aer EstimatorV2 forward", "aer EstimatorV2 + param-shift"]
    if cuda:
        names += [f"qnn_torch[{e}] cuda" for e in engines] + ["default.qubit backprop cuda"]
        if "lightning.gpu" in qml.plugin_devices:
            names.append("lightning.gpu adjoint")
        else:
            absent["lightning.gpu adjoint"] = "not installed (pip install pennylane-lightning-gpu)"
    else:
        absent["GPU rows"] = "torch.cuda.is_available() is False"
    return names, absent


# ---------------------------------------------------------------- the parent: one row per contender and size


def collect(result: dict, batches: list[int], timeout: float) -> dict:
    """``{batch: cell}`` and the process-level facts from one worker's run."""
    cells, setup, first_call, firsts = {}, None, None, {}
    for r in result["records"]:
        if r.get("stage") == "setup":
            setup = r["setup_s"]
        elif r.get("stage") in ("batch", "first_step"):
            if r["stage"] == "batch":
                cells[r["batch"]] = {k: v for k, v in r.items() if k != "stage"}
            else:
                firsts[r["batch"]] = r["first_s"]
            if "first_call_s" in r:
                first_call = r["first_call_s"]
    if result["status"] != "ok":
        why = stop_note(result, f"timeout (> {timeout:.0f} s in all)")
        unfinished(cells, firsts, batches, result["status"], why)
    return {"cells": cells, "setup_s": setup, "first_call_s": first_call, "wall_s": result["wall_s"],
            "peak_rss_bytes": result["peak_rss_bytes"], "status": result["status"],
            "stderr_tail": result["stderr_tail"] if result["status"] != "ok" else ""}


def unfinished(cells: dict, firsts: dict, batches: list[int], status: str, why: str) -> None:
    """The cells of a worker that stopped: the batch size it was running, and those never started."""
    reported = any(c.get("status") in ("error", "WRONG") for c in cells.values())
    for b in batches:
        if b not in cells and not reported:  # the batch it was running; the larger ones never started
            cells[b] = {"batch": b, "status": status, "note": why}
            if b in firsts:
                cells[b].update(first_s=firsts[b], note=f"{why}, after a first step of {firsts[b]:.1f} s")
            break
    for b in batches:
        cells.setdefault(b, {"batch": b, "status": "not run", "note": f"not run: {why}"})


def measure_row(runner: Runner, name: str, n: int, path: str, batches: list[int], dead: dict) -> dict:
    """Contender ``name`` at ``n`` qubits, at the batch sizes not ruled out by ``dead`` ({contender:
    {batch: why}}), which it updates; prints a line."""
    gone = dead.get(name, {})
    todo = [b for b in batches if b not in gone]
    skipped = {b: {"batch": b, "status": "skipped", "note": gone[b]} for b in batches if b in gone}
    if not todo:
        print(f"  {name:34s} skipped ({next(iter(gone.values()))})", flush=True)
        return {"cells": skipped}
    row = collect(runner.run(name, n, path, todo), todo, runner.args.timeout)
    row["cells"].update(skipped)
    shown = []
    for b in todo:
        c = row["cells"][b]
        if c["status"] == "ok":
            shown.append(f"b={b}: {format_seconds(c['per_sample_s'])}/sample")
            continue
        shown.append(f"b={b}: {c['status']}")
        for bb in batches:
            if bb >= b:
                dead.setdefault(name, {}).setdefault(bb, f"skipped: {c['status']} at {n} qubits, batch {b}")
    print(f"  {name:34s} first call {format_seconds(row['first_call_s'])}; " + ", ".join(shown), flush=True)
    return row


def evaluate_targets(rows: dict, sizes: list[int]) -> list[dict]:
    """Issue #13's targets on this run's numbers."""
    verdicts = []
    for n in [s for s in sizes if 12 <= s <= 20]:
        for b, factor in [(8, 2.0), (1, 1.0)]:
            ours, theirs = cell(rows, OURS, n, b), cell(rows, BASELINE, n, b)
            if ours.get("status") == "ok" and theirs.get("status") == "ok":
                ratio = theirs["per_sample_s"] / ours["per_sample_s"]
                verdict = "met" if ratio >= factor else "missed"
            else:
                ratio, verdict = None, "not measured"
            verdicts.append({"target": f"batch {b}, {n} qubits: at least {factor:g}x {BASELINE} per sample",
                             "ratio": ratio, "verdict": verdict})
    if 16 in sizes:
        first = rows.get((OURS, 16), {}).get("first_call_s")
        verdicts.append({"target": "first call at 16 qubits under 1 s", "value_s": first,
                         "verdict": "not measured" if first is None else "met" if first < 1.0 else "missed"})
    if 20 in sizes:
        c = cell(rows, OURS, 20, 64)
        verdicts.append({"target": "20 qubits, batch 64 runs (no out-of-memory)",
                         "verdict": "met" if c.get("status") == "ok"
                         else f"not met: {c.get('note', 'not run')}"})
    return verdicts


# ---------------------------------------------------------------- the report


def cell(rows: dict, name: str, n: int, batch: int) -> dict:
    return rows.get((name, n), {}).get("cells", {}).get(batch, {})


def show(c: dict) -> str:
    """A cell of the per-sample tables."""
    if not c:
        return "-"
    if c.get("status") == "ok":
        return format_seconds(c["per_sample_s"]) + ("*" if c.get("steps") == 0 else "")
    return {"timeout": "timeout", "memory": "mem", "WRONG": "WRONG", "skipped": "skip",
            "not run": "-"}.get(c.get("status"), "error")


def speedup(rows: dict, name: str, n: int, b: int) -> str:
    ours, theirs = cell(rows, OURS, n, b), cell(rows, name, n, b)
    ok = ours.get("status") == "ok" and theirs.get("status") == "ok"
    return f"{theirs['per_sample_s'] / ours['per_sample_s']:.2f}x" if ok else "-"


def render(rows: dict, names: list[str], sizes: list[int], batches: list[int], verdicts: list[dict],
           meta: dict) -> str:
    machine = meta["machine"]
    lines = [f"Scaling: ZZFeatureMap(reps={FM_REPS}, linear) + RealAmplitudes(reps={RA_REPS}), "
             "one observable Z^n; forward + backward of mean(sum(outputs)) with input gradients",
             f"machine: {machine.get('cpus')} CPUs, Python {machine.get('python')}, "
             f"torch {machine.get('torch')}, qnn_torch {machine.get('qnn_torch')}"
             + (f", GPU {machine['cuda_device']}" if machine.get("cuda_device") else ", no GPU")
             + f"; timeout {meta['timeout_s']:.0f} s per contender and size", ""] + load_warning(meta)
    width = max(len(n) for n in names) + 2
    header = f"{'contender':{width}s}" + "".join(f"{f'{n} q':>11s}" for n in sizes)
    for b in batches:
        lines += [f"== batch {b}: seconds per sample (median step / batch) ==", header]
        lines += [table_row(name, [show(cell(rows, name, n, b)) for n in sizes], width, 11) for name in names]
        lines.append("")
    if any(c.get("steps") == 0 for row in rows.values() for c in row.get("cells", {}).values()):
        lines += ["* the first step at that batch size stands in for the step time (no further step fitted)",
                  ""]
    lines += [f"== first-call latency: first forward + backward in a fresh process (batch {batches[0]}) ==",
              header]
    lines += [table_row(name, [format_seconds(rows.get((name, n), {}).get("first_call_s")) for n in sizes],
                        width, 11) for name in names]
    lines += ["", f"== {OURS} speed-up per sample over each contender (their time / ours) =="]
    for b in batches:
        lines += [f"-- batch {b}", header]
        lines += [table_row(name, [speedup(rows, name, n, b) for n in sizes], width, 11)
                  for name in names if name != OURS]
    return "\n".join(lines + targets_and_notes(rows, verdicts, meta)) + "\n"


def targets_and_notes(rows: dict, verdicts: list[dict], meta: dict) -> list[str]:
    lines = ["", "== targets of issue #13 =="]
    for v in verdicts:
        extra = f"{v['ratio']:.2f}x" if v.get("ratio") is not None else (
            format_seconds(v["value_s"]) if v.get("value_s") is not None else "")
        lines.append(f"  {v['target']:62s} {extra:>10s}  {v['verdict']}")
    lines += ["", "== notes =="]
    for name, why in meta["absent"].items():
        lines.append(f"  {name}: {why}")
    lines.append("  aer EstimatorV2 forward: forward pass only (no gradient); "
                 "the other rows are forward + backward")
    for (name, n), row in rows.items():
        for b, c in sorted(row.get("cells", {}).items()):
            if c.get("note") and c.get("status") != "not run":
                lines.append(f"  {name} at {n} qubits, batch {b}: {c['note']}")
            if c.get("status") == "WRONG":
                lines.append(f"  {name} at {n} qubits: check failed {json.dumps(c.get('check'))}")
    return lines


def save(rows: dict, names: list[str], sizes: list[int], batches: list[int], meta: dict, out: Path) -> str:
    """Write ``out.txt`` and ``out.json`` for ``sizes``; returns the text."""
    verdicts = evaluate_targets(rows, sizes)
    text = render(rows, names, sizes, batches, verdicts, meta)
    report = {"meta": meta, "contenders": names, "qubits": sizes, "batches": batches,
              "rows": [{"contender": name, "qubits": n, **{k: v for k, v in row.items() if k != "cells"},
                        "cells": [row["cells"][b] for b in sorted(row["cells"])]}
                       for (name, n), row in rows.items() if n in sizes],
              "targets": verdicts}
    write_report(out, text, report)
    return text


def plot_panel(ax, names: list[str], points) -> None:
    """One panel: a line per contender of ``points(name)`` ([(qubits, seconds)])."""
    for name in names:
        pts = points(name)
        if pts:
            ax.plot(*zip(*pts), marker="o", ms=3, label=name, lw=2.2 if name == OURS else 1.2)


def plot(rows: dict, names: list[str], sizes: list[int], batches: list[int], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = len(batches) + 1
    fig, axes = plt.subplots(1, panels, figsize=(4.2 * panels, 4.2), sharex=True)
    for ax, b in zip(axes, batches):
        plot_panel(ax, names, lambda name: [(n, cell(rows, name, n, b)["per_sample_s"]) for n in sizes
                                            if cell(rows, name, n, b).get("status") == "ok"])
        ax.set_title(f"batch {b}: seconds per sample")
    plot_panel(axes[-1], names, lambda name: [(n, rows[(name, n)]["first_call_s"]) for n in sizes
                                              if rows.get((name, n), {}).get("first_call_s") is not None])
    axes[-1].set_title(f"first call (fresh process, batch {batches[0]}), s")
    for ax in axes:
        ax.set_yscale("log")
        ax.set_xlabel("qubits")
        ax.grid(True, which="both", alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(4, len(labels)), fontsize=8, frameon=False)
    fig.suptitle(f"ZZFeatureMap(reps={FM_REPS}, linear) + RealAmplitudes(reps={RA_REPS}), Z^n: "
                 "forward + backward with input gradients")
    fig.tight_layout(rect=(0, 0.06 + 0.03 * ((len(labels) - 1) // 4), 1, 0.95))
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ---------------------------------------------------------------- the command


def arguments() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(parser, stem="scaling", qubits="4,6,8,10,12,14,16,18,20", step_budget=30.0, timeout=600.0,
                  quick=("4,6,8", 120.0, "4, 6, 8 qubits; batches 1 and 8; 2 repeats; 120 s"))
    parser.add_argument("--batches", default="1,8,64", help="comma-separated batch sizes (ascending)")
    parser.add_argument("--no-plot", action="store_true")
    return parser


def main(argv=None) -> int:
    return command(arguments(), argv, __spec__.name, contender_named, run)


def run(runner: Runner) -> int:
    """Every contender at every size and batch size, the report and the plot."""
    import torch

    args = runner.args
    if args.quick and args.batches == runner.parser.get_default("batches"):
        args.batches = "1,8"
    sizes, batches = runner.qubits, sorted({int(b) for b in args.batches.split(",")})
    names, absent = discover(torch.cuda.is_available())
    names = runner.selected(names)
    meta = runner.meta(fm_reps=FM_REPS, ra_reps=RA_REPS, check_batch=CHECK_BATCH, atol=ATOL, absent=absent)
    rows: dict = {}
    dead: dict[str, dict[int, str]] = {}  # contender -> {batch: why} for batches to skip from now on
    out = Path(args.out)
    for n, path in runner.sizes(lambda n: data(n, batches)):
        for name in names:
            rows[(name, n)] = measure_row(runner, name, n, path, batches, dead)
        # the sizes done so far, written now: a run cut short keeps its tables
        save(rows, names, [m for m in sizes if m <= n], batches, meta, out)
    meta["load_average_end"] = load_average()
    print("\n" + save(rows, names, sizes, batches, meta, out))
    written = [out.with_suffix(".txt"), out.with_suffix(".json")]
    if not args.no_plot:
        plot(rows, names, sizes, batches, out.with_suffix(".png"))
        written.append(out.with_suffix(".png"))
    print("wrote " + ", ".join(map(str, written)))
    wrong = any(c.get("status") == "WRONG" for row in rows.values() for c in row.get("cells", {}).values())
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
