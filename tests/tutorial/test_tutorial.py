"""The tutorial reproduced: the numbers of the seed, the hybrid MNIST model, its checkpoints.

Where the seed's numbers are checked: the command runs in a fresh process, where it asks MKL for
its compatible code path (:func:`qnn_torch.use_reproducible_blas`), and must then print every loss
the seed prints, on any CPU with AVX2. In this process (whose MKL path the rest of the suite
fixed), the tutorial's functions must equal qiskit-machine-learning run here, evaluation for
evaluation, and the seed where the arithmetic does not depend on the CPU.
"""

import numpy as np
import pytest
import torch

from qnn_torch import blas_mode, tutorial
from qnn_torch.data import load_mnist01, tutorial_random
from qnn_torch.tutorial import evaluate_mnist_checkpoint, run_mnist_hybrid

from ..seed_tutorial import (DETERMINISTIC_EVALUATIONS, SEED_LOSSES, assert_the_seed, command_json,
                             needs_avx2, seed_experiments)


@pytest.fixture(scope="module")
def lbfgs_results(tmp_path_factory):
    out = tmp_path_factory.mktemp("tutorial")
    return out, command_json(out)


@needs_avx2
def test_the_command_prints_the_seed(lbfgs_results):
    _, results = lbfgs_results
    assert results["blas"] == "COMPATIBLE"
    assert_the_seed(results["parts"])
    for part in SEED_LOSSES:
        r = results["parts"][part]
        assert r["device"] == "default.qubit" and r["seconds"] > 0
        assert set(r) == {"losses", "accuracy", "trained_loss", "seconds", "device"}


@pytest.mark.slow
@needs_avx2
@pytest.mark.parametrize("env", [
    {"ATEN_CPU_CAPABILITY": "avx2", "OPENBLAS_CORETYPE": "Haswell"},
    {"ATEN_CPU_CAPABILITY": "avx512", "OPENBLAS_CORETYPE": "SkylakeX"},
    {"OPENBLAS_CORETYPE": "Prescott"},
], ids=lambda env: ",".join(f"{k}={v}" for k, v in env.items()))
def test_the_seed_under_the_kernels_of_other_cpus(tmp_path, env):
    """The kernels another CPU would take (PyTorch's and NumPy's OpenBLAS's) change no number."""
    if env.get("ATEN_CPU_CAPABILITY") == "avx512" and torch.backends.cpu.get_cpu_capability() != "AVX512":
        pytest.skip("this CPU has no AVX-512 kernels to take")
    assert_the_seed(command_json(tmp_path, env=env)["parts"])


@pytest.mark.slow
def test_mkl_of_the_users_choice_is_respected(tmp_path):
    results = command_json(tmp_path, env={"MKL_CBWR": "AUTO"})
    assert results["blas"] == ("AUTO" if blas_mode() is not None else None)


def test_a_part_gives_the_losses_the_optimizer_saw_and_the_trained_loss():
    result = tutorial.run_classification_sampler()
    assert len(result.losses) == 20  # L-BFGS's max_iter: it stops after one more update, unevaluated
    model, r = result.extra["model"], tutorial_random()
    with torch.no_grad():
        loss = torch.nn.CrossEntropyLoss()(model(torch.tensor(r.X, dtype=torch.float32)), torch.tensor(r.y01))
    assert result.trained_loss == loss.item()  # the loss after the optimizer's last update
    assert result.trained_loss != result.losses[-1]


@pytest.fixture(scope="module")
def qiskit_ml_experiments():
    """The seed's experiments on qiskit-machine-learning, in this process: the oracle."""
    import qiskit_machine_learning.connectors as qk_connectors
    import qiskit_machine_learning.neural_networks as qk_networks

    return seed_experiments(qk_networks.EstimatorQNN, qk_networks.SamplerQNN, qk_connectors.TorchConnector)


RUNNERS = {
    "classification-estimator": tutorial.run_classification_estimator,
    "classification-sampler": tutorial.run_classification_sampler,
    "regression": tutorial.run_regression,
}


@pytest.mark.slow
@pytest.mark.parametrize("part", list(RUNNERS))
def test_each_part_equals_qiskit_machine_learning_in_this_process(qiskit_ml_experiments, part):
    losses, accuracy, _ = qiskit_ml_experiments[part]
    result = RUNNERS[part]()
    assert result.losses == pytest.approx(losses, rel=2e-7)
    assert result.accuracy == accuracy


@pytest.mark.parametrize("part", list(RUNNERS))
def test_the_first_evaluations_are_the_seed_on_any_cpu(part):
    """Before L-BFGS uses a dot product, nothing depends on how this CPU rounds one."""
    losses = RUNNERS[part]().losses
    assert len(losses) >= DETERMINISTIC_EVALUATIONS
    assert losses[:DETERMINISTIC_EVALUATIONS] == SEED_LOSSES[part][:DETERMINISTIC_EVALUATIONS]


def test_plots_are_real_pngs(lbfgs_results):
    import matplotlib.image as mpimg

    out, _ = lbfgs_results
    for part in SEED_LOSSES:
        path = out / f"{part}.png"
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        pixels = mpimg.imread(path)
        assert pixels.shape[0] > 100 and pixels.std() > 0.01  # a picture, not a blank


@pytest.fixture(scope="module")
def mnist_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("mnist")
    return out, run_mnist_hybrid(epochs=10, out_dir=out, data_root=out / "no-data", on_message=None)


@pytest.mark.slow
def test_mnist_hybrid_full_run(mnist_run):
    out, result = mnist_run
    assert "shipped real-MNIST subset" in result.extra["source"]
    assert len(result.losses) == 10 and result.losses[-1] < result.losses[0]
    assert result.accuracy >= 0.98
    state = torch.load(out / "mnist-hybrid.pt", weights_only=True)
    assert "qnn.weight" in state


@pytest.mark.slow
@pytest.mark.parametrize("device, shots, minimum", [("qiskit.aer", None, None),
                                                    ("fake:FakeManilaV2", 1024, 0.9)])
def test_checkpoint_moves_between_devices(mnist_run, device, shots, minimum):
    out, result = mnist_run
    reference, _ = evaluate_mnist_checkpoint(out / "mnist-hybrid.pt", data_root=out / "no-data")
    assert reference == pytest.approx(result.accuracy)
    accuracy, _ = evaluate_mnist_checkpoint(out / "mnist-hybrid.pt", device, shots, data_root=out / "no-data")
    if minimum is None:
        assert accuracy == pytest.approx(reference)  # exact simulators agree
    else:
        assert accuracy >= minimum


def test_mnist_matches_qiskit_machine_learning(tmp_path):
    """A short run of the hybrid model trains step for step like qiskit-machine-learning's."""
    from qiskit_machine_learning.connectors import TorchConnector as QkTorchConnector
    from torch.utils.data import DataLoader

    from qnn_torch.tutorial import HybridNet

    from .. import qiskit_reference as ref

    split = load_mnist01(tmp_path, n_train=8, n_test=2)

    def train(model):
        torch.manual_seed(7)
        loader = DataLoader(split.train, batch_size=1, shuffle=True)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        losses = []
        for data, target in loader:
            opt.zero_grad()
            loss = torch.nn.functional.nll_loss(model(data), target)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        return losses

    torch.manual_seed(3)
    ours = HybridNet(__import__("qnn_torch").tutorial.make_mnist_qnn())
    theirs = HybridNet(__import__("qnn_torch").tutorial.make_mnist_qnn())
    circuit, inputs, weights = ref.zz_ra_circuit(2, 2, 1, "reverse_linear")
    theirs.qnn = QkTorchConnector(ref.estimator(circuit, inputs, weights))
    theirs.load_state_dict(ours.state_dict())
    assert np.allclose(train(ours), train(theirs), atol=1e-5)
