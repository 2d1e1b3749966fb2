"""The tutorial on exact Qiskit Aer: the seed's numbers, whichever exact device runs them."""

import json

import pytest

from qnn_torch import cli
from qnn_torch.tutorial import run_mnist_hybrid

from .test_tutorial import SEED


@pytest.fixture(scope="module")
def aer_and_default(tmp_path_factory):
    results = {}
    for device in ("qiskit.aer", "default.qubit"):
        out = tmp_path_factory.mktemp(device.replace(".", "-"))
        code = cli.main(["tutorial", "--parts", ",".join(SEED), "--device", device, "--no-progress",
                         "--out", str(out), "--json", str(out / "r.json")])
        assert code == 0
        results[device] = json.loads((out / "r.json").read_text())["parts"]
    return results


@pytest.mark.slow
@pytest.mark.parametrize("part", list(SEED))
def test_lbfgs_parts_on_qiskit_aer_print_the_seed(aer_and_default, part):
    evals, first, last, accuracy = SEED[part]
    aer, default = aer_and_default["qiskit.aer"][part], aer_and_default["default.qubit"][part]
    assert aer["device"] == "qiskit.aer"
    assert len(aer["losses"]) == evals
    # the printed digits (4 decimals) are the seed's
    assert f"{aer['losses'][0]:.4f}" == f"{first:.4f}"
    assert f"{aer['losses'][-1]:.4f}" == f"{last:.4f}"
    assert aer["accuracy"] == accuracy
    # and every loss of the run is default.qubit's, to float32 rounding
    assert aer["losses"] == pytest.approx(default["losses"], rel=1e-5, abs=1e-6)


@pytest.mark.slow
def test_mnist_hybrid_on_qiskit_aer_reaches_the_same_accuracy(tmp_path):
    runs = {device: run_mnist_hybrid(device=device, epochs=10, data_root=tmp_path / "no-data", on_message=None)
            for device in ("qiskit.aer", "default.qubit")}
    aer, default = runs["qiskit.aer"], runs["default.qubit"]
    assert aer.device == "qiskit.aer"
    assert aer.accuracy == default.accuracy >= 0.98
    assert aer.losses == pytest.approx(default.losses, rel=1e-3)
