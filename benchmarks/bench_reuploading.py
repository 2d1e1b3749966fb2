"""Data re-uploading with trainable input scaling, side by side: qnn_torch against
qiskit-machine-learning 0.9, PennyLane's ``TorchLayer`` and qiskit-torch-module 1.0.1 (issue #12).

The circuit is qiskit-torch-module's benchmark circuit (``benchmarks/reuploading_circuit.py``: H layer;
per layer RZ/RY variational rotations, a CX ring, RY/RZ encodings scaled by trainable weights; a
final variational layer; ``<Z_q>`` on every qubit), depth 3, batch 48. One step is what that
project's ``examples/benchmark.py`` times: the forward pass of a batch of ``torch.rand`` inputs,
``loss = mean(sum(outputs, dim=1))``, and ``loss.backward()``. As there, the inputs do not require
gradients (qiskit-torch-module's ``encoding_gradients_flag`` and qiskit-machine-learning's
``input_gradients`` default to False), so a step differentiates the weights only;
``--input-gradients`` times the step with input gradients as well. The agreement check always
covers outputs, weight gradients and input gradients.

Contenders (each size of each one runs in its own fresh process, under ``--timeout``:
:mod:`benchmarks.worker`):

* ``qnn_torch (Qiskit circuit)``: ``EstimatorQNN(circuit=qc, input_params=..., weight_params=...,
  observables=[Z_q], input_gradients=...)`` + ``TorchConnector``, default device, ``engine="auto"``
  (``--engines`` adds rows for other engines; ``all`` takes every ``engine=`` value at run
  time);
* ``qnn_torch (PennyLane function)``: the same gates as ``circuit=fn(inputs, weights)``;
* ``qiskit-ml 0.9``: its ``EstimatorQNN`` (default estimator and gradient: parameter shift on the
  exact reference estimator) + its ``TorchConnector``;
* ``PennyLane lightning.qubit adjoint`` and ``PennyLane default.qubit backprop``: a ``QNode`` of the
  same gates in ``qml.qnn.TorchLayer``;
* ``qiskit-torch-module 1.0.1``: its ``QuantumModule`` with all its threads (reverse-mode
  gradients), its worker run by a Python 3.12 interpreter (``--qtm-python``, default
  ``/work/venv312/bin/python``; see ``benchmarks/README.md``).

Every process builds its model (``setup``), times the first step (``first call``), runs the
agreement check, and only if it passes times up to ``--repeats`` further steps (median; fewer, at
least one, within ``--step-budget``; none when not even one fits in the time-out: the first call
then stands in for a step, marked as such).

The check holds, on fixed inputs and weights, the outputs ``(B, n)`` and the gradients of
``mean(sum(outputs))`` to the reference (:mod:`benchmarks.reference`; its two outputs agree to
1e-10, which also proves the PennyLane function is the Qiskit circuit) to 1e-6; torch modules
that work in float32 only (qiskit-machine-learning's and qiskit-torch-module's) to
``FLOAT32_ATOL``, and their own NumPy network API (``forward``/``backward``) to 1e-6.
(PennyLane's torch interface returns ``lightning.qubit``'s results as float32 even for float64
inputs, far inside 1e-6.) A contender that fails is reported ``WRONG`` with no time and the
script exits with status 1.

A contender that times out at a size is reported ``timeout``, with a lower bound on its step time
(its first call, or how long that call ran before the kill), and is not run at larger sizes except
the sizes the targets name (12 qubits), where the bound still bounds the speed-up.

Usage (from the repository root)::

    python -m benchmarks.bench_reuploading                      # 4..16 qubits, full run
    python -m benchmarks.bench_reuploading --quick              # 4 and 6 qubits, 2 repeats
    python -m benchmarks.bench_reuploading --qubits 12 --timeout 1200

Results: ``benchmarks/results/reuploading.txt`` and ``.json`` (``--out`` to change the stem).
"""

from __future__ import annotations

import argparse
import json
import sys
from abc import abstractmethod
from pathlib import Path

from .contender import (Contender, Model, check_agreement, engine_in, network_gradients, torch_gradients,
                        torch_layer)
from .internals import engine_values
from .process import stop_note
from .reference import check_data, reference
from .report import format_seconds, load_average, load_warning, table_row, write_report
from .reuploading_circuit import num_weights, observables, pennylane_function, qiskit_circuit
from .worker import Runner, add_arguments, command

DEPTH = 3
BATCH = 48
CHECK_BATCH = 3
SEED = 1234
ATOL = 1e-6
FLOAT32_ATOL = 2e-5
"""Tolerance for torch modules that compute in float32: outputs carry float32 rounding (6e-8
relative) and the weight gradient sums ``CHECK_BATCH * n`` such terms in float32."""

DEFAULT_QTM_PYTHON = "/work/venv312/bin/python"
QTM = "qiskit-torch-module 1.0.1"

# the speed-up targets of issue #12 (qnn_torch with the Qiskit circuit, engine="auto")
TARGETS = [
    {"qubits": 12, "baseline": "qiskit-ml 0.9", "at_least": 100.0},
    {"qubits": 12, "baseline": QTM, "at_least": 10.0},
    {"qubits": "all", "baseline": "PennyLane lightning.qubit adjoint", "at_least": 1.0},
    {"qubits": "all", "baseline": "PennyLane default.qubit backprop", "at_least": 1.0},
]
OURS = "qnn_torch[auto] (Qiskit circuit)"


def data(n: int, depth: int, batch: int) -> dict:
    """The data file of one size (:mod:`benchmarks.worker`): check samples, the reference on them,
    and the timed inputs (``torch.rand``-like, float32) and weights (uniform in [-1, 1), as
    qiskit-torch-module's benchmark initialises them), the same for every contender."""
    import numpy as np
    import pennylane as qml

    x, w = check_data(SEED + n, CHECK_BATCH, n, sum(num_weights(n, depth)))
    qc, xi, wi = qiskit_circuit(n, depth)

    def measure_all():
        return [qml.expval(qml.Z(q)) for q in range(n)]

    ref = reference((qc, xi, wi, observables(n)), (pennylane_function(n, depth), measure_all), x, w)
    rng = np.random.default_rng(SEED + 1000 + n)
    x_timed = rng.random((batch, n), dtype=np.float32)
    w_timed = rng.uniform(-1, 1, sum(num_weights(n, depth))).astype(np.float32)
    return {**ref, "x": x, "w": w, f"timed_inputs_{batch}": x_timed, "timed_weights": w_timed}


# ---------------------------------------------------------------- the contenders


class ReuploadingContender(Contender):
    """A contender of this benchmark: :meth:`network` builds its torch module from the circuit
    (Qiskit's, or the PennyLane function: ``circuit_form``) that :meth:`prepare` builds untimed.

    The check holds the torch module (``"torch"``) to 1e-6 when it computes in float64 after
    ``.double()`` (``double``), to ``FLOAT32_ATOL`` otherwise, and then also the contender's own
    float64 network API (``"network"``, :meth:`network_gradients`) to 1e-6.
    """

    double = True
    circuit_form = staticmethod(qiskit_circuit)
    libraries = ("torch", "pennylane")

    def __init__(self, name: str, qubits: int, depth: int, input_gradients: bool):
        super().__init__(name, qubits)
        self.depth, self.input_gradients = depth, input_gradients

    def prepare(self) -> None:
        super().prepare()
        self.circuit = self.circuit_form(self.qubits, self.depth)

    @abstractmethod
    def network(self, weights, input_gradients: bool) -> Model:
        """The torch module with ``weights`` (a torch tensor), inputs differentiated or not."""

    def network_gradients(self, x, w) -> dict | None:
        """Outputs and gradients by the contender's own float64 network API (None: it has none)."""
        return None

    def setup(self, weights) -> Model:
        import torch

        return self.network(torch.tensor(weights), self.input_gradients)

    def check(self, x, w, reference: dict) -> dict:
        import torch

        got = torch_gradients(self.network(torch.tensor(w), True), x, double=self.double)
        checks = {"torch": check_agreement(got, reference, ATOL if self.double else FLOAT32_ATOL)}
        network = self.network_gradients(x, w)
        if network is not None:
            checks["network"] = check_agreement(network, reference, ATOL)
        return checks


class QnnTorchCircuit(ReuploadingContender):
    """``qnn_torch[<engine>] (Qiskit circuit)``: ``EstimatorQNN(circuit=qc, ...)`` and
    ``TorchConnector``."""

    libraries = ("torch", "pennylane", "qnn_torch")

    def network(self, weights, input_gradients: bool) -> Model:
        from qnn_torch import EstimatorQNN, TorchConnector

        qc, xi, wi = self.circuit
        qnn = EstimatorQNN(circuit=qc, input_params=xi, weight_params=wi, input_gradients=input_gradients,
                           observables=observables(self.qubits), engine=engine_in(self.name))
        return Model.of(TorchConnector(qnn, initial_weights=weights))


class QnnTorchFunction(ReuploadingContender):
    """``qnn_torch[<engine>] (PennyLane function)``: the same gates as ``circuit=fn(inputs,
    weights)``."""

    circuit_form = staticmethod(pennylane_function)
    libraries = ("torch", "pennylane", "qnn_torch")

    def network(self, weights, input_gradients: bool) -> Model:
        import pennylane as qml

        from qnn_torch import EstimatorQNN, TorchConnector

        n = self.qubits
        qnn = EstimatorQNN(n, circuit=self.circuit, num_inputs=n,
                           num_weights=sum(num_weights(n, self.depth)),
                           observables=[qml.Z(q) for q in range(n)], input_gradients=input_gradients,
                           engine=engine_in(self.name))
        return Model.of(TorchConnector(qnn, initial_weights=weights))


class QiskitML(ReuploadingContender):
    """``qiskit-ml 0.9``: its ``EstimatorQNN`` (default estimator and gradient: parameter shift on
    the exact reference estimator) + its ``TorchConnector`` (float32)."""

    double = False
    libraries = ("torch", "pennylane", "qiskit_machine_learning.connectors",
                 "qiskit_machine_learning.neural_networks")

    def qnn(self, input_gradients: bool):
        from qiskit_machine_learning.neural_networks import EstimatorQNN

        qc, xi, wi = self.circuit
        return EstimatorQNN(circuit=qc, observables=observables(self.qubits), input_params=xi,
                            weight_params=wi, input_gradients=input_gradients)

    def network(self, weights, input_gradients: bool) -> Model:
        from qiskit_machine_learning.connectors import TorchConnector

        return Model.of(TorchConnector(self.qnn(input_gradients), initial_weights=weights))

    def network_gradients(self, x, w) -> dict:
        qnn = self.qnn(True)
        return network_gradients(qnn.forward(x, w), *qnn.backward(x, w))


class PennyLaneLayer(ReuploadingContender):
    """``PennyLane <device> <diff_method>``: a QNode of the same gates in ``qml.qnn.TorchLayer``."""

    DEVICES = {"PennyLane lightning.qubit adjoint": ("lightning.qubit", "adjoint"),
               "PennyLane default.qubit backprop": ("default.qubit", "backprop")}
    circuit_form = staticmethod(pennylane_function)

    def network(self, weights, input_gradients: bool) -> Model:
        import pennylane as qml

        n, fn = self.qubits, self.circuit

        def circuit(inputs, weights):
            fn(inputs, weights)
            return [qml.expval(qml.Z(q)) for q in range(n)]

        return Model.of(torch_layer(n, *self.DEVICES[self.name], circuit, weights))


class QiskitTorchModule(ReuploadingContender):
    """qiskit-torch-module 1.0.1's ``QuantumModule`` as in its ``examples/benchmark.py`` (one
    weight set: variational then scaling weights), all CPU threads unless ``threads`` is given;
    its worker runs in a Python 3.12 environment (``--qtm-python``). Its torch module and its
    network API compute in float32 (its processes return results in ``multiprocessing.Array('f')``)."""

    double = False
    libraries = ("torch", "qiskit_torch_module")

    def __init__(self, name: str, qubits: int, depth: int, input_gradients: bool, threads: int | None):
        super().__init__(name, qubits, depth, input_gradients)
        self.threads = threads or 0  # 0: all available, the project's default

    def network(self, weights, input_gradients: bool) -> Model:
        import torch
        from qiskit_torch_module import QuantumModule

        qc, xi, wi = self.circuit
        model = QuantumModule(qc, encoding_params=xi, variational_params=wi,
                              observables=observables(self.qubits), num_threads_forward=self.threads,
                              num_threads_backward=self.threads, encoding_gradients_flag=input_gradients)
        with torch.no_grad():
            model.variational_[0].copy_(torch.as_tensor(weights, dtype=torch.float32))
        return Model.of(model)

    def network_gradients(self, x, w) -> dict:
        qnn = self.network(w, True).module.qnn
        jac_x, jac_w = qnn.backward(x, [w], encoding_gradients=True, variational_gradients=True)
        return network_gradients(qnn.forward(x, [w]), jac_x, jac_w)

    def facts(self, model: Model) -> dict:
        return {"threads": self.threads}


def contender_named(spec: dict) -> ReuploadingContender:
    """The contender of a worker's ``spec``."""
    name = spec["contender"]
    shape = (name, spec["qubits"], spec["depth"], spec["input_gradients"])
    if name == QTM:
        return QiskitTorchModule(*shape, spec.get("threads"))
    if name.startswith("qnn_torch["):
        return (QnnTorchCircuit if name.endswith("(Qiskit circuit)") else QnnTorchFunction)(*shape)
    if name == "qiskit-ml 0.9":
        return QiskitML(*shape)
    return PennyLaneLayer(*shape)


def contenders(engines: list[str], with_qtm: bool) -> list[str]:
    """The contenders' names: qnn_torch's for each engine and circuit form, then the others."""
    ours = [f"qnn_torch[{e}] ({form})" for e in engines for form in ("Qiskit circuit", "PennyLane function")]
    return ours + ["qiskit-ml 0.9", *PennyLaneLayer.DEVICES] + ([QTM] if with_qtm else [])


def engine_names(requested: str) -> list[str]:
    """``auto`` by default; ``all``: every ``engine=`` value qnn_torch knows now."""
    if requested != "all":
        return [e.strip() for e in requested.split(",") if e.strip()]
    return engine_values()


# ---------------------------------------------------------------- the parent: one row per contender and size


def summarise(result: dict, timeout: float) -> dict:
    """One table cell from a worker's run: status, seconds per step, first call, steps, check."""
    last = {r.get("stage"): r for r in result["records"]}  # the last record of each stage
    row = {"status": result["status"], "wall_s": result["wall_s"], "peak_rss_bytes": result["peak_rss_bytes"]}
    row.update(last.get("setup", {}))
    if "batch" in last:
        row.update(last["batch"])
    else:
        first, started = last.get("first_step"), last.get("first_start")
        row.update(first or {})
        row["note"] = stop_note(result, f"timeout (> {timeout:.0f} s)")
        if result["status"] == "timeout":
            # a lower bound on one step: the first call itself, or the time it ran before the kill
            if first:
                row["step_lower_bound_s"] = first["first_call_s"]
                row["note"] += f"; the first call took {first['first_call_s']:.1f} s"
            elif started:
                row["step_lower_bound_s"] = timeout - started["started_s"] - 1.0
                row["note"] += f"; the first call ran {row['step_lower_bound_s']:.0f} s without finishing"
        elif result["status"] != "memory":
            row["stderr_tail"] = result["stderr_tail"]
    row.pop("stage", None)
    return row


def measure_row(runner: Runner, name: str, n: int, path: str, dead: dict) -> dict:
    """Contender ``name`` at ``n`` qubits, unless it stopped at a smaller size (``dead``: {contender:
    size}, which it updates) and ``n`` is not a target's size; prints a line."""
    args = runner.args
    target_sizes = {t["qubits"] for t in TARGETS if t["qubits"] != "all"}  # measured even so
    if name in dead and n not in target_sizes:
        return {"status": "skipped", "note": f"skipped: stopped at {dead[name]} qubits (timeout or memory)"}
    result = runner.run(name, n, path, [args.batch], python=args.qtm_python if name == QTM else None,
                        depth=args.depth, input_gradients=args.input_gradients)
    row = {**summarise(result, args.timeout), "timeout_s": args.timeout}
    if row["status"] in ("timeout", "memory"):
        dead[name] = n
    if row["status"] == "ok":
        shown = (format_seconds(row["step_s"]) + f" per step ({row['steps']} steps), first call "
                 + format_seconds(row["first_call_s"]))
    else:
        shown = row.get("note", "WRONG")
    print(f"  {name:42s} {shown}", flush=True)
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


# ---------------------------------------------------------------- the report


def show(row: dict | None, key: str) -> str:
    """A cell of the ``step_s`` or ``first_call_s`` table."""
    if row is None:
        return "-"
    if row["status"] == "ok" or (key == "first_call_s" and key in row):
        return format_seconds(row.get(key)) + ("*" if key == "step_s" and row.get("steps") == 0 else "")
    if row["status"] == "timeout" and key == "step_s" and row.get("step_lower_bound_s"):
        return f">{row['step_lower_bound_s']:.0f} s"
    return row["status"]


def ratio_text(r: dict | None) -> str:
    """``12.3x``, ``>12.3x`` for a bound, ``-`` for none."""
    return "-" if r is None else f"{'>' if r['bound'] == '>' else ''}{r['ratio']:.1f}x"


def render(rows: dict, names: list[str], sizes: list[int], speedups: dict, verdicts: list[dict],
           meta: dict) -> str:
    machine = meta["machine"]
    lines = [f"Data re-uploading with trainable input scaling, depth {meta['depth']}, batch {meta['batch']}: "
             f"seconds per step (forward + backward of mean(sum(outputs)); "
             f"input gradients {'on' if meta['input_gradients'] else 'off'})",
             f"machine: {machine.get('cpus')} CPUs, Python {machine.get('python')}, "
             f"torch {machine.get('torch')}, qnn_torch {machine.get('qnn_torch')}",
             f"timeout {meta['timeout_s']:.0f} s per contender and size; "
             f"median of up to {meta['repeats']} steps after the first call", ""] + load_warning(meta)
    width = max(len(n) for n in names) + 2
    header = f"{'contender':{width}s}" + "".join(f"{f'{n} qubits':>16s}" for n in sizes)
    for title, key in [("median seconds per step", "step_s"), ("first call (fresh process)", "first_call_s")]:
        lines += [f"== {title} ==", header]
        lines += [table_row(name, [show(rows.get((name, n)), key) for n in sizes], width, 16)
                  for name in names]
        lines.append("")
    if any(row.get("steps") == 0 for row in rows.values()):
        lines += ["* the first call stands in for a step: not even one more step fitted in the time-out", ""]
    lines += [f"== speed-up of {OURS} (their time / ours; '>' where they timed out) ==", header]
    lines += [table_row(name, [ratio_text(speedups.get(n, {}).get(name)) for n in sizes], width, 16)
              for name in names if name != OURS]
    lines += ["", "== targets of issue #12 =="]
    for v in verdicts:
        lines.append(f"  {v['qubits']:>2} qubits vs {v['baseline']:34s} at least {v['at_least']:g}x: "
                     f"{ratio_text(v if v['ratio'] is not None else None):>10s}  {v['verdict']}")
    notes = [(name, n, row) for (name, n), row in rows.items() if row.get("note") or row["status"] == "WRONG"]
    if notes:
        lines += ["", "== notes =="]
        for name, n, row in notes:
            note = row.get("note") or f"check failed: {json.dumps(row.get('check'))}"
            lines.append(f"  {name} at {n} qubits: {note}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- the command


def arguments() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(parser, stem="reuploading", qubits="4,6,8,10,12,14,16", step_budget=60.0, timeout=900.0,
                  quick=("4,6", 300.0, "4 and 6 qubits, 2 repeats, timeout 300 s"))
    parser.add_argument("--depth", type=int, default=DEPTH)
    parser.add_argument("--batch", type=int, default=BATCH)
    parser.add_argument("--engines", default="auto",
                        help="qnn_torch engines, comma-separated, or 'all' (every engine= value at run time)")
    parser.add_argument("--input-gradients", action="store_true",
                        help="time steps with input gradients too (the published benchmark has none)")
    parser.add_argument("--qtm-python", default=DEFAULT_QTM_PYTHON,
                        help="Python 3.12 interpreter with qiskit-torch-module 1.0.1 ('' to leave it out)")
    return parser


def main(argv=None) -> int:
    return command(arguments(), argv, __spec__.name, contender_named, run)


def run(runner: Runner) -> int:
    """Every contender at every size, the speed-ups and the targets."""
    args = runner.args
    with_qtm = bool(args.qtm_python) and Path(args.qtm_python).exists()
    names = runner.selected(contenders(engine_names(args.engines), with_qtm), lambda n: [n, n.split(" (")[0]])
    meta = runner.meta(depth=args.depth, batch=args.batch, input_gradients=args.input_gradients,
                       check_batch=CHECK_BATCH, atol=ATOL, float32_atol=FLOAT32_ATOL)
    if args.qtm_python and not with_qtm:
        meta["qtm_missing"] = f"{args.qtm_python} not found: qiskit-torch-module left out"
        print(meta["qtm_missing"], flush=True)
    rows: dict = {}
    dead: dict[str, int] = {}  # contender -> size at which it timed out or ran out of memory
    for n, path in runner.sizes(lambda n: data(n, args.depth, args.batch)):
        for name in names:
            rows[(name, n)] = measure_row(runner, name, n, path, dead)
    meta["load_average_end"] = load_average()
    sizes = runner.qubits
    speedups = ratios(rows, sizes, OURS)
    verdicts = evaluate_targets(speedups, sizes)
    text = render(rows, names, sizes, speedups, verdicts, meta)
    print("\n" + text)
    report = {"meta": meta, "contenders": names, "qubits": sizes,
              "rows": [{"contender": name, "qubits": n, **row} for (name, n), row in rows.items()],
              "speedups": {str(n): v for n, v in speedups.items()}, "targets": verdicts}
    txt, js = write_report(Path(args.out), text, report)
    print(f"wrote {txt} and {js}")
    return 1 if any(row["status"] == "WRONG" for row in rows.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
