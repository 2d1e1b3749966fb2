"""The tutorial notebooks run top to bottom, and print the seed's numbers.

The notebooks show their results and explain them; the checks that depend on the CPU live here:
the L-BFGS notebooks ask MKL for its compatible path in their first cell, so on every CPU with
AVX2 they print the seed tutorial's numbers, which this module reads from their output.
"""

import re
from pathlib import Path

import nbformat
import pytest
import torch
from nbclient import NotebookClient

from ..seed_tutorial import SEED_ACCURACY, SEED_LOSSES, needs_avx2

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "tutorials").glob("*.ipynb"))

FAKE_TOKEN = "fake-ibm-token-notebook-91ab-DO-NOT-LEAK"

SEED_PART = {"01": "classification-estimator", "02": "classification-sampler", "03": "regression"}
"""The seed tutorial's part that each L-BFGS notebook trains."""


def test_there_are_five_notebooks():
    assert [p.stem[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04", "05"]


def printed(notebook) -> str:
    """Everything the notebook's code cells printed."""
    return "".join(o.get("text", "") for c in notebook.cells if c.cell_type == "code"
                   for o in c.get("outputs", []))


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """``executed(path)``: the notebook run top to bottom in a fresh kernel, once per module."""
    done = {}
    patch = pytest.MonkeyPatch()
    patch.setenv("QNN_TORCH_TUTORIAL_EPOCHS", "1")  # the MNIST notebook, reduced
    patch.setenv("MPLBACKEND", "Agg")
    patch.setenv("QISKIT_IBM_TOKEN", FAKE_TOKEN)  # must never reach an output
    patch.delenv("MKL_CBWR", raising=False)  # the notebook's own choice

    def run(path):
        if path not in done:
            notebook = nbformat.read(path, as_version=4)
            folder = tmp_path_factory.mktemp(path.stem)
            NotebookClient(notebook, timeout=600, kernel_name="python3",
                           resources={"metadata": {"path": str(folder)}}).execute()
            done[path] = notebook
        return done[path]

    yield run
    patch.undo()


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path, executed):
    notebook = executed(path)
    errors = [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
    assert FAKE_TOKEN not in nbformat.writes(notebook)
    if path.stem[:2] in SEED_PART and torch.backends.mkl.is_available():
        assert "reproducible BLAS: True COMPATIBLE" in printed(notebook)


@pytest.mark.slow
@needs_avx2
@pytest.mark.parametrize("stem", sorted(SEED_PART))
def test_notebook_prints_the_seed(stem, executed):
    """The L-BFGS notebooks print the seed's numbers (their first cell chose MKL's compatible path)."""
    path = next(p for p in NOTEBOOKS if p.stem.startswith(stem))
    assert_the_seed_is_printed(printed(executed(path)), SEED_PART[stem])


def assert_the_seed_is_printed(text: str, part: str) -> None:
    seed = SEED_LOSSES[part]
    count, first, last = re.search(r"^(\d+) evaluations: (-?[\d.]+) -> (-?[\d.]+)$", text, re.M).groups()
    assert (int(count), first, last) == (len(seed), f"{seed[0]:.4f}", f"{seed[-1]:.4f}")
    accuracy = re.search(r"^accuracy: ([\d.]+)", text, re.M)
    assert (float(accuracy.group(1)) if accuracy else None) == SEED_ACCURACY[part]
    if part == "classification-estimator":  # its notebook prints every loss
        every = [float(v) for v in re.findall(r"^ ?\d+  (-?[\d.]+)$", text, re.M)]
        assert every == pytest.approx(seed, abs=5e-7)


@pytest.mark.slow
def test_mnist_notebook_prints_the_numbers_of_the_command_line(tmp_path, monkeypatch):
    """04_mnist_hybrid.ipynb and `qnn-torch tutorial --parts mnist-hybrid` train the same model."""
    from qnn_torch.tutorial import run_mnist_hybrid

    monkeypatch.setenv("QNN_TORCH_TUTORIAL_EPOCHS", "2")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    path = Path(__file__).resolve().parents[2] / "tutorials" / "04_mnist_hybrid.ipynb"
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    text = printed(notebook)
    losses = [float(v) for v in re.findall(r"epoch \d+/2: loss (-?\d+\.\d+)", text)]
    accuracy = float(re.search(r"test accuracy: (\d\.\d+)", text).group(1))
    assert (tmp_path / "qnn-torch-out" / "mnist-hybrid.pt").is_file()  # where the README's evaluate looks

    result = run_mnist_hybrid(epochs=2, data_root=tmp_path / "data", on_message=None)
    assert losses == pytest.approx(result.losses, abs=2e-6)
    assert accuracy == pytest.approx(result.accuracy, abs=1e-4)
