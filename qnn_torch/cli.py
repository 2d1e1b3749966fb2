"""The ``qnn-torch`` command (also ``python -m qnn_torch``).

``qnn-torch tutorial`` runs the four experiments of the Torch Connector tutorial and reports
their numbers; ``qnn-torch evaluate`` runs a saved mnist-hybrid checkpoint on any device.
Bad arguments (including output paths and checkpoints, checked before any work starts) end
with one line on stderr and exit code 2. Ctrl-C and ``SIGTERM`` stop a run with one line naming
the checkpoint to resume from, and exit codes 130 and 143.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path

# torch, PennyLane and the rest load after parsing: --help and --version answer at once

__all__ = ["main"]

EXIT_USAGE = 2


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


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {value}")
    return value


def _positive(text: str) -> int:
    value = _non_negative(text)
    if value == 0:
        raise argparse.ArgumentTypeError("expected a positive integer, got 0")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="qnn-torch", description=__doc__.split("\n\n")[1].replace("\n", " "))
    from ._version import __version__

    parser.add_argument("--version", action="version", version=f"qnn-torch {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    tut = sub.add_parser("tutorial", help="run the tutorial's experiments and report their numbers")
    tut.add_argument("--parts", type=_parts, default=None,
                     help="comma-separated: classification-estimator,classification-sampler,regression,mnist-hybrid")
    _device_args(tut)
    tut.add_argument("--epochs", type=_non_negative, default=10, help="mnist-hybrid epochs (default 10)")
    tut.add_argument("--out", type=Path, default=Path("qnn-torch-out"),
                     help="folder for the PNG plots and checkpoints (default ./qnn-torch-out)")
    tut.add_argument("--json", type=Path, default=None, help="also write the results as JSON here")
    tut.add_argument("--data-root", type=Path, default=Path("data"), help="torchvision's MNIST root (default ./data)")
    tut.add_argument("--resume", action="store_true",
                     help="continue mnist-hybrid from the checkpoint in --out (written after every epoch)")
    tut.add_argument("--no-progress", action="store_true", help="no progress bars")

    ev = sub.add_parser("evaluate", help="evaluate a mnist-hybrid checkpoint on a device")
    ev.add_argument("checkpoint", type=Path,
                    help="mnist-hybrid.pt, or the training checkpoint mnist-hybrid-train.pt, "
                         "written by `qnn-torch tutorial`")
    _device_args(ev)
    ev.add_argument("--data-root", type=Path, default=Path("data"), help="torchvision's MNIST root (default ./data)")
    return parser


def _device_args(parser):
    parser.add_argument("--device", default="default.qubit",
                        help="default.qubit (default), lightning.qubit, qiskit.aer, fake:FakeManilaV2, ibm:<backend>")
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


def _progress(enabled: bool, **kwargs):
    from tqdm.auto import tqdm

    return tqdm(disable=not enabled, file=sys.stderr, leave=False, **kwargs)


def _run_part(name, args, show):
    from . import tutorial

    if name == "mnist-hybrid":
        with _progress(show, total=args.epochs * 200, desc=name, unit="step") as bar:
            return tutorial.run_mnist_hybrid(args.device, args.shots, epochs=args.epochs, out_dir=args.out,
                                             data_root=args.data_root, on_batch=lambda _: bar.update(), on_message=None,
                                             resume=args.resume)
    runner = {
        "classification-estimator": tutorial.run_classification_estimator,
        "classification-sampler": tutorial.run_classification_sampler,
        "regression": tutorial.run_regression,
    }[name]
    with _progress(show, total=25, desc=name, unit="eval") as bar:
        return runner(args.device, args.shots, on_eval=lambda loss: (bar.update(), bar.set_postfix(loss=f"{loss:.4f}")))


def _table(results) -> str:
    rows = [("part", "steps", "first loss", "last loss", "accuracy", "seconds", "device")]
    for r in results:
        rows.append((r.name, str(len(r.losses)), f"{r.losses[0]:.4f}" if r.losses else "-",
                     f"{r.losses[-1]:.4f}" if r.losses else "-",
                     "-" if r.accuracy is None else f"{r.accuracy:.2f}", f"{r.seconds:.1f}", r.device))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _tutorial(args) -> int:
    from .checkpoint import write_atomic
    from .plots import save_part_plots
    from .tutorial import PARTS

    _check_device(args.device, args.shots)
    if args.json is not None:
        _check_json(args.json)
    _check_writable(args.out)
    _check_resume(args)
    show = not args.no_progress and sys.stderr.isatty()
    results = []
    for name in args.parts or PARTS:
        result = _run_part(name, args, show)
        if name == "mnist-hybrid":
            print(f"MNIST source: {result.extra['source']}")
        pngs = save_part_plots(result, args.out)
        results.append(result)
        print(f"{name}: done in {result.seconds:.1f} s; plots: {', '.join(str(p) for p in pngs)}")
    print()
    print(_table(results))
    if args.json is not None:
        payload = json.dumps({"parts": {r.name: r.to_json() for r in results}}, indent=2).encode()
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
