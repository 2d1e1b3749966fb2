"""The tutorial notebooks run top to bottom (their cells assert the tutorial's numbers)."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "tutorials").glob("*.ipynb"))


FAKE_TOKEN = "fake-ibm-token-notebook-91ab-DO-NOT-LEAK"


def test_there_are_five_notebooks():
    assert [p.stem[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04", "05"]


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path, tmp_path, monkeypatch):
    monkeypatch.setenv("QNN_TORCH_TUTORIAL_EPOCHS", "1")  # the MNIST notebook, reduced
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("QISKIT_IBM_TOKEN", FAKE_TOKEN)  # must never reach an output
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
    assert FAKE_TOKEN not in nbformat.writes(notebook)
