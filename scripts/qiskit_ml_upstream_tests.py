"""Runs qiskit-machine-learning's own tests of its networks and connector against qnn_torch.

    python scripts/qiskit_ml_upstream_tests.py [--checkout DIR] [--ref stable/0.9]
        [--qnn-torch DIR] [--out /tmp/upstream_tally.txt] [--only qnn_torch|qiskit-ml] [-k EXPR]
    PYTHONPATH=/work/wt-other python scripts/qiskit_ml_upstream_tests.py --out /tmp/tally_other.txt

The test files (`FILES`) and the test package they import (`SUPPORT`) are taken from a checkout of
qiskit-machine-learning (default: the local git mirror, branch stable/0.9, read with `git show`; a
plain directory works too with `--ref ""`) and written into a temporary folder twice:

* `qnn_torch/`: the imports of the classes qnn_torch provides (`PROVIDED`: EstimatorQNN, SamplerQNN,
  NeuralNetwork, TorchConnector, QiskitMachineLearningError) are rewritten to come from qnn_torch;
  nothing else changes (gradients, primitives, `algorithm_globals`, the test base classes and the
  connector's private helpers stay qiskit-machine-learning's). The rewritten lines read
  `from qnn_torch import ...`, unless qnn_torch lacks one of the names: then they import from
  `qnn_torch_names`, a module written next to the tests that re-exports qnn_torch's names and puts a
  stand-in for each missing one, so that one missing class fails the cases that use it rather than
  the whole file (a class whose construction raises `ImportError`; for the error class, an exception
  nothing raises). The tally names the stand-ins used.
* `qiskit-ml/`: unchanged, the reference run.

Each is run by pytest (one process, `--junitxml`), with `--qnn-torch` first on `PYTHONPATH` when given
(else the qnn_torch that `PYTHONPATH` and the installed packages give; the tally's header says which).
The tally - cases passed, failed and skipped per file, failures grouped by the first line of their
exception, and the cases qiskit-machine-learning passes and qnn_torch does not - is printed and
written to `--out`, which is rewritten after each run. GPU cases skip unless QISKIT_GPU=true, as
upstream. Needs the upstream test dependencies `ddt` and, for the sparse cases, `sparse` (0.18 or
older: with 0.19, three of upstream's sparse cases fail on qiskit-machine-learning itself, as
`round()` of a 0-d `COO`); the test files themselves are Apache-2.0 and are not copied into this repository.
"""

from __future__ import annotations

import argparse
import ast
import collections
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

MIRROR = Path("/work/.mirror/qiskit-community+qiskit-machine-learning/repo")
FILES = [
    "test/neural_networks/test_estimator_qnn.py",
    "test/neural_networks/test_sampler_qnn.py",
    "test/neural_networks/test_neural_network.py",
    "test/connectors/test_cpu_torch_connector.py",
    "test/connectors/test_cpu_torch_networks.py",
    "test/connectors/test_gpu_torch_connector.py",
    "test/connectors/test_gpu_torch_networks.py",
]
SUPPORT = [
    "test/__init__.py",
    "test/machine_learning_test_case.py",
    "test/algorithms_test_case.py",
    "test/decorators.py",
    "test/neural_networks/__init__.py",
    "test/connectors/__init__.py",
    "test/connectors/test_torch.py",
    "test/connectors/test_torch_connector.py",
    "test/connectors/test_torch_networks.py",
]
PROVIDED = ["EstimatorQNN", "SamplerQNN", "NeuralNetwork", "TorchConnector", "QiskitMachineLearningError"]
NAMES_MODULE = "qnn_torch_names"
NAMES_SOURCE = '''"""The classes qnn_torch provides, for the rewritten imports of the upstream tests."""
import qnn_torch

STAND_INS = []


def _stand_in(name):
    STAND_INS.append(name)
    if name == "QiskitMachineLearningError":
        return type(name, (Exception,), {"__doc__": "Stand-in: qnn_torch raises no such error."})

    def _refuse(*args, **kwargs):
        raise ImportError(f"qnn_torch does not provide {name}")
    return type(name, (), {"__init__": _refuse, "__doc__": f"Stand-in for the missing {name}."})


for _name in PROVIDED_NAMES:
    globals()[_name] = getattr(qnn_torch, _name, None) or _stand_in(_name)
'''


def rewrite_imports(source: str, module: str = "qnn_torch") -> tuple[str, list[str]]:
    """Sends the `from qiskit_machine_learning... import` of `PROVIDED` names to `module`.

    Only the lines of those import statements change; a statement that also imports other names keeps
    them from where they were, and blank lines keep every other line where it was.

    Returns:
        The new source and the names rewritten.
    """
    lines = source.splitlines(keepends=True)
    moved: list[str] = []
    for node in sorted(ast.walk(ast.parse(source)), key=lambda n: -getattr(n, "lineno", 0)):
        module_name = getattr(node, "module", None) or ""
        upstream = isinstance(node, ast.ImportFrom) and module_name.startswith("qiskit_machine_learning")
        if not upstream:
            continue
        ours = [a for a in node.names if a.name in PROVIDED]
        if not ours:
            continue
        rest = [a for a in node.names if a.name not in PROVIDED]
        indent = lines[node.lineno - 1][: node.col_offset]
        new = [indent + f"from {module} import " + _aliases(ours)]
        if rest:
            new.append(indent + f"from {node.module} import " + _aliases(rest))
        span = node.end_lineno - node.lineno + 1
        new += [""] * max(0, span - len(new))
        lines[node.lineno - 1: node.end_lineno] = [text + "\n" for text in new]
        moved += [a.name for a in ours]
    return "".join(lines), sorted(set(moved))


def _aliases(names: list[ast.alias]) -> str:
    return ", ".join(a.name + (f" as {a.asname}" if a.asname else "") for a in names)


def read_upstream(checkout: Path, ref: str, path: str) -> str:
    """One file of the checkout: at `ref` through `git show`, or from the working tree if `ref` is ''."""
    if not ref:
        return (checkout / path).read_text()
    return subprocess.run(["git", "-C", str(checkout), "show", f"{ref}:{path}"], check=True,
                          capture_output=True, text=True).stdout


def write_tree(dest: Path, checkout: Path, ref: str, rewrite: bool, stand_ins: bool) -> dict[str, list[str]]:
    """Writes `SUPPORT` and `FILES` under `dest`; returns the names rewritten per file.

    With `stand_ins`, the rewritten imports read from `NAMES_MODULE`, else straight from qnn_torch.
    """
    rewritten = {}
    for path in SUPPORT + FILES:
        text = read_upstream(checkout, ref, path)
        if rewrite:
            text, names = rewrite_imports(text, NAMES_MODULE if stand_ins else "qnn_torch")
            if names:
                rewritten[path] = names
        target = dest / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    if rewrite and stand_ins:
        (dest / f"{NAMES_MODULE}.py").write_text(NAMES_SOURCE.replace("PROVIDED_NAMES", repr(PROVIDED)))
    return rewritten


def environment(qnn_torch: Path | None, *extra: Path) -> dict[str, str]:
    """This process's environment with `qnn_torch` (if given) first on `PYTHONPATH`, `extra` last."""
    path = [str(qnn_torch)] if qnn_torch else []
    path += [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p] + [str(p) for p in extra]
    return dict(os.environ, PYTHONPATH=os.pathsep.join(path))


def run_pytest(dest: Path, qnn_torch: Path | None, keyword: str | None) -> tuple[Path, str, float]:
    """Runs `FILES` in `dest`; returns the junit file, the output's tail and the seconds taken."""
    junit = dest / "junit.xml"
    env = environment(qnn_torch, dest)
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
           f"--junitxml={junit}", "--rootdir", str(dest), *FILES]
    if keyword:
        cmd += ["-k", keyword]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=dest, env=env, capture_output=True, text=True)
    return junit, (proc.stdout + proc.stderr)[-3000:], time.perf_counter() - start


def parse_junit(junit: Path) -> dict[str, tuple[str, str]]:
    """Case id (`file::Class::name`) -> (outcome, first line of the exception or skip reason)."""
    cases = {}
    if not junit.exists():
        return cases
    for case in ET.parse(junit).getroot().iter("testcase"):
        module = case.get("classname", "")
        parts = module.split(".")
        file = "/".join(parts[:-1]) + ".py" if len(parts) > 1 else module
        outcome, reason = "passed", ""
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = "skipped" if child.tag == "skipped" else "failed"
                reason = _first_line(child.get("message") or child.text or child.tag)
                break
        cases[f"{file}::{parts[-1]}::{case.get('name')}"] = (outcome, reason)
    return cases


def _first_line(message: str) -> str:
    line = message.strip().splitlines()[0] if message.strip() else ""
    return line[:160]


def tally(label: str, cases: dict[str, tuple[str, str]], seconds: float) -> list[str]:
    """Counts per file and failures per reason, as text lines."""
    counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    reasons: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for case, (outcome, reason) in cases.items():
        counts[case.split("::")[0]][outcome] += 1
        reasons[outcome][reason] += 1
    total = collections.Counter()
    for counter in counts.values():
        total.update(counter)
    out = [f"## {label}: {total['passed']} passed, {total['failed']} failed, {total['skipped']} skipped"
           f" ({seconds:.0f} s)", "", f"{'file':<52} passed failed skipped"]
    for file in sorted(counts):
        c = counts[file]
        out.append(f"{file:<52} {c['passed']:>6} {c['failed']:>6} {c['skipped']:>7}")
    for outcome, heading in [("failed", "failures by reason (first line of the exception)"),
                             ("skipped", "skips by reason")]:
        if reasons[outcome]:
            out += ["", heading + ":"] + [f"{n:>4}  {why}" for why, n in reasons[outcome].most_common()]
    return out + [""]


def differences(ours: dict, theirs: dict) -> list[str]:
    """The cases qiskit-ml passes and qnn_torch does not, with qnn_torch's reason."""
    lines = []
    for case in sorted(theirs):
        if theirs[case][0] == "passed" and ours.get(case, ("missing", "not run"))[0] != "passed":
            outcome, reason = ours.get(case, ("missing", "not collected on qnn_torch"))
            lines.append(f"{case}\n      {outcome}: {reason}")
    return [f"## cases qiskit-ml passes and qnn_torch does not ({len(lines)})", "", *lines, ""]


def locate(qnn_torch: Path | None) -> tuple[Path, list[str]]:
    """The checkout of the qnn_torch the tests will import, and the `PROVIDED` names it lacks."""
    code = ("import pathlib, qnn_torch; print(pathlib.Path(qnn_torch.__file__).parents[1]); "
            f"print(' '.join(n for n in {PROVIDED!r} if not hasattr(qnn_torch, n)))")
    proc = subprocess.run([sys.executable, "-c", code], env=environment(qnn_torch), cwd=tempfile.gettempdir(),
                          capture_output=True, text=True, check=True)
    where, *missing = proc.stdout.splitlines()
    return Path(where), " ".join(missing).split()


def git_head(path: Path) -> str:
    """Branch, commit and whether the working tree has uncommitted changes, for the tally's header."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(path), *args], capture_output=True, text=True).stdout.strip()
    head = git("log", "-1", "--format=%h %s")[:80]
    if not head:
        return "(not a git checkout)"
    dirty = " + uncommitted changes" if git("status", "--porcelain", "--untracked-files=no") else ""
    return f"branch {git('rev-parse', '--abbrev-ref', 'HEAD')}, {head}{dirty}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkout", type=Path, default=MIRROR, help="qiskit-machine-learning checkout")
    parser.add_argument("--ref", default="stable/0.9", help="git ref to read; '' for the working tree")
    parser.add_argument("--qnn-torch", type=Path, help="checkout whose qnn_torch is tested "
                        "(default: the one PYTHONPATH and the installed packages give)")
    parser.add_argument("--out", type=Path, default=Path("/tmp/upstream_tally.txt"))
    parser.add_argument("--only", choices=["qnn_torch", "qiskit-ml"], help="run one side only")
    parser.add_argument("-k", dest="keyword", help="pytest -k expression")
    args = parser.parse_args(argv)
    where, missing_in_ours = locate(args.qnn_torch)
    header = [f"# qiskit-ml {args.ref or args.checkout} tests on qnn_torch from {where}",
              f"# qnn_torch at: {git_head(where)}",
              f"# written {time.strftime('%Y-%m-%d %H:%M:%S')} by scripts/qiskit_ml_upstream_tests.py", ""]
    sections: dict[str, list[str]] = {}
    results: dict[str, dict] = {}
    sides = [args.only] if args.only else ["qnn_torch", "qiskit-ml"]
    with tempfile.TemporaryDirectory(prefix="qiskit_ml_upstream_") as tmp:
        for side in sides:
            dest = Path(tmp) / side.replace("-", "_")
            missing = missing_in_ours if side == "qnn_torch" else []
            rewritten = write_tree(dest, args.checkout, args.ref, side == "qnn_torch", bool(missing))
            junit, tail, seconds = run_pytest(dest, args.qnn_torch, args.keyword)
            results[side] = parse_junit(junit)
            lines = tally(side + (" (imports rewritten)" if rewritten else " (unchanged)"), results[side],
                          seconds)
            if rewritten:
                lines += ["rewritten imports: " + "; ".join(f"{f.split('/')[-1]}: {', '.join(n)}"
                                                            for f, n in rewritten.items())]
                lines += [f"stand-ins for names qnn_torch lacks: {', '.join(missing) or 'none'}", ""]
            if not results[side]:
                lines += ["pytest reported no cases; its output ends:", tail, ""]
            sections[side] = lines
            if len(results) == 2:
                sections["diff"] = differences(results["qnn_torch"], results["qiskit-ml"])
            text = "\n".join(header + [line for part in sections.values() for line in part])
            args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
