"""Scaling with the register and the batch: every qnn_torch engine against PennyLane's simulators
and Qiskit Aer (issue #13).

The network is the tutorial's shape: ZZFeatureMap (reps=2, ``entanglement="linear"``) then
RealAmplitudes (reps=3, Qiskit's default ``reverse_linear`` entanglement), one observable
``Z^{\\otimes n}`` (qiskit-machine-learning's and qnn_torch's default). One step is a forward pass
of a batch of ``torch.rand`` inputs (float32, ``requires_grad=True``) and the backward pass of
``mean(sum(outputs))``: gradients for the inputs and the weights.

Contenders (discovered at run time; each size of each one runs in its own fresh process, all batch
sizes in turn, under ``--timeout``):

* ``qnn_torch[<engine>]`` for ``engine="auto"`` and every name in ``qnn_torch.engines.ALIASES``
  (the ``engine=`` values), ``EstimatorQNN`` + ``TorchConnector`` on ``default.qubit``; with a GPU
  also ``qnn_torch[<engine>] cuda`` (model and data moved with ``.to("cuda")``; a row fails when the
  outputs do not come back on the GPU);
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

Usage::

    python benchmarks/bench_scaling.py                  # 4..20 qubits (even), batches 1, 8, 64
    python benchmarks/bench_scaling.py --quick          # 4, 6, 8 qubits; batches 1, 8
    python benchmarks/bench_scaling.py --qubits 12,16,20 --batches 8 --timeout 600

Results: ``benchmarks/results/scaling.txt``, ``.json`` and ``.png`` (``--out`` to change the stem).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

_START = time.perf_counter()

# the qnn_torch of the checkout this script belongs to (as bench_tutorial.py), then its helpers
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench_common import (  # noqa: E402
    RESULTS_DIR,
    available_memory_bytes,
    check_agreement,
    emit,
    format_seconds,
    load_average,
    load_warning,
    machine_info,
    mean_sum_step,
    median_steps,
    pennylane_gradients,
    qiskit_outputs,
    run_worker,
    set_threads,
    thread_env,
    time_step,
)

CHECK_BATCH = 2
SEED = 4321
ATOL = 1e-6
FM_REPS, RA_REPS = 2, 3

# the targets of issue #13 (qnn_torch[auto] on the CPU)
OURS = "qnn_torch[auto]"
BASELINE = "lightning.qubit adjoint"


# ---------------------------------------------------------------- the network in each form


def num_weights(n: int) -> int:
    return n * (RA_REPS + 1)


def qiskit_network(n: int):
    """``(circuit, input_params, weight_params, observable)``: Qiskit's library circuits."""
    from qiskit import QuantumCircuit
    from qiskit.circuit.library import real_amplitudes, zz_feature_map
    from qiskit.quantum_info import SparsePauliOp

    fm = zz_feature_map(n, reps=FM_REPS, entanglement="linear")
    an = real_amplitudes(n, reps=RA_REPS)
    qc = QuantumCircuit(n)
    qc.compose(fm, inplace=True)
    qc.compose(an, inplace=True)
    return qc, list(fm.parameters), list(an.parameters), SparsePauliOp("Z" * n)


def pennylane_body(n: int):
    """``fn(inputs, weights)`` queuing qnn_torch's templates (Qiskit's circuits, gate for gate)."""
    from qnn_torch import RealAmplitudes, ZZFeatureMap

    def body(inputs, weights):
        ZZFeatureMap(inputs, wires=range(n), reps=FM_REPS, entanglement="linear")
        RealAmplitudes(weights, wires=range(n), reps=RA_REPS)

    return body


def z_all(n: int):
    import pennylane as qml

    return qml.prod(*[qml.Z(q) for q in range(n)])


def check_data(n: int):
    """Fixed check inputs ``(CHECK_BATCH, n)`` in [0, 1) and weights in [-1, 1): float64 values
    that float32 holds exactly (``TorchConnector`` and ``TorchLayer`` keep float32 weights)."""
    import numpy as np

    rng = np.random.default_rng(SEED + n)
    x = rng.uniform(0, 1, (CHECK_BATCH, n)).astype(np.float32).astype(np.float64)
    return x, rng.uniform(-1, 1, num_weights(n)).astype(np.float32).astype(np.float64)


def reference(n: int) -> dict:
    """Outputs by Qiskit's Statevector, gradients by PennyLane's default.qubit (adjoint; Lightning's
    adjoint from 16 qubits)."""
    import numpy as np
    import pennylane as qml

    x, w = check_data(n)
    qc, xi, wi, obs = qiskit_network(n)
    out_qiskit = qiskit_outputs(qc, xi + wi, np.hstack([x, np.tile(w, (len(x), 1))]), [obs])
    # default.qubit's adjoint densifies the Z string from 16 qubits (64 GiB): Lightning's adjoint
    # there, its outputs checked against Qiskit's Statevector below like default.qubit's
    device = "default.qubit" if n <= 14 else "lightning.qubit"
    ref = pennylane_gradients(n, pennylane_body(n), lambda: [qml.expval(z_all(n))], x, w, device)
    err = float(np.max(np.abs(ref["outputs"] - out_qiskit)))
    if err > (1e-10 if device == "default.qubit" else 1e-8):  # Lightning agrees to about 2e-9 at 16
        raise AssertionError(f"qnn_torch's templates and Qiskit's circuits differ by {err:.2e} at n={n}")
    return {**ref, "outputs": out_qiskit, "x": x, "w": w}


# ---------------------------------------------------------------- the contenders


class Contender:
    """One way to run the network: ``make(weights, device)`` gives a callable ``x -> (B, 1)``
    whose trainable tensors are ``params``; ``forward_only`` contenders have no backward."""

    forward_only = False

    def __init__(self, name: str, n: int):
        self.name, self.n = name, n
        # where the torch tensors live ("lightning.gpu" takes CPU tensors and computes on the GPU)
        self.device = "cuda" if name.endswith(" cuda") else "cpu"

    def make(self, w):  # -> torch.nn.Module or callable
        raise NotImplementedError


class Ours(Contender):
    def make(self, w):
        from functools import partial

        import torch

        from qnn_torch import EstimatorQNN, RealAmplitudes, TorchConnector, ZZFeatureMap

        engine = self.name[len("qnn_torch["):self.name.index("]")]
        qnn = EstimatorQNN(self.n, feature_map=partial(ZZFeatureMap, reps=FM_REPS, entanglement="linear"),
                           ansatz=partial(RealAmplitudes, reps=RA_REPS), engine=engine)
        model = TorchConnector(qnn, initial_weights=torch.as_tensor(w))
        return model.to(self.device)


class TorchLayerContender(Contender):
    DEVICES = {"lightning.qubit adjoint": ("lightning.qubit", "adjoint"),
               "lightning.kokkos adjoint": ("lightning.kokkos", "adjoint"),
               "lightning.gpu adjoint": ("lightning.gpu", "adjoint"),
               "default.qubit backprop": ("default.qubit", "backprop"),
               "default.qubit backprop cuda": ("default.qubit", "backprop")}

    def make(self, w):
        import pennylane as qml
        import torch

        device, diff_method = self.DEVICES[self.name]
        body, n = pennylane_body(self.n), self.n
        # PennyLane 0.45's default.qubit makes its initial state on the CPU whatever the parameters'
        # device (its first PhaseShift then fails on CUDA angles): give it |0...0> on the GPU instead
        zero = None
        if self.device != "cpu":
            zero = torch.zeros(2**n, dtype=torch.complex128, device=self.device)
            zero[0] = 1

        @qml.qnode(qml.device(device, wires=n), diff_method=diff_method, interface="torch")
        def qnode(inputs, weights):
            if zero is not None:
                qml.StatePrep(zero, wires=range(n), validate_norm=False)
            body(inputs, weights)
            return qml.expval(z_all(n))

        layer = qml.qnn.TorchLayer(qnode, {"weights": num_weights(n)})
        with torch.no_grad():
            layer.qnode_weights["weights"].copy_(torch.as_tensor(w))
        layer = layer.to(self.device)
        return lambda x: layer(x).reshape(len(x), 1), layer


class AerForward(Contender):
    forward_only = True

    def make(self, w):
        import numpy as np
        from qiskit_aer.primitives import EstimatorV2

        qc, xi, wi, obs = qiskit_network(self.n)
        estimator = EstimatorV2(options={"backend_options": {"method": "statevector"}})
        position = {p: i for i, p in enumerate(xi + wi)}
        order = [position[p] for p in qc.parameters]  # V2 primitives bind in circuit.parameters order
        weights = np.asarray(w, dtype=np.float64)

        def forward(x):
            values = np.hstack([np.asarray(x, dtype=np.float64), np.tile(weights, (len(x), 1))])[:, order]
            return estimator.run([(qc, obs, values)]).result()[0].data.evs.reshape(-1, 1)

        return forward, None


class AerParamShift(Contender):
    def make(self, w):
        import torch
        from qiskit_aer.primitives import EstimatorV2
        from qiskit_machine_learning.connectors import TorchConnector
        from qiskit_machine_learning.gradients import ParamShiftEstimatorGradient
        from qiskit_machine_learning.neural_networks import EstimatorQNN

        qc, xi, wi, obs = qiskit_network(self.n)
        estimator = EstimatorV2(options={"backend_options": {"method": "statevector"}})
        # precision 0: Aer's EstimatorV2 adds Gaussian noise of that size otherwise
        qnn = EstimatorQNN(circuit=qc, observables=obs, input_params=xi, weight_params=wi,
                           estimator=estimator, gradient=ParamShiftEstimatorGradient(estimator=estimator),
                           input_gradients=True, default_precision=0.0)
        return TorchConnector(qnn, initial_weights=torch.as_tensor(w, dtype=torch.float32))


def contender(name: str, n: int) -> Contender:
    if name.startswith("qnn_torch["):
        return Ours(name, n)
    if name in TorchLayerContender.DEVICES:
        return TorchLayerContender(name, n)
    kinds = {"aer EstimatorV2 forward": AerForward, "aer EstimatorV2 + param-shift": AerParamShift}
    return kinds[name](name, n)


def as_call(made):
    """``(call x -> outputs, module or None)`` from what :meth:`Contender.make` returned."""
    if isinstance(made, tuple):
        return made
    return made, made


# ---------------------------------------------------------------- the worker


def worker(spec: dict) -> int:
    """Measure one contender at one register size for each batch size (in a fresh process)."""
    set_threads(spec.get("threads"))
    import numpy as np
    import torch

    n = spec["qubits"]
    c = contender(spec["contender"], n)
    device = torch.device(c.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else None
    ref = dict(np.load(spec["reference"]))
    x_c, w_c = ref.pop("x"), ref.pop("w")
    rng = np.random.default_rng(SEED + 1000 + n)
    w = rng.uniform(-1, 1, num_weights(n)).astype(np.float32)

    start = time.perf_counter()
    call, module = as_call(c.make(w))
    emit({"stage": "setup", "setup_s": time.perf_counter() - start})
    params = [p for p in module.parameters() if p.requires_grad] if module is not None else []
    checked = False
    per_sample = None
    for i, batch in enumerate(spec["batches"]):
        record = {"stage": "batch", "batch": batch}
        remaining = spec["budget_s"] - (time.perf_counter() - _START)
        if per_sample is not None and 2 * per_sample * batch > remaining:
            emit({**record, "status": "skipped",
                  "note": f"skipped: estimated {per_sample * batch:.1f} s per step, {remaining:.0f} s left"})
            continue
        x_np = rng.random((batch, n), dtype=np.float32)
        if c.forward_only:
            x = x_np

            def forward(x=x):
                return call(x)

            def backward(out):
                return None
        else:
            forward, backward = mean_sum_step(call, torch.tensor(x_np, device=device, requires_grad=True), params)

        first_f, first_b = time_step(forward, backward, sync)
        record.update(first_s=first_f + first_b)
        if i == 0:
            record["first_call_s"] = first_f + first_b
        emit({**record, "stage": "batch_first"})
        if not c.forward_only:
            out = forward()
            if out.device.type != device.type:
                emit({**record, "status": "error",
                      "note": f"outputs on {out.device}, inputs on {device}: "
                              f"the model does not run on {device}"})
                return 1
        if not checked:
            record["check"] = check(c, call, module, x_c, w_c, ref, device)
            checked = True
            if not record["check"]["ok"]:
                emit({**record, "status": "WRONG"})
                return 1
        remaining = spec["budget_s"] - (time.perf_counter() - _START)
        budget = min(spec["step_budget_s"], remaining / (len(spec["batches"]) - i))
        record.update(median_steps(forward, backward, spec["repeats"], budget, sync,
                                   first_s=record["first_s"] if record["first_s"] > remaining else None))
        record["per_sample_s"] = record["step_s"] / batch
        per_sample = record["per_sample_s"]
        qnn = getattr(module, "neural_network", None)
        if qnn is not None and hasattr(qnn, "engine"):
            record["engine_ran"] = str(qnn.engine)
        emit({**record, "status": "ok"})
    return 0


def check(c: Contender, call, module, x_c, w_c, ref: dict, device) -> dict:
    """Outputs and gradients on the check samples in float64, against the reference."""
    import numpy as np
    import torch

    check_call, check_module = as_call(c.make(w_c))
    if c.forward_only:
        return check_agreement({"outputs": check_call(x_c)}, ref, ATOL)
    if isinstance(c, AerParamShift):  # its torch module is float32: check its float64 network API
        qnn = check_module.neural_network
        out = qnn.forward(x_c, w_c)
        jac_x, jac_w = qnn.backward(x_c, w_c)
        got = {"outputs": out, "grad_inputs": np.asarray(jac_x).sum(axis=1) / len(x_c),
               "grad_weights": np.asarray(jac_w).sum(axis=1).mean(axis=0)}
        return check_agreement(got, ref, ATOL)
    check_module.double()
    xt = torch.tensor(x_c, dtype=torch.float64, device=device, requires_grad=True)
    out = check_call(xt)
    out.sum(1).mean().backward()
    params = [p for p in check_module.parameters() if p.requires_grad]
    got = {"outputs": out.detach().double().cpu().numpy(), "grad_inputs": xt.grad.double().cpu().numpy(),
           "grad_weights": torch.cat([p.grad.reshape(-1) for p in params]).double().cpu().numpy()}
    return check_agreement(got, ref, ATOL)


# ---------------------------------------------------------------- the parent


def write_report(rows: dict, names: list[str], sizes: list[int], batches: list[int], meta: dict, out: Path) -> str:
    """Write ``out.txt`` and ``out.json`` for ``sizes``; returns the text."""
    verdicts = evaluate_targets(rows, sizes)
    text = render(rows, names, sizes, batches, verdicts, meta)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".txt").write_text(text)
    report = {"meta": meta, "contenders": names, "qubits": sizes, "batches": batches,
              "rows": [{"contender": name, "qubits": n, **{k: v for k, v in row.items() if k != "cells"},
                        "cells": [row["cells"][b] for b in sorted(row["cells"])]}
                       for (name, n), row in rows.items() if n in sizes],
              "targets": verdicts}
    out.with_suffix(".json").write_text(json.dumps(report, indent=1, default=float))
    return text


def discover(cuda: bool) -> tuple[list[str], dict]:
    """The contenders present here, and why the others are left out."""
    import pennylane as qml

    from qnn_torch.engines import ALIASES

    engines = ["auto", *ALIASES]
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


def collect(result: dict, batches: list[int], timeout: float) -> dict:
    """``{batch: cell}`` and the process-level facts from one worker's run."""
    cells, setup, first_call, firsts = {}, None, None, {}
    for r in result["records"]:
        if r.get("stage") == "setup":
            setup = r["setup_s"]
        elif r.get("stage") in ("batch", "batch_first"):
            if r["stage"] == "batch":
                cells[r["batch"]] = {k: v for k, v in r.items() if k != "stage"}
            else:
                firsts[r["batch"]] = r["first_s"]
            if "first_call_s" in r:
                first_call = r["first_call_s"]
    if result["status"] != "ok":
        why = {"timeout": f"timeout (> {timeout:.0f} s in all)",
               "memory": "killed: memory limit"}.get(result["status"])
        if why is None:
            lines = [ln for ln in result["stderr_tail"].strip().splitlines() if ln.strip()]
            why = "error: " + (lines[-1] if lines else f"exit status {result['returncode']}")
        reported = any(c.get("status") in ("error", "WRONG") for c in cells.values())
        for b in batches:
            if b not in cells and not reported:  # the batch it was running; the larger ones never started
                cells[b] = {"batch": b, "status": result["status"], "note": why}
                if b in firsts:
                    cells[b].update(first_s=firsts[b], note=f"{why}, after a first step of {firsts[b]:.1f} s")
                break
        for b in batches:
            cells.setdefault(b, {"batch": b, "status": "not run", "note": f"not run: {why}"})
    return {"cells": cells, "setup_s": setup, "first_call_s": first_call, "wall_s": result["wall_s"],
            "peak_rss_bytes": result["peak_rss_bytes"], "status": result["status"],
            "stderr_tail": result["stderr_tail"] if result["status"] != "ok" else ""}


def evaluate_targets(rows: dict, sizes: list[int]) -> list[dict]:
    """Issue #13's targets on this run's numbers."""
    def cell(name, n, b):
        return rows.get((name, n), {}).get("cells", {}).get(b, {})

    verdicts = []
    for n in [s for s in sizes if 12 <= s <= 20]:
        for b, factor in [(8, 2.0), (1, 1.0)]:
            ours, theirs = cell(OURS, n, b), cell(BASELINE, n, b)
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
        c = cell(OURS, 20, 64)
        verdicts.append({"target": "20 qubits, batch 64 runs (no out-of-memory)",
                         "verdict": "met" if c.get("status") == "ok"
                         else f"not met: {c.get('note', 'not run')}"})
    return verdicts


def render(rows: dict, names: list[str], sizes: list[int], batches: list[int], verdicts: list[dict],
           meta: dict) -> str:
    lines = [f"Scaling: ZZFeatureMap(reps={FM_REPS}, linear) + RealAmplitudes(reps={RA_REPS}), "
             "one observable Z^n; forward + backward of mean(sum(outputs)) with input gradients",
             f"machine: {meta['machine'].get('cpus')} CPUs, Python {meta['machine'].get('python')}, "
             f"torch {meta['machine'].get('torch')}, qnn_torch {meta['machine'].get('qnn_torch')}"
             + (f", GPU {meta['machine']['cuda_device']}" if meta["machine"].get("cuda_device")
                else ", no GPU")
             + f"; timeout {meta['timeout_s']:.0f} s per contender and size", ""] + load_warning(meta)
    width = max(len(n) for n in names) + 2
    header = f"{'contender':{width}s}" + "".join(f"{f'{n} q':>11s}" for n in sizes)

    def show(c):
        if not c:
            return "-"
        if c.get("status") == "ok":
            return None
        return {"timeout": "timeout", "memory": "mem", "WRONG": "WRONG", "skipped": "skip",
                "not run": "-"}.get(c.get("status"), "error")

    for b in batches:
        lines += [f"== batch {b}: seconds per sample (median step / batch) ==", header]
        for name in names:
            cells = []
            for n in sizes:
                c = rows.get((name, n), {}).get("cells", {}).get(b, {})
                star = "*" if c.get("steps") == 0 else ""
                cells.append(show(c) or format_seconds(c["per_sample_s"]) + star)
            lines.append(f"{name:{width}s}" + "".join(f"{x:>11s}" for x in cells))
        lines.append("")
    if any(c.get("steps") == 0 for row in rows.values() for c in row.get("cells", {}).values()):
        lines += ["* the first step at that batch size stands in for the step time (no further step fitted)",
                  ""]
    lines += [f"== first-call latency: first forward + backward in a fresh process (batch {batches[0]}) ==",
              header]
    for name in names:
        cells = [format_seconds(rows.get((name, n), {}).get("first_call_s")) for n in sizes]
        lines.append(f"{name:{width}s}" + "".join(f"{x:>11s}" for x in cells))
    lines += ["", f"== {OURS} speed-up per sample over each contender (their time / ours) =="]
    for b in batches:
        lines += [f"-- batch {b}", header]
        for name in names:
            if name == OURS:
                continue
            cells = []
            for n in sizes:
                ours = rows.get((OURS, n), {}).get("cells", {}).get(b, {})
                theirs = rows.get((name, n), {}).get("cells", {}).get(b, {})
                ok = ours.get("status") == "ok" and theirs.get("status") == "ok"
                cells.append(f"{theirs['per_sample_s'] / ours['per_sample_s']:.2f}x" if ok else "-")
            lines.append(f"{name:{width}s}" + "".join(f"{x:>11s}" for x in cells))
    lines += ["", "== targets of issue #13 =="]
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
    return "\n".join(lines) + "\n"


def plot(rows: dict, names: list[str], sizes: list[int], batches: list[int], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = len(batches) + 1
    fig, axes = plt.subplots(1, panels, figsize=(4.2 * panels, 4.2), sharex=True)
    for ax, b in zip(axes, batches):
        for name in names:
            pts = [(n, rows[(name, n)]["cells"][b]["per_sample_s"]) for n in sizes
                   if rows.get((name, n), {}).get("cells", {}).get(b, {}).get("status") == "ok"]
            if pts:
                ax.plot(*zip(*pts), marker="o", ms=3, label=name, lw=2.2 if name == OURS else 1.2)
        ax.set_title(f"batch {b}: seconds per sample")
    ax = axes[-1]
    for name in names:
        pts = [(n, rows[(name, n)]["first_call_s"]) for n in sizes
               if rows.get((name, n), {}).get("first_call_s") is not None]
        if pts:
            ax.plot(*zip(*pts), marker="o", ms=3, label=name, lw=2.2 if name == OURS else 1.2)
    ax.set_title(f"first call (fresh process, batch {batches[0]}), s")
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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--qubits", default="4,6,8,10,12,14,16,18,20", help="comma-separated sizes")
    parser.add_argument("--batches", default="1,8,64", help="comma-separated batch sizes (ascending)")
    parser.add_argument("--repeats", type=int, default=5, help="timed steps per batch size (median)")
    parser.add_argument("--step-budget", type=float, default=30.0,
                        help="seconds for the timed steps of one batch size (at least one step; default 30)")
    parser.add_argument("--timeout", type=float, default=600.0,
                        help="seconds for one contender at one size, all batch sizes (default 600)")
    parser.add_argument("--quick", action="store_true",
                        help="4, 6, 8 qubits; batches 1 and 8; 2 repeats; 120 s")
    parser.add_argument("--contenders", default=None, help="comma-separated subset of the contenders' names")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for every contender (default: the libraries' own)")
    parser.add_argument("--memory-limit-gb", type=float, default=None,
                        help="kill a contender whose processes hold more (default: 60%% of available memory)")
    parser.add_argument("--out", default=None,
                        help="output path without extension (default results/scaling; "
                             "results/scaling-quick with --quick)")
    parser.add_argument("--no-plot", action="store_true")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker is not None:
        return worker(json.loads(args.worker))

    import numpy as np
    import torch

    if args.out is None:
        args.out = str(RESULTS_DIR / ("scaling-quick" if args.quick else "scaling"))
    if args.quick:
        if args.qubits == parser.get_default("qubits"):
            args.qubits = "4,6,8"
        if args.batches == parser.get_default("batches"):
            args.batches = "1,8"
        args.repeats, args.timeout = 2, min(args.timeout, 120.0)
    sizes = sorted({int(q) for q in args.qubits.split(",")})
    batches = sorted({int(b) for b in args.batches.split(",")})
    names, absent = discover(torch.cuda.is_available())
    if args.contenders:
        wanted = {c.strip() for c in args.contenders.split(",")}
        names = [n for n in names if n in wanted]
    available = available_memory_bytes()
    memory_limit = (int(args.memory_limit_gb * 2**30) if args.memory_limit_gb
                    else (int(0.6 * available) if available else None))
    meta = {"fm_reps": FM_REPS, "ra_reps": RA_REPS, "repeats": args.repeats, "timeout_s": args.timeout,
            "step_budget_s": args.step_budget, "check_batch": CHECK_BATCH, "atol": ATOL,
            "memory_limit_bytes": memory_limit, "absent": absent, "machine": machine_info()}
    env = thread_env(args.threads)
    rows: dict = {}
    dead: dict[str, dict[int, str]] = {}  # contender -> {batch: why} for batches to skip from now on
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            start = time.perf_counter()
            ref_path = str(Path(tmp) / f"reference_{n}.npz")
            np.savez(ref_path, **reference(n))
            print(f"== {n} qubits (reference in {time.perf_counter() - start:.1f} s) ==", flush=True)
            for name in names:
                gone = dead.get(name, {})
                todo = [b for b in batches if b not in gone]
                skipped = {b: {"batch": b, "status": "skipped", "note": gone[b]}
                           for b in batches if b in gone}
                if not todo:
                    rows[(name, n)] = {"cells": skipped}
                    print(f"  {name:34s} skipped ({next(iter(gone.values()))})", flush=True)
                    continue
                spec = {"contender": name, "qubits": n, "batches": todo, "repeats": args.repeats,
                        "reference": ref_path, "threads": args.threads, "budget_s": 0.9 * args.timeout - 5,
                        "step_budget_s": args.step_budget}
                cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(spec)]
                row = collect(run_worker(cmd, args.timeout, memory_limit, env=env), todo, args.timeout)
                row["cells"].update(skipped)
                rows[(name, n)] = row
                shown = []
                for b in todo:
                    c = row["cells"][b]
                    if c["status"] == "ok":
                        shown.append(f"b={b}: {format_seconds(c['per_sample_s'])}/sample")
                    else:
                        shown.append(f"b={b}: {c['status']}")
                        if c["status"] in ("timeout", "memory", "error", "skipped", "not run", "WRONG"):
                            dead.setdefault(name, {})
                            for bb in batches:
                                if bb >= b:
                                    dead[name].setdefault(
                                        bb, f"skipped: {c['status']} at {n} qubits, batch {b}")
                print(f"  {name:34s} first call {format_seconds(row['first_call_s'])}; " + ", ".join(shown),
                      flush=True)
            # the sizes done so far, written now: a run cut short keeps its tables
            write_report(rows, names, [m for m in sizes if m <= n], batches, meta, Path(args.out))
    meta["load_average_end"] = load_average()
    out = Path(args.out)
    text = write_report(rows, names, sizes, batches, meta, out)
    print("\n" + text)
    written = [out.with_suffix(".txt"), out.with_suffix(".json")]
    if not args.no_plot:
        plot(rows, names, sizes, batches, out.with_suffix(".png"))
        written.append(out.with_suffix(".png"))
    print("wrote " + ", ".join(map(str, written)))
    wrong = any(c.get("status") == "WRONG" for row in rows.values() for c in row.get("cells", {}).values())
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
