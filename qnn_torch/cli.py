"""The ``qnn-torch`` command (also ``python -m qnn_torch``).

qnn-torch tutorial runs the four experiments of the Torch Connector tutorial and reports
their numbers; qnn-torch evaluate runs a saved mnist-hybrid checkpoint on any device.
Bad arguments (including output paths and checkpoints, checked before any work starts) end
with one line on stderr and exit code 2. Ctrl-C and SIGTERM stop a run at once with one line
naming the checkpoint to resume from, and exit codes 130 and 143.

Both commands first ask MKL for its compatible code path
(:func:`~qnn_torch.use_reproducible_blas`), so that they print the same numbers on every x86-64
CPU; an ``MKL_CBWR`` set in the environment is respected. An interrupted run does not wait for
simulations still running in worker threads (Qiskit Aer's jobs): see :func:`run`.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import textwrap
import threading
import time
from pathlib import Path

# torch, PennyLane and the rest load after parsing: --help and --version answer at once

__all__ = ["STATUS_SECONDS", "main", "run"]

EXIT_USAGE = 2

STATUS_SECONDS = 5.0
"""float: the longest a running part stays silent: without progress bars (``--no-progress``, or
output that is not a terminal) a status line is printed at least this often, and a bar is
redrawn at least this often while a step takes long."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit code 2
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


class UsageError(Exception):
    """A bad argument found after parsing; reported in one line with exit code 2."""


def _parts(text: str) -> list[str]:
    from .tutorial import PARTS

    parts = [p.strip() for p in text.split(",") if p.strip()]
    unknown = [p for p in parts if p not in PARTS]
    if unknown or not parts:
        raise argparse.ArgumentTypeError(
            f"unknown part {', '.join(map(repr, unknown)) or repr(text)}; choose from {', '.join(PARTS)}"
        )
    return parts


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="qnn-torch", description=__doc__.split("\n\n")[1].replace("\n", " "))
    # (the paragraph is plain text: no reST markup in --help)
    from ._version import __version__

    parser.add_argument("--version", action="version", version=f"qnn-torch {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    tut = sub.add_parser("tutorial", help="run the tutorial's experiments and report their numbers")
    tut.add_argument("--parts", type=_parts, default=None,
                     help="comma-separated: classification-estimator,classification-sampler,regression,"
                          "mnist-hybrid")
    _device_args(tut)
    tut.add_argument("--epochs", type=_positive, default=10, help="mnist-hybrid epochs (default 10)")
    tut.add_argument("--out", type=Path, default=Path("qnn-torch-out"),
                     help="folder for the PNG plots and checkpoints (default ./qnn-torch-out)")
    tut.add_argument("--json", type=Path, default=None, help="also write the results as JSON here")
    tut.add_argument("--data-root", type=Path, default=Path("data"),
                     help="torchvision's MNIST root (default ./data)")
    tut.add_argument("--resume", action="store_true",
                     help="continue mnist-hybrid from the checkpoint in --out (written after every epoch)")
    tut.add_argument("--no-progress", action="store_true",
                     help=f"no progress bars: a status line at least every {STATUS_SECONDS:g} s instead")

    ev = sub.add_parser("evaluate", help="evaluate a mnist-hybrid checkpoint on a device")
    ev.add_argument("checkpoint", type=Path,
                    help="mnist-hybrid.pt, or the training checkpoint mnist-hybrid-train.pt, "
                         "written by `qnn-torch tutorial`")
    _device_args(ev)
    ev.add_argument("--data-root", type=Path, default=Path("data"),
                    help="torchvision's MNIST root (default ./data)")
    return parser


def _device_args(parser):
    parser.add_argument("--device", default="default.qubit",
                        help="default.qubit (default), lightning.qubit, qiskit.aer, fake:FakeManilaV2, "
                             "ibm:<backend>")
    parser.add_argument("--shots", type=_positive, default=None, help="shots (default: exact where possible)")


def _check_writable(folder: Path, option: str = "--out") -> None:
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{option} {folder} is not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".qnn-torch-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise UsageError(f"{option} {folder} is not writable: {err.strerror or err}") from None


def _check_json(path: Path) -> None:
    if path.is_dir():
        raise UsageError(f"--json {path} is a folder; give a file path such as {path / 'results.json'}")
    if path.exists() and not path.is_file():
        raise UsageError(f"--json {path} is not a regular file")
    parent = path.parent if str(path.parent) else Path(".")
    if parent.exists() and not parent.is_dir():
        raise UsageError(f"--json {path}: {parent} is not a folder")
    try:
        _check_writable(parent, "--json")
    except UsageError:
        raise UsageError(f"--json {path}: the folder {parent} is not writable") from None


def _check_resume(args) -> None:
    """With --resume, the training checkpoint (if there is one) must be one, with at most --epochs epochs."""
    from .checkpoint import CheckpointError
    from .training import load_checkpoint
    from .tutorial import TRAIN_CHECKPOINT

    if not args.resume or "mnist-hybrid" not in (args.parts or ("mnist-hybrid",)):
        return
    path = args.out / TRAIN_CHECKPOINT
    if not path.exists():
        return
    try:
        done = int(load_checkpoint(path)["epoch"])
    except CheckpointError as err:
        raise UsageError(f"--resume: {err}") from None
    if done > args.epochs:
        raise UsageError(f"--resume: checkpoint {path} already holds {done} epochs, more than --epochs "
                         f"{args.epochs}; pass --epochs {done} or more, or another --out to start afresh")


def _check_device(device: str, shots) -> None:
    from .devices import resolve_device

    try:
        resolve_device(device, 2, shots)
    except (ValueError, TypeError) as err:
        raise UsageError(f"--device: {err}") from None


class _Status:
    """The progress of one part: a tqdm bar on a terminal, else a status line on stdout.

    A daemon thread keeps it alive while a step takes long (a hardware job, an Aer run): it
    redraws the bar, or prints a status line, whenever nothing was shown for
    :data:`STATUS_SECONDS`.
    """

    def __init__(self, name: str, total: int, unit: str, bar: bool, at_most: bool = False):
        from tqdm.auto import tqdm

        self.name, self.unit = name, unit
        self.total = f"at most {total}" if at_most else str(total)
        self.count, self.loss = 0, None
        self.start = self.shown = time.monotonic()
        self.bar = tqdm(total=total, desc=name, unit=unit, file=sys.stderr, leave=False) if bar else None
        self._lock, self._stop = threading.Lock(), threading.Event()
        self._ticker = threading.Thread(target=self._tick, name=f"qnn-torch status: {name}", daemon=True)

    def __enter__(self) -> _Status:
        self._ticker.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._ticker.join()
        if self.bar is not None:
            self.bar.close()

    def step(self, loss: float | None = None) -> None:
        """One evaluation (or training step) done, with its loss if known."""
        with self._lock:
            self.count += 1
            self.loss = loss if loss is not None else self.loss
            if self.bar is not None:
                self.bar.update()
                if loss is not None:
                    self.bar.set_postfix(loss=f"{loss:.4f}")
                self.shown = time.monotonic()
            elif time.monotonic() - self.shown >= STATUS_SECONDS:
                self._print()

    def _print(self) -> None:
        loss = f", loss {self.loss:.4f}" if self.loss is not None else ""
        seconds = time.monotonic() - self.start
        print(f"{self.name}: {self.count} of {self.total} {self.unit}s{loss}, {seconds:.0f} s",
              flush=True)
        self.shown = time.monotonic()

    def _tick(self) -> None:
        while not self._stop.wait(min(1.0, STATUS_SECONDS / 4)):
            with self._lock:
                if time.monotonic() - self.shown < STATUS_SECONDS:
                    continue
                if self.bar is not None:
                    self.bar.refresh()  # the elapsed time moves on
                    self.shown = time.monotonic()
                else:
                    self._print()


def _run_part(name, args, bar: bool):
    from . import tutorial

    if name == "mnist-hybrid":
        with _Status(name, args.epochs * 200, "step", bar) as status:
            return tutorial.run_mnist_hybrid(args.device, args.shots, epochs=args.epochs, out_dir=args.out,
                                             data_root=args.data_root, on_batch=status.step,
                                             on_message=lambda line: print(line, flush=True),
                                             resume=args.resume)
    runner = {
        "classification-estimator": tutorial.run_classification_estimator,
        "classification-sampler": tutorial.run_classification_sampler,
        "regression": tutorial.run_regression,
    }[name]
    with _Status(name, 25, "evaluation", bar, at_most=True) as status:  # LBFGS's default max_eval: 25
        return runner(args.device, args.shots, on_eval=status.step)


def _table(results) -> str:
    rows = [("part", "steps", "first loss", "last loss", "trained loss", "accuracy", "seconds", "device")]
    for r in results:
        rows.append((r.name, str(len(r.losses)), f"{r.losses[0]:.4f}" if r.losses else "-",
                     f"{r.losses[-1]:.4f}" if r.losses else "-", f"{r.trained_loss:.4f}",
                     "-" if r.accuracy is None else f"{r.accuracy:.2f}", f"{r.seconds:.1f}", r.device))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


TABLE_NOTE = (
    "steps: L-BFGS loss evaluations (mnist-hybrid: epochs); first/last loss: the first and last loss the "
    "optimizer saw (mnist-hybrid: epoch means); trained loss: the trained model's loss on the training "
    "data after the optimizer's last update (mnist-hybrid: without dropout); accuracy: on the training "
    "points (mnist-hybrid: test images)."
)
"""str: printed under the table: what its columns mean."""


def _blas_line(mode: str | None) -> str:
    if mode == "COMPATIBLE":
        return ("float32 arithmetic: MKL's compatible code path (the same numbers on every x86-64 CPU "
                "with AVX2)")
    if mode is None:
        return "float32 arithmetic: torch without MKL; figures may differ from the seed's in the last digits"
    return (f"float32 arithmetic: MKL's {mode} code path (MKL_CBWR={os.environ.get('MKL_CBWR', 'unset')}); "
            "the L-BFGS parts' later losses may differ from the seed's on this CPU")


def _tutorial(args) -> int:
    from .checkpoint import write_atomic
    from .plots import save_part_plots
    from .reproducibility import blas_mode
    from .tutorial import PARTS

    _check_device(args.device, args.shots)
    if args.json is not None:
        _check_json(args.json)
    _check_writable(args.out)
    _check_resume(args)
    bar = not args.no_progress and sys.stderr.isatty()
    results = []
    for name in args.parts or PARTS:
        result = _run_part(name, args, bar)
        pngs = save_part_plots(result, args.out)
        results.append(result)
        print(f"{name}: done in {result.seconds:.1f} s; plots: {', '.join(str(p) for p in pngs)}")
    mode = blas_mode()
    print()
    print(_table(results))
    print(textwrap.fill(TABLE_NOTE, 100))
    print(_blas_line(mode))
    if args.json is not None:
        payload = json.dumps({"parts": {r.name: r.to_json() for r in results}, "blas": mode}, indent=2)
        payload = payload.encode()
        write_atomic(args.json, lambda fh: fh.write(payload))
        print(f"results written to {args.json}")
    return 0


def _evaluate(args) -> int:
    from .tutorial import evaluate_mnist_checkpoint

    if not args.checkpoint.is_file():
        raise UsageError(f"checkpoint {args.checkpoint} does not exist")
    _check_device(args.device, args.shots)
    accuracy, loss = evaluate_mnist_checkpoint(args.checkpoint, args.device, args.shots,
                                               data_root=args.data_root, on_message=print)
    print(f"{args.checkpoint} on {args.device}" + (f" ({args.shots} shots)" if args.shots else "")
          + f": test accuracy {accuracy:.3f}, loss {loss:.4f}")
    return 0


def _interrupted_code(signum) -> int:
    return 128 + int(signum) if signum else 1


def main(argv=None) -> int:
    """Entry point of ``qnn-torch``; returns the exit code.

    Exit codes: 0 done; 1 training stopped by an error; 2 bad arguments, output paths,
    checkpoints or job journals; 130 Ctrl-C; 143 ``SIGTERM``.
    """
    args = _parser().parse_args(argv)
    from .reproducibility import use_reproducible_blas

    use_reproducible_blas()  # before torch computes anything: the same numbers on every CPU
    from .startup import defer_dynamo_import

    defer_dynamo_import()  # the first optimizer would import torch's compiler stack, about 1.3 s
    from .checkpoint import CheckpointError
    from .devices.journal import JobJournalError
    from .training import Terminated, TrainingInterrupted, sigterm_as_interrupt

    try:
        with sigterm_as_interrupt():
            return {"tutorial": _tutorial, "evaluate": _evaluate}[args.command](args)
    except (UsageError, CheckpointError, JobJournalError) as err:
        print(f"qnn-torch: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except TrainingInterrupted as err:
        print(f"qnn-torch: {err}", file=sys.stderr)
        return _interrupted_code(err.signum)
    except KeyboardInterrupt as err:
        name = "SIGTERM" if isinstance(err, Terminated) else "Ctrl-C"
        print(f"qnn-torch: interrupted ({name})", file=sys.stderr)
        return _interrupted_code(signal.SIGTERM if isinstance(err, Terminated) else signal.SIGINT)


def run() -> None:
    """The console entry point: :func:`main`, then exit with its code.

    An interrupted run exits at once (``os._exit`` after flushing its output): worker threads
    that still run an abandoned simulation (Qiskit Aer's jobs run in a ``ThreadPoolExecutor``,
    whose threads the interpreter would otherwise wait for at shutdown) are not awaited. The
    checkpoint and the job journal are already on disk, written atomically.
    """
    code = main()
    if code in (128 + signal.SIGINT, 128 + signal.SIGTERM):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    run()
