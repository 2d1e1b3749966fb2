"""The worker skeleton of the side-by-side benchmarks: every contender at every register size in a
fresh process, under a time-out and a memory limit, checked against the reference before it is
timed.

* The parent (:class:`Runner`) computes the reference data of each size once (:meth:`Runner.sizes`)
  and starts one worker per contender and size (:meth:`Runner.run`): ``python -m <benchmark>
  --worker SPEC`` in the repository root, killed at the time-out or the memory limit.
* The worker (:func:`measure`) drives its :class:`~benchmarks.contender.Contender`: preparation
  (not timed), setup, then for each batch size the first step, the agreement check (once, at the
  first batch size), and the timed steps, reporting each stage as it ends
  (:func:`benchmarks.process.emit`).

**Data.** The parent writes, for each size, a ``.npz`` file that the worker reads: the check
samples ``x`` and ``w``, the reference ``outputs``, ``grad_inputs`` and ``grad_weights`` on them,
and the timed data ``timed_weights`` and ``timed_inputs_<batch>`` for each batch size.

**Records** (``stage``): ``setup`` (``setup_s``); per batch size ``first_start`` (``started_s``,
seconds since the process started), ``first_step`` (``first_s``; at the first batch size also
``first_call_s``, ``first_forward_s`` and ``first_backward_s``), and ``batch``: the batch size's
cell, with ``status`` ``ok``, ``WRONG`` (the check failed), ``error`` (outputs on another device)
or ``skipped`` (it would not fit in the time left).

Standard library only at import time.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator

from .contender import Contender, passed
from .process import emit, exit_on_sigterm, memory_limit_bytes, run_worker, thread_env, worker_command
from .report import RESULTS_DIR, machine_info, package_version
from .timing import median_steps, time_step

__all__ = ["PROCESS_START", "Runner", "add_arguments", "command", "measure", "work"]

PROCESS_START = time.perf_counter()
"""float: when the worker's process imported the skeleton; its time budget counts from there."""

REFERENCE_KEYS = ("outputs", "grad_inputs", "grad_weights")
REFERENCE_LIBRARIES = ("qiskit", "pennylane", "pennylane_lightning")


# ---------------------------------------------------------------- in the worker


def work(spec: str, contender_of: Callable[[dict], Contender]) -> int:
    """A worker's entry point: :func:`measure` the contender ``contender_of(spec)`` of the
    ``--worker`` option's JSON ``spec``; returns the exit status."""
    spec = json.loads(spec)
    return measure(contender_of(spec), spec)


def measure(contender: Contender, spec: dict) -> int:
    """Measure ``contender`` at each batch size of ``spec`` and report each stage.

    Args:
        contender (Contender): what to measure.
        spec (dict): ``data`` (the ``.npz`` file of this size), ``batches``, ``repeats``,
            ``budget_s`` (seconds for the whole process), ``step_budget_s`` (seconds for the timed
            steps of one batch size), ``threads`` (None: the libraries' defaults).

    Returns:
        int: the exit status: 0, or 1 when the check failed or the outputs left the device.
    """
    _set_threads(spec.get("threads"))
    import numpy as np

    data = dict(np.load(spec["data"]))
    contender.prepare()
    start = time.perf_counter()
    model = contender.setup(data["timed_weights"])
    emit({"stage": "setup", "setup_s": time.perf_counter() - start})
    per_sample = None
    for i, batch in enumerate(spec["batches"]):
        record = {"batch": batch}
        remaining = _remaining(spec)
        if per_sample is not None and 2 * per_sample * batch > remaining:
            emit({"stage": "batch", **record, "status": "skipped",
                  "note": f"skipped: estimated {per_sample * batch:.1f} s per step, {remaining:.0f} s left"})
            continue
        forward, backward = contender.step(model, data[f"timed_inputs_{batch}"])
        failure = _first_step(contender, forward, backward, record, first=i == 0)
        if failure is None and i == 0:
            record["check"] = contender.check(data["x"], data["w"], {k: data[k] for k in REFERENCE_KEYS})
            failure = None if passed(record["check"]) else {"status": "WRONG"}
        if failure is not None:
            emit({"stage": "batch", **record, **failure})
            return 1
        remaining = _remaining(spec)
        budget = min(spec["step_budget_s"], remaining / (len(spec["batches"]) - i))
        record.update(median_steps(forward, backward, spec["repeats"], budget, _sync(contender),
                                   first_s=record["first_s"] if record["first_s"] > remaining else None))
        record["per_sample_s"] = per_sample = record["step_s"] / batch
        emit({"stage": "batch", **record, **contender.facts(model), "status": "ok"})
    return 0


def _first_step(contender: Contender, forward, backward, record: dict, first: bool) -> dict | None:
    """Time the first step at this batch size into ``record`` (and report it); an ``error``
    status when its outputs are not on the contender's device."""
    emit({"stage": "first_start", **record, "started_s": time.perf_counter() - PROCESS_START})
    first_f, first_b, out = time_step(forward, backward, _sync(contender))
    record["first_s"] = first_f + first_b
    if first:
        record.update(first_call_s=first_f + first_b, first_forward_s=first_f, first_backward_s=first_b)
    emit({"stage": "first_step", **record})
    if contender.forward_only or out.device.type == contender.device:
        return None
    return {"status": "error", "note": f"outputs on {out.device}, inputs on {contender.device}: "
                                       f"the model does not run on {contender.device}"}


def _remaining(spec: dict) -> float:
    """Seconds left of the process's budget."""
    return spec["budget_s"] - (time.perf_counter() - PROCESS_START)


def _sync(contender: Contender) -> Callable[[], None] | None:
    """What makes the clock wait for the contender's device (None on the CPU)."""
    if contender.device != "cuda":
        return None
    import torch

    return torch.cuda.synchronize


def _set_threads(threads: int | None) -> None:
    """Use ``threads`` CPU threads in this process (``None``: the libraries' defaults)."""
    if threads is None:
        return
    import torch

    torch.set_num_threads(threads)


# ---------------------------------------------------------------- in the parent


def add_arguments(parser: argparse.ArgumentParser, *, stem: str, qubits: str, step_budget: float,
                  timeout: float, quick: tuple[str, float, str]) -> None:
    """The options every side-by-side benchmark takes.

    Args:
        parser (argparse.ArgumentParser): the benchmark's command line.
        stem (str): its results' file name, in ``benchmarks/results``.
        qubits, step_budget, timeout: the defaults of ``--qubits``, ``--step-budget``, ``--timeout``.
        quick (tuple): ``(qubits, timeout, help)``: what ``--quick`` runs (also 2 repeats), and says.
    """
    parser.add_argument("--qubits", default=qubits, help=f"comma-separated sizes (default {qubits})")
    parser.add_argument("--repeats", type=int, default=5, help="timed steps per batch size (median)")
    parser.add_argument("--step-budget", type=float, default=step_budget,
                        help="seconds for the timed steps of one batch size: fewer than --repeats steps "
                             f"(at least one) when they would take longer (default {step_budget:g})")
    parser.add_argument("--timeout", type=float, default=timeout,
                        help=f"seconds for one contender at one size, start-up and all batch sizes included "
                             f"(default {timeout:g})")
    parser.add_argument("--quick", action="store_true", help=quick[2])
    parser.add_argument("--contenders", default=None,
                        help="comma-separated subset of the contenders' names (default: all)")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for every contender (default: each library's own default)")
    parser.add_argument("--memory-limit-gb", type=float, default=None,
                        help="kill a contender whose processes hold more (default: 60%% of available memory)")
    parser.add_argument("--reference-dir", default=None,
                        help="keep each size's reference data in this folder and read it from there "
                             "when it is already there (default: compute it for this run)")
    parser.add_argument("--out", default=None,
                        help=f"output path without extension (default results/{stem}; "
                             f"results/{stem}-quick with --quick)")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.set_defaults(stem=stem, quick_qubits=quick[0], quick_timeout=quick[1])


def command(parser: argparse.ArgumentParser, argv: list[str] | None, module: str,
            contender_of: Callable[[dict], Contender], parent: Callable[[Runner], int]) -> int:
    """A side-by-side benchmark's command: with ``--worker``, the worker (:func:`work`);
    otherwise ``parent(runner)``, which starts the workers of ``module`` and reports."""
    args = parser.parse_args(argv)
    if args.worker is not None:
        return work(args.worker, contender_of)
    exit_on_sigterm()
    return parent(Runner(module, parser, args))


class Runner:
    """Runs a benchmark's workers with the limits of its command line.

    Args:
        module (str): the benchmark's module (``benchmarks.bench_scaling``), which the workers run.
        parser (argparse.ArgumentParser): its command line (:func:`add_arguments`).
        args (argparse.Namespace): its options, ``--quick`` applied here: its sizes unless others
            were asked, 2 repeats, its time-out at the most.
    """

    def __init__(self, module: str, parser: argparse.ArgumentParser, args: argparse.Namespace):
        self.module, self.parser, self.args = module, parser, args
        self.memory_limit = memory_limit_bytes(args.memory_limit_gb)
        self.env = thread_env(args.threads)
        if args.out is None:
            args.out = str(RESULTS_DIR / (f"{args.stem}-quick" if args.quick else args.stem))
        if args.quick:
            if args.qubits == parser.get_default("qubits"):
                args.qubits = args.quick_qubits
            args.repeats, args.timeout = 2, min(args.timeout, args.quick_timeout)

    @property
    def qubits(self) -> list[int]:
        """The register sizes asked, ascending."""
        return sorted({int(q) for q in self.args.qubits.split(",")})

    def selected(self, names: list[str], aliases: Callable[[str], list[str]] = lambda name: [name]
                 ) -> list[str]:
        """The ``names`` that ``--contenders`` asks for (by one of their ``aliases``), all without it."""
        if not self.args.contenders:
            return names
        wanted = {c.strip() for c in self.args.contenders.split(",")}
        return [n for n in names if wanted.intersection(aliases(n))]

    def meta(self, **facts) -> dict:
        """The report's ``meta``: the benchmark's ``facts`` and the run's limits and machine."""
        return {**facts, "repeats": self.args.repeats, "timeout_s": self.args.timeout,
                "step_budget_s": self.args.step_budget, "memory_limit_bytes": self.memory_limit,
                "machine": machine_info()}

    def sizes(self, data: Callable[[int], dict]) -> Iterator[tuple[int, str]]:
        """Each register size with the path of its data file, written from ``data(size)``.

        With ``--reference-dir`` the files are kept there (``<stem>_<size>.npz``) and a file already
        there is read instead of computed: a reference computed once (Qiskit's ``Statevector`` takes
        minutes from 22 qubits) serves later runs and other machines. A kept file that no longer
        fits the benchmark fails loudly: its check reports ``WRONG``, or a batch's inputs are missing.
        """
        import numpy as np

        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(self.args.reference_dir or tmp).resolve()  # the workers run in the repository root
            folder.mkdir(parents=True, exist_ok=True)
            for n in self.qubits:
                start = time.perf_counter()
                path = folder / f"{self.args.stem}_{n}.npz"
                if self.args.reference_dir and path.exists():
                    with np.load(path) as kept:
                        about = str(kept["about"]) if "about" in kept else "no provenance"
                    print(f"== {n} qubits (reference read from {path}: {about}) ==", flush=True)
                else:
                    versions = ", ".join(f"{d} {package_version(d) or 'absent'}" for d in REFERENCE_LIBRARIES)
                    about = f"{self.module}, {n} qubits, computed {time.strftime('%Y-%m-%d')}, {versions}"
                    partial = path.with_name(f".{path.stem}.partial.npz")  # whole or absent, never half
                    np.savez(partial, **data(n), about=np.array(about))
                    os.replace(partial, path)
                    print(f"== {n} qubits (reference in {time.perf_counter() - start:.1f} s) ==", flush=True)
                yield n, str(path)

    def run(self, name: str, qubits: int, data: str, batches: list[int], python: str | None = None,
            **spec) -> dict:
        """One worker: contender ``name`` at ``qubits`` on the data file ``data``, run by
        ``python`` (by default this interpreter), with ``spec``'s further entries.

        Returns:
            dict: :func:`benchmarks.process.run_worker`'s result.
        """
        spec = {"contender": name, "qubits": qubits, "batches": batches, "repeats": self.args.repeats,
                "data": data, "threads": self.args.threads, "budget_s": 0.9 * self.args.timeout - 5,
                "step_budget_s": self.args.step_budget, **spec}
        cmd = worker_command(self.module, spec, python)
        return run_worker(cmd, self.args.timeout, self.memory_limit, env=self.env)
