"""The tutorial on exact Qiskit Aer: the seed's numbers, whichever exact device runs them."""

import pytest

from qnn_torch.tutorial import run_mnist_hybrid

from ..seed_tutorial import assert_the_seed, command_json, needs_avx2


@pytest.mark.slow
@needs_avx2
def test_lbfgs_parts_on_qiskit_aer_print_the_seed(tmp_path):
    """``qnn-torch tutorial --device qiskit.aer`` in a fresh process prints every loss of the seed."""
    parts = command_json(tmp_path, "--device", "qiskit.aer")["parts"]
    assert {part["device"] for part in parts.values()} == {"qiskit.aer"}
    assert_the_seed(parts)


@pytest.mark.slow
def test_mnist_hybrid_on_qiskit_aer_reaches_the_same_accuracy(tmp_path):
    runs = {device: run_mnist_hybrid(device=device, epochs=10, data_root=tmp_path / "no-data",
                                     on_message=None)
            for device in ("qiskit.aer", "default.qubit")}
    aer, default = runs["qiskit.aer"], runs["default.qubit"]
    assert aer.device == "qiskit.aer"
    assert aer.accuracy == default.accuracy >= 0.98
    assert aer.losses == pytest.approx(default.losses, rel=1e-3)
