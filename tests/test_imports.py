"""The package's imports: one direction, no cycle, and nothing heavy that a call does not need."""

from __future__ import annotations

import ast
import itertools
import re
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "qnn_torch"

# The layers, lowest first: a module imports only from its own unit or from lower layers.
LAYERS = {
    "_version": 0,
    "_compat": 0,  # other packages' private interfaces
    "reproducibility": 1,  # MKL's code path: imports only _compat
    "startup": 1,  # torch's compiler stack imported only when used: imports only _compat
    "templates": 1,
    "exceptions": 1,  # qiskit-machine-learning's error class: imports nothing of qnn_torch
    "circuits": 2,
    "devices": 2,  # a model's IBM sessions and job journals too: devices never import training
    "engines": 3,
    "qnn": 4,
    "torch_connector": 5,
    "checkpoint": 1,  # atomic files: imports nothing of qnn_torch; the devices' job journal writes with it
    "data": 5,
    "distributed": 5,
    "training": 6,
    "tutorial": 7,
    "plots": 7,
    "cli": 8,
    "__main__": 9,
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """The ``qnn_torch`` modules ``path`` imports anywhere in its body (functions included)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "qnn_torch"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "qnn_torch":
                continue
            found.add(target)
            for alias in node.names:  # ``from . import tutorial`` imports a module
                place = PACKAGE.parent / Path(*f"{target}.{alias.name}".split("."))
                if place.with_suffix(".py").exists() or (place / "__init__.py").exists():
                    found.add(f"{target}.{alias.name}")
    found.discard(name)
    return found


def import_graph() -> dict[str, set[str]]:
    return {_module_name(p): _imports(p) for p in PACKAGE.rglob("*.py")}


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_no_import_cycle():
    graph = import_graph()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            nxt = nxt if nxt in graph else nxt.rpartition(".")[0]  # a name imported from a module
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt):] + [nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt in graph and not state.get(nxt):
                visit(nxt)
        stack.pop()
        state[node] = 2

    for module in sorted(graph):
        if not state.get(module):
            visit(module)


def test_imports_go_down_the_layers():
    graph = import_graph()
    upward = []
    for module, targets in graph.items():
        source = _unit(module)
        if source == "__init__":  # the package's lazy re-exports
            continue
        assert source in LAYERS, f"{module}: unit {source!r} has no layer in LAYERS"
        for target in targets:
            unit = _unit(target)
            if unit not in (source, "__init__") and LAYERS[unit] >= LAYERS[source]:
                upward.append(f"{module} -> {target}")
    assert not upward, "imports that go up or sideways: " + ", ".join(sorted(upward))


@pytest.mark.parametrize("lower, upper", [("devices", "training"), ("devices", "qnn"),
                                          ("circuits", "devices"), ("training", "tutorial")])
def test_a_unit_imports_nothing_of_a_unit_above_it(lower, upper):
    graph = import_graph()
    found = sorted(f"{module} -> {target}" for module, targets in graph.items() if _unit(module) == lower
                   for target in targets if _unit(target) == upper)
    assert not found, f"{lower} imports {upper}: " + ", ".join(found)


def test_walker_sees_upward_imports(tmp_path, monkeypatch):
    """The layering test fails on an upward import (written into a copy of a module)."""
    engines = PACKAGE / "engines" / "base.py"
    assert "qnn_torch.torch_connector" not in _imports(engines)
    copy = tmp_path / "qnn_torch" / "engines" / "base.py"
    copy.parent.mkdir(parents=True)
    copy.write_text(engines.read_text() + "\n\ndef _f():\n    from ..torch_connector import TorchConnector\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", tmp_path / "qnn_torch")
    assert "qnn_torch.torch_connector" in _imports(copy)


def _run(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            cwd=PACKAGE.parent)
    return result.stdout.strip()


HEAVY = ("qiskit", "qiskit_aer", "qiskit_ibm_runtime", "pennylane_qiskit")


@pytest.mark.slow
def test_the_public_api_loads_no_qiskit():
    code = (
        "import sys, numpy as np\n"
        "from qnn_torch import EstimatorQNN, SamplerQNN, TorchConnector, fit, parity, tiny_batch_mode\n"
        "import qnn_torch\n"
        # QiskitMachineLearningError is a QiskitError: naming it loads Qiskit
        "names = [getattr(qnn_torch, n) for n in qnn_torch.__all__\n"
        "         if n not in ('BatchedRemoteDevice', 'QiskitMachineLearningError')]\n"
        "EstimatorQNN(2).forward(np.zeros((1, 2)), np.zeros(8))\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    assert _run(code) == "[]"


@pytest.mark.slow
def test_a_qiskit_device_loads_qiskit():
    code = (
        "import sys\n"
        "from qnn_torch import EstimatorQNN\n"
        "EstimatorQNN(2, device='qiskit.aer')\n"
        "print('qiskit_aer' in sys.modules)\n"
    )
    assert _run(code) == "True"


@pytest.mark.parametrize("flag", ["--version", "--help"])
def test_command_line_help_loads_neither_torch_nor_pennylane(flag):
    code = (
        "import runpy, sys\n"
        f"sys.argv = ['qnn-torch', {flag!r}]\n"
        "try:\n"
        "    runpy.run_module('qnn_torch', run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted(m for m in ('torch', 'pennylane', 'numpy') if m in sys.modules), file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PACKAGE.parent)
    assert result.stderr.strip().splitlines()[-1] == "[]"


# ---------------------------------------------------------------- the layers docs/design.md names

DESIGN = PACKAGE.parent / "docs" / "design.md"


def _design_layers(heading: str) -> dict[str, int]:
    """The layer of every name in backticks in the table under ``## heading`` of docs/design.md."""
    section = DESIGN.read_text().split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    layers = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and cells[0].isdigit():
            layers.update({name: int(cells[0]) for name in re.findall(r"`([^`]+)`", cells[1])})
    return layers


def test_the_design_note_orders_the_units_as_the_code():
    named = _design_layers("The layers")
    assert {"templates", "engines", "qnn", "torch_connector"} <= set(named)

    def order(layers, a, b):
        return (layers[a] > layers[b]) - (layers[a] < layers[b])

    for a, b in itertools.combinations(named, 2):
        assert order(named, a, b) == order(LAYERS, a, b), f"docs/design.md and LAYERS disagree on {a}, {b}"


def test_the_engines_import_down_the_layers_of_the_design_note():
    layers = _design_layers("Inside `engines/`")
    modules = {path.stem for path in (PACKAGE / "engines").glob("*.py")} - {"__init__"}
    assert set(layers) == modules, (f"not in docs/design.md: {sorted(modules - set(layers))}; "
                                    f"named there but absent: {sorted(set(layers) - modules)}")
    upward = []
    for module, targets in import_graph().items():
        if not module.startswith("qnn_torch.engines.") or module.count(".") != 2:
            continue
        source = module.rsplit(".", 1)[1]
        for target in targets:
            name = target.split(".")[2] if target.startswith("qnn_torch.engines.") else None
            if name in layers and layers[name] > layers[source]:
                upward.append(f"{source} -> {name}")
    assert not upward, "engines/ modules importing up the design note's layers: " + ", ".join(sorted(upward))
