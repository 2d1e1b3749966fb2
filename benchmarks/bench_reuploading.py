"""Data re-uploading with trainable input scaling, side by side: qnn_torch against
qiskit-machine-learning 0.9, PennyLane's ``TorchLayer`` and qiskit-torch-module 1.0.1 (issue #12).

The circuit is qiskit-torch-module's benchmark circuit (``benchmarks/_reuploading.py``: H layer;
per layer RZ/RY variational rotations, a CX ring, RY/RZ encodings scaled by trainable weights; a
final variational layer; ``<Z_q>`` on every qubit), depth 3, batch 48. One step is what that
project's ``examples/benchmark.py`` times: the forward pass of a batch of ``torch.rand`` inputs,
``loss = mean(sum(outputs, dim=1))``, and ``loss.backward()``. As there, the inputs do not require
gradients (qiskit-torch-module's ``encoding_gradients_flag`` and qiskit-machine-learning's
``input_gradients`` default to False), so a step differentiates the weights only;
``--input-gradients`` times the step with input gradients as well. The agreement check always
covers outputs, weight gradients and input gradients.

Contenders (each size of each one runs in its own fresh process, under ``--timeout``):

* ``qnn_torch (Qiskit circuit)``: ``EstimatorQNN(circuit=qc, input_params=..., weight_params=...,
  observables=[Z_q], input_gradients=...)`` + ``TorchConnector``, default device, ``engine="auto"``
  (``--engines`` adds rows for other engines; ``all`` takes every name in
  ``qnn_torch.engines.ALIASES`` at run time);
* ``qnn_torch (PennyLane function)``: the same gates as ``circuit=fn(inputs, weights)``;
* ``qiskit-ml 0.9``: its ``EstimatorQNN`` (default estimator and gradient: parameter shift on the
  exact reference estimator) + its ``TorchConnector``;
* ``PennyLane lightning.qubit adjoint`` and ``PennyLane default.qubit backprop``: a ``QNode`` of the
  same gates in ``qml.qnn.TorchLayer``;
* ``qiskit-torch-module 1.0.1``: its ``QuantumModule`` with all its threads (reverse-mode
  gradients), run by ``bench_reuploading_qtm.py`` in a Python 3.12 environment (``--qtm-python``,
  default ``/work/venv312/bin/python``; see ``benchmarks/README.md``).

Every process: builds its model (``setup``), times the first step (``first call``), computes the
agreement check, and only if it passes times up to ``--repeats`` further steps (median reported;
fewer, but at least one, when they would take more than ``--step-budget`` seconds; none when not
even one fits in the time-out, and then the first call stands in for a step, marked as such).

The check compares, on fixed inputs and weights, the outputs ``(B, n)`` and the gradients of
``mean(sum(outputs))`` with respect to weights and inputs with a reference computed here first:
outputs by Qiskit's ``Statevector`` and gradients by PennyLane's ``default.qubit`` with adjoint
differentiation, both in float64 (the two outputs are checked against each other to 1e-10, which
also proves the PennyLane function is the Qiskit circuit). The tolerance is 1e-6; for contenders
whose torch modules work in float32 only (qiskit-machine-learning's and qiskit-torch-module's)
their own NumPy network API (``forward``/``backward``) is held to 1e-6 and the torch module to
``FLOAT32_ATOL``. (qiskit-torch-module's network API rounds to float32 too: its worker processes
return results in ``multiprocessing.Array('f')``; PennyLane's torch interface returns
``lightning.qubit``'s results as float32 even for float64 inputs; both stay far inside 1e-6.) A
contender that fails the check is reported as ``WRONG`` with no time and the script exits with
status 1.

A contender that times out at a size is reported ``timeout``, with a lower bound on its step time
(its first call, or how long that call ran before the kill), and is not run at larger sizes except
the sizes the targets name (12 qubits), where the bound still bounds the speed-up.

Usage::

    python benchmarks/bench_reuploading.py                      # 4..16 qubits, full run
    python benchmarks/bench_reuploading.py --quick              # 4 and 6 qubits, 2 repeats
    python benchmarks/bench_reuploading.py --qubits 12 --timeout 1200

Results: ``benchmarks/results/reuploading.txt`` and ``.json`` (``--out`` to change the stem).
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
    first_call,
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
)

DEPTH = 3
BATCH = 48
CHECK_BATCH = 3
SEED = 1234
ATOL = 1e-6
FLOAT32_ATOL = 2e-5
"""Tolerance for torch modules that compute in float32: outputs carry float32 rounding (6e-8
relative) and the weight gradient sums ``CHECK_BATCH * n`` such terms in float32."""

QTM_WORKER = Path(__file__).resolve().parent / "bench_reuploading_qtm.py"
DEFAULT_QTM_PYTHON = "/work/venv312/bin/python"

# the speed-up targets of issue #12 (qnn_torch with the Qiskit circuit, engine="auto")
TARGETS = [
    {"qubits": 12, "baseline": "qiskit-ml 0.9", "at_least": 100.0},
    {"qubits": 12, "baseline": "qiskit-torch-module 1.0.1", "at_least": 10.0},
    {"qubits": "all", "baseline": "PennyLane lightning.qubit adjoint", "at_least": 1.0},
    {"qubits": "all", "baseline": "PennyLane default.qubit backprop", "at_least": 1.0},
]
OURS = "qnn_torch[auto] (Qiskit circuit)"


# ---------------------------------------------------------------- data shared by all contenders


def check_data(n: int, depth: int):
    """Fixed check inputs ``(CHECK_BATCH, n)`` in [0, 1) and weights in [-1, 1), float64 values
    that float32 holds exactly (qiskit-torch-module casts to float32)."""
    import numpy as np

    from _reuploading import num_weights

    rng = np.random.default_rng(SEED + n)
    x = rng.uniform(0, 1, (CHECK_BATCH, n)).astype(np.float32).astype(np.float64)
    w = rng.uniform(-1, 1, sum(num_weights(n, depth))).astype(np.float32).astype(np.float64)
    return x, w


def timed_data(n: int, depth: int, batch: int):
    """The benchmark's inputs ``(batch, n)`` (``torch.rand``-like, float32) and weights (uniform in
    [-1, 1), as qiskit-torch-module's benchmark initialises them), the same for every contender."""
    import numpy as np

    from _reuploading import num_weights

    rng = np.random.default_rng(SEED + 1000 + n)
    return (rng.random((batch, n), dtype=np.float32),
            rng.uniform(-1, 1, sum(num_weights(n, depth))).astype(np.float32))


def reference(n: int, depth: int) -> dict:
    """Outputs by Qiskit's Statevector and gradients of mean(sum(outputs)) by PennyLane's
    default.qubit (adjoint), float64, on :func:`check_data`; the two outputs agree to 1e-10."""
    import numpy as np
    import pennylane as qml

    from _reuploading import observables, pennylane_function, qiskit_circuit

    x, w = check_data(n, depth)
    qc, xi, wi = qiskit_circuit(n, depth)
    out_qiskit = qiskit_outputs(qc, xi + wi, np.hstack([x, np.tile(w, (len(x), 1))]), observables(n))
    ref = pennylane_gradients(n, pennylane_function(n, depth),
                              lambda: [qml.expval(qml.Z(q)) for q in range(n)], x, w)
    err = float(np.max(np.abs(ref["outputs"] - out_qiskit)))
    if err > 1e-10:
        raise AssertionError(f"the PennyLane function and the Qiskit circuit differ by {err:.2e} at n={n}")
    return {**ref, "outputs": out_qiskit}


def gradients_from_jacobians(jac_x, jac_w, batch: int) -> dict:
    """Gradients of mean(sum(outputs)) from per-sample Jacobians ``(B, K, I)`` and ``(B, K, P)``."""
    import numpy as np

    return {"grad_inputs": np.asarray(jac_x).sum(axis=1) / batch,
            "grad_weights": np.asarray(jac_w).sum(axis=1).mean(axis=0)}


def torch_check(make_module, x, w, double: bool) -> dict:
    """Outputs and gradients of mean(sum(outputs)) of the torch module ``make_module(w)`` on ``x``."""
    import torch

    dtype = torch.float64 if double else torch.float32
    model = make_module(w)
    if double:
        model = model.double()
    xt = torch.tensor(x, dtype=dtype, requires_grad=True)
    out = model(xt)
    out.sum(1).mean().backward()
    params = [p for p in model.parameters() if p.requires_grad]
    grad_w = torch.cat([p.grad.reshape(-1) for p in params])
    return {"outputs": out.detach().double().numpy(), "grad_weights": grad_w.double().numpy(),
            "grad_inputs": xt.grad.double().numpy() if xt.grad is not None else None}


# ---------------------------------------------------------------- the contenders (Python 3.11 side)


def build(contender: str, n: int, depth: int, input_gradients: bool):
    """``(make_module(weights) -> torch.nn.Module, network_check(x, w) -> dict or None, double)``.

    ``network_check`` is the contender's own float64 network API for those whose torch module is
    float32 only; ``double`` says whether its torch module computes in float64 after ``.double()``.
    """
    import pennylane as qml
    import torch

    from _reuploading import num_weights, observables, pennylane_function, qiskit_circuit

    num_w = sum(num_weights(n, depth))
    if contender.startswith("qnn_torch["):
        from qnn_torch import EstimatorQNN, TorchConnector

        engine = contender[len("qnn_torch["):contender.index("]")]
        if contender.endswith("(Qiskit circuit)"):
            qc, xi, wi = qiskit_circuit(n, depth)

            def make(w, ig=input_gradients):
                qnn = EstimatorQNN(circuit=qc, input_params=xi, weight_params=wi, observables=observables(n),
                                   input_gradients=ig, engine=engine)
                return TorchConnector(qnn, initial_weights=w)
        else:
            fn = pennylane_function(n, depth)

            def make(w, ig=input_gradients):
                qnn = EstimatorQNN(n, circuit=fn, num_inputs=n, num_weights=num_w,
                                   observables=[qml.Z(q) for q in range(n)], input_gradients=ig,
                                   engine=engine)
                return TorchConnector(qnn, initial_weights=w)

        return make, None, True

    if contender == "qiskit-ml 0.9":
        from qiskit_machine_learning.connectors import TorchConnector as QkTorchConnector
        from qiskit_machine_learning.neural_networks import EstimatorQNN as QkEstimatorQNN

        qc, xi, wi = qiskit_circuit(n, depth)

        def network(ig):
            return QkEstimatorQNN(circuit=qc, observables=observables(n), input_params=xi, weight_params=wi,
                                input_gradients=ig)

        def make(w, ig=input_gradients):
            return QkTorchConnector(network(ig), initial_weights=w)

        def network_check(x, w):
            qnn = network(True)
            out = qnn.forward(x, w)
            jac_x, jac_w = qnn.backward(x, w)
            return {"outputs": out, **gradients_from_jacobians(jac_x, jac_w, len(x))}

        return make, network_check, False

    if contender.startswith("PennyLane "):
        device, diff_method = {"PennyLane lightning.qubit adjoint": ("lightning.qubit", "adjoint"),
                               "PennyLane default.qubit backprop": ("default.qubit", "backprop")}[contender]
        fn = pennylane_function(n, depth)

        def make(w, ig=input_gradients):
            @qml.qnode(qml.device(device, wires=n), diff_method=diff_method, interface="torch")
            def qnode(inputs, weights):
                fn(inputs, weights)
                return [qml.expval(qml.Z(q)) for q in range(n)]

            layer = qml.qnn.TorchLayer(qnode, {"weights": num_w})
            with torch.no_grad():
                layer.qnode_weights["weights"].copy_(torch.as_tensor(w))
            return layer

        return make, None, True

    raise ValueError(f"unknown contender {contender!r}")


def worker(spec: dict) -> int:
    """Measure one contender at one size (run in a fresh process); reports with :func:`emit`."""
    set_threads(spec.get("threads"))
    import numpy as np
    import torch

    n, depth, batch = spec["qubits"], spec["depth"], spec["batch"]
    record = {"contender": spec["contender"], "qubits": n, "batch": batch}
    make, network_check, double = build(spec["contender"], n, depth, spec["input_gradients"])
    ref = dict(np.load(spec["reference"]))
    x_np, w_np, x_c, w_c = (ref.pop(k) for k in ("x_timed", "w_timed", "x", "w"))

    start = time.perf_counter()
    model = make(torch.tensor(w_np))
    record["setup_s"] = time.perf_counter() - start
    x = torch.tensor(x_np, requires_grad=spec["input_gradients"])
    params = [p for p in model.parameters() if p.requires_grad]
    forward, backward = mean_sum_step(model, x, params)
    first_call(forward, backward, record, _START)

    checks = {"torch": check_agreement(torch_check(lambda w: make(torch.tensor(w), True), x_c, w_c, double),
                                       ref, ATOL if double else FLOAT32_ATOL)}
    if network_check is not None:
        checks["network"] = check_agreement(network_check(x_c, w_c), ref, ATOL)
    record["check"] = checks
    if not all(c["ok"] for c in checks.values()):
        emit({**record, "stage": "wrong"})
        return 1
    remaining = spec["budget_s"] - (time.perf_counter() - _START)
    first = record["first_call_s"] if record["first_call_s"] > remaining else None
    record.update(median_steps(forward, backward, spec["repeats"], min(spec["step_budget_s"], remaining),
                               first_s=first))
    if hasattr(model, "neural_network") and hasattr(model.neural_network, "engine"):
        record["engine_ran"] = model.neural_network.engine
    emit({**record, "stage": "done"})
    return 0


# ---------------------------------------------------------------- the parent


def contenders(engines: list[str], with_qtm: bool) -> list[str]:
    names = []
    for engine in engines:
        names += [f"qnn_torch[{engine}] (Qiskit circuit)", f"qnn_torch[{engine}] (PennyLane function)"]
    names += ["qiskit-ml 0.9", "PennyLane lightning.qubit adjoint", "PennyLane default.qubit backprop"]
    if with_qtm:
        names.append("qiskit-torch-module 1.0.1")
    return names


def engine_names(requested: str) -> list[str]:
    """``auto`` by default; ``all``: "auto" and every ``engine=`` value qnn_torch knows now."""
    if requested != "all":
        return [e.strip() for e in requested.split(",") if e.strip()]
    from qnn_torch.engines import ALIASES

    return ["auto", *ALIASES]


def summarise(result: dict, timeout: float) -> dict:
    """One table cell from a worker's run: status, seconds per step, first call, steps, check."""
    done = [r for r in result["records"] if r.get("stage") == "done"]
    first = [r for r in result["records"] if r.get("stage") == "first_call"]
    started = [r for r in result["records"] if r.get("stage") == "first_start"]
    wrong = [r for r in result["records"] if r.get("stage") == "wrong"]
    row = {"status": result["status"], "wall_s": result["wall_s"], "peak_rss_bytes": result["peak_rss_bytes"]}
    if done:
        row.update(done[-1])
        row["status"] = "ok"
    elif wrong:
        row.update(wrong[-1])
        row["status"] = "WRONG"
    else:
        if first:
            row.update(first[-1])
        if result["status"] == "timeout":
            row["note"] = f"timeout (> {timeout:.0f} s)"
            # a lower bound on one step: the first call itself, or the time it ran before the kill
            if first:
                row["step_lower_bound_s"] = first[-1]["first_call_s"]
                row["note"] += f"; the first call took {first[-1]['first_call_s']:.1f} s"
            elif started:
                row["step_lower_bound_s"] = timeout - started[-1]["started_s"] - 1.0
                row["note"] += f"; the first call ran {row['step_lower_bound_s']:.0f} s without finishing"
        elif result["status"] == "memory":
            row["note"] = "killed: memory limit"
        else:
            lines = [ln for ln in result["stderr_tail"].strip().splitlines() if ln.strip()]
            row["note"] = "error: " + (lines[-1] if lines else f"exit status {result['returncode']}")
            row["stderr_tail"] = result["stderr_tail"]
    row.pop("stage", None)
    return row


def ratios(rows: dict, sizes: list[int], ours: str) -> dict:
    """``{size: {contender: their seconds per step / ours}}``; a timed-out contender gives a lower
    bound (``>``): its first call's time, or how long that call ran before the time-out."""
    out = {}
    for n in sizes:
        mine = rows.get((ours, n), {})
        if mine.get("status") != "ok":
            continue
        out[n] = {}
        for (name, size), row in rows.items():
            if size != n or name == ours:
                continue
            if row.get("status") == "ok":
                out[n][name] = {"ratio": row["step_s"] / mine["step_s"], "bound": "="}
            elif row.get("status") == "timeout" and row.get("step_lower_bound_s"):
                out[n][name] = {"ratio": row["step_lower_bound_s"] / mine["step_s"], "bound": ">"}
    return out


def evaluate_targets(speedups: dict, sizes: list[int]) -> list[dict]:
    verdicts = []
    for target in TARGETS:
        checked = sizes if target["qubits"] == "all" else [target["qubits"]]
        for n in checked:
            r = speedups.get(n, {}).get(target["baseline"])
            if r is None:
                verdict = "not measured"
            elif r["ratio"] >= target["at_least"] and r["bound"] in ("=", ">"):
                verdict = "met"
            elif r["bound"] == ">":
                verdict = "unknown (baseline timed out sooner)"
            else:
                verdict = "missed"
            verdicts.append({"qubits": n, "baseline": target["baseline"], "at_least": target["at_least"],
                             "ratio": None if r is None else r["ratio"],
                             "bound": None if r is None else r["bound"],
                             "verdict": verdict})
    return verdicts


def render(rows: dict, names: list[str], sizes: list[int], speedups: dict, verdicts: list[dict],
           meta: dict) -> str:
    lines = [f"Data re-uploading with trainable input scaling, depth {meta['depth']}, batch {meta['batch']}: "
             f"seconds per step (forward + backward of mean(sum(outputs)); "
             f"input gradients {'on' if meta['input_gradients'] else 'off'})",
             f"machine: {meta['machine'].get('cpus')} CPUs, Python {meta['machine'].get('python')}, "
             f"torch {meta['machine'].get('torch')}, qnn_torch {meta['machine'].get('qnn_torch')}",
             f"timeout {meta['timeout_s']:.0f} s per contender and size; "
             f"median of up to {meta['repeats']} steps after the first call", ""] + load_warning(meta)
    width = max(len(n) for n in names) + 2
    header = f"{'contender':{width}s}" + "".join(f"{f'{n} qubits':>16s}" for n in sizes)
    for title, key in [("median seconds per step", "step_s"), ("first call (fresh process)", "first_call_s")]:
        lines += [f"== {title} ==", header]
        for name in names:
            cells = []
            for n in sizes:
                row = rows.get((name, n))
                if row is None:
                    cells.append("-")
                elif row["status"] == "ok" or (key == "first_call_s" and key in row):
                    star = "*" if key == "step_s" and row.get("steps") == 0 else ""
                    cells.append(format_seconds(row.get(key)) + star)
                elif row["status"] == "WRONG":
                    cells.append("WRONG")
                elif row["status"] == "timeout" and key == "step_s" and row.get("step_lower_bound_s"):
                    cells.append(f">{row['step_lower_bound_s']:.0f} s")
                elif row["status"] == "timeout":
                    cells.append("timeout")
                elif row["status"] == "skipped":
                    cells.append("skipped")
                else:
                    cells.append(row["status"])
            lines.append(f"{name:{width}s}" + "".join(f"{c:>16s}" for c in cells))
        lines.append("")
    if any(row.get("steps") == 0 for row in rows.values()):
        lines += ["* the first call stands in for a step: not even one more step fitted in the time-out", ""]
    lines += [f"== speed-up of {OURS} (their time / ours; '>' where they timed out) ==", header]
    for name in names:
        if name == OURS:
            continue
        cells = []
        for n in sizes:
            r = speedups.get(n, {}).get(name)
            cells.append("-" if r is None else f"{'>' if r['bound'] == '>' else ''}{r['ratio']:.1f}x")
        lines.append(f"{name:{width}s}" + "".join(f"{c:>16s}" for c in cells))
    lines += ["", "== targets of issue #12 =="]
    for v in verdicts:
        ratio = "-" if v["ratio"] is None else f"{'>' if v['bound'] == '>' else ''}{v['ratio']:.1f}x"
        lines.append(f"  {v['qubits']:>2} qubits vs {v['baseline']:34s} at least {v['at_least']:g}x: "
                     f"{ratio:>10s}  {v['verdict']}")
    notes = [(name, n, row) for (name, n), row in rows.items() if row.get("note") or row["status"] == "WRONG"]
    if notes:
        lines += ["", "== notes =="]
        for name, n, row in notes:
            note = row.get("note") or f"check failed: {json.dumps(row.get('check'))}"
            lines.append(f"  {name} at {n} qubits: {note}")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--qubits", default="4,6,8,10,12,14,16",
                        help="comma-separated sizes (default 4..16, even)")
    parser.add_argument("--depth", type=int, default=DEPTH)
    parser.add_argument("--batch", type=int, default=BATCH)
    parser.add_argument("--repeats", type=int, default=5, help="timed steps after the first call (median)")
    parser.add_argument("--step-budget", type=float, default=60.0,
                        help="seconds for the timed steps after the first call: fewer than --repeats steps "
                             "(at least one) when they would take longer (default 60)")
    parser.add_argument("--timeout", type=float, default=900.0,
                        help="seconds for one contender at one size, start-up included (default 900)")
    parser.add_argument("--quick", action="store_true", help="4 and 6 qubits, 2 repeats, timeout 300 s")
    parser.add_argument("--engines", default="auto",
                        help="qnn_torch engines, comma-separated, or 'all' (every engine= value at run time)")
    parser.add_argument("--contenders", default=None,
                        help="comma-separated subset of the contenders' names (default: all)")
    parser.add_argument("--input-gradients", action="store_true",
                        help="time steps with input gradients too (the published benchmark has none)")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for every contender (default: each library's own default)")
    parser.add_argument("--qtm-python", default=DEFAULT_QTM_PYTHON,
                        help="Python 3.12 interpreter with qiskit-torch-module 1.0.1 ('' to leave it out)")
    parser.add_argument("--memory-limit-gb", type=float, default=None,
                        help="kill a contender whose processes hold more (default: 60%% of available memory)")
    parser.add_argument("--out", default=None,
                        help="output path without extension (default results/reuploading; "
                             "results/reuploading-quick with --quick)")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker is not None:
        return worker(json.loads(args.worker))

    if args.out is None:
        args.out = str(RESULTS_DIR / ("reuploading-quick" if args.quick else "reuploading"))
    if args.quick:
        args.qubits = "4,6" if args.qubits == parser.get_default("qubits") else args.qubits
        args.repeats, args.timeout = 2, min(args.timeout, 300.0)
    sizes = sorted({int(q) for q in args.qubits.split(",")})
    with_qtm = bool(args.qtm_python) and Path(args.qtm_python).exists()
    names = contenders(engine_names(args.engines), with_qtm)
    if args.contenders:
        wanted = [c.strip() for c in args.contenders.split(",")]
        names = [n for n in names if n in wanted or n.split(" (")[0] in wanted]
    available = available_memory_bytes()
    memory_limit = (int(args.memory_limit_gb * 2**30) if args.memory_limit_gb
                    else (int(0.6 * available) if available else None))
    meta = {"depth": args.depth, "batch": args.batch, "repeats": args.repeats, "timeout_s": args.timeout,
            "input_gradients": args.input_gradients, "check_batch": CHECK_BATCH, "atol": ATOL,
            "float32_atol": FLOAT32_ATOL, "step_budget_s": args.step_budget,
            "memory_limit_bytes": memory_limit,
            "machine": machine_info()}
    if args.qtm_python and not with_qtm:
        meta["qtm_missing"] = f"{args.qtm_python} not found: qiskit-torch-module left out"
        print(meta["qtm_missing"], flush=True)
    env = thread_env(args.threads)
    rows: dict = {}
    dead: dict[str, int] = {}  # contender -> size at which it timed out or ran out of memory
    target_sizes = {t["qubits"] for t in TARGETS if t["qubits"] != "all"}  # measured even so
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            start = time.perf_counter()
            import numpy as np

            ref = reference(n, args.depth)
            x_c, w_c = check_data(n, args.depth)
            ref_path = str(Path(tmp) / f"reference_{n}.npz")
            x_t, w_t = timed_data(n, args.depth, args.batch)
            np.savez(ref_path, x=x_c, w=w_c, x_timed=x_t, w_timed=w_t, **ref)
            print(f"== {n} qubits (reference in {time.perf_counter() - start:.1f} s) ==", flush=True)
            for name in names:
                if name in dead and n not in target_sizes:
                    rows[(name, n)] = {"status": "skipped",
                                       "note": f"skipped: stopped at {dead[name]} qubits (timeout or memory)"}
                    continue
                spec = {"contender": name, "qubits": n, "depth": args.depth, "batch": args.batch,
                        "repeats": args.repeats, "input_gradients": args.input_gradients,
                        "reference": ref_path, "threads": args.threads,
                        "budget_s": 0.9 * args.timeout - 5, "step_budget_s": args.step_budget}
                if name.startswith("qiskit-torch-module"):
                    cmd = [args.qtm_python, str(QTM_WORKER), json.dumps(spec)]
                else:
                    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(spec)]
                result = run_worker(cmd, args.timeout, memory_limit, env=env)
                row = summarise(result, args.timeout)
                row["timeout_s"] = args.timeout
                rows[(name, n)] = row
                if row["status"] in ("timeout", "memory"):
                    dead[name] = n
                if row["status"] == "ok":
                    shown = (format_seconds(row["step_s"]) + f" per step ({row['steps']} steps), first call "
                             + format_seconds(row["first_call_s"]))
                else:
                    shown = row.get("note", "WRONG")
                print(f"  {name:42s} {shown}", flush=True)
    meta["load_average_end"] = load_average()
    speedups = ratios(rows, sizes, OURS)
    verdicts = evaluate_targets(speedups, sizes)
    text = render(rows, names, sizes, speedups, verdicts, meta)
    print("\n" + text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".txt").write_text(text)
    report = {"meta": meta, "contenders": names, "qubits": sizes,
              "rows": [{"contender": name, "qubits": n, **row} for (name, n), row in rows.items()],
              "speedups": {str(n): v for n, v in speedups.items()}, "targets": verdicts}
    out.with_suffix(".json").write_text(json.dumps(report, indent=1, default=float))
    print(f"wrote {out.with_suffix('.txt')} and {out.with_suffix('.json')}")
    return 1 if any(row["status"] == "WRONG" for row in rows.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
