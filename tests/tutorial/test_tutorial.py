"""The tutorial reproduced: numbers of the seed, MNIST on and off torchvision, the command line.

Where the seed's numbers are checked: the command runs in a fresh process, where it asks MKL for
its compatible code path (:func:`qnn_torch.use_reproducible_blas`), and must then print every loss
the seed prints, on any CPU with AVX2. In this process (whose MKL path the rest of the suite
fixed), the tutorial's functions must equal qiskit-machine-learning run here, evaluation for
evaluation, and the seed where the arithmetic does not depend on the CPU.
"""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from qnn_torch import blas_mode, cli, tutorial
from qnn_torch.checkpoint import save_atomic
from qnn_torch.data import load_mnist01, tutorial_random
from qnn_torch.tutorial import PARTS, evaluate_mnist_checkpoint, run_mnist_hybrid

from ..seed_tutorial import (DETERMINISTIC_EVALUATIONS, SEED_LOSSES, assert_the_seed, command_json, needs_avx2,
                             seed_experiments)

def run_cli(*argv):
    return cli.main([str(a) for a in argv])


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


def test_random_numbers_follow_the_seed_order():
    r = tutorial_random()
    rng = np.random.default_rng(42)
    assert np.array_equal(r.X, 2 * rng.random([20, 2]) - 1)
    assert np.allclose(r.w_estimator[:3], [-0.01256962, 0.06653564, 0.04005302])  # printed by the seed
    assert np.allclose(r.w_sampler, [0.0364991, -0.0720495, -0.06001836, -0.09852755])


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
@pytest.mark.parametrize("device, shots, minimum", [("qiskit.aer", None, None), ("fake:FakeManilaV2", 1024, 0.9)])
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
    from functools import partial

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


def test_torchvision_path_with_idx_files(tmp_path):
    """torchvision's MNIST loader is used when its files are there (small IDX files written here)."""
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)

    def write(name, labels):
        images = rng.integers(0, 256, (len(labels), 28, 28), dtype=np.uint8)
        (raw / f"{name}-images-idx3-ubyte").write_bytes(
            np.array([0x803, len(labels), 28, 28], dtype=">i4").tobytes() + images.tobytes())
        (raw / f"{name}-labels-idx1-ubyte").write_bytes(
            np.array([0x801, len(labels)], dtype=">i4").tobytes() + np.asarray(labels, dtype=np.uint8).tobytes())
        return images

    train_images = write("train", [3, 0, 1, 0, 1, 7, 0, 1])
    write("t10k", [1, 0, 0, 1, 5])
    split = load_mnist01(tmp_path, n_train=2, n_test=1, download=False)
    assert split.source.startswith("MNIST from torchvision")
    assert split.train.tensors[1].tolist() == [0, 0, 1, 1]
    assert torch.allclose(split.train.tensors[0][0, 0], torch.tensor(train_images[1] / 255.0, dtype=torch.float32))
    assert split.test.tensors[1].tolist() == [0, 1]


def test_shipped_subset_without_torchvision_data(tmp_path):
    split = load_mnist01(tmp_path / "empty", n_train=100, n_test=50, download=False)
    assert "shipped real-MNIST subset" in split.source
    images, labels = split.train.tensors
    assert images.shape == (200, 1, 28, 28) and labels.bincount().tolist() == [100, 100]
    assert 0.0 <= images.min() and images.max() <= 1.0 and images.mean() > 0.05
    with pytest.raises(ValueError, match="n_train \\+ n_test must be at most 500"):
        load_mnist01(tmp_path / "empty", n_train=400, n_test=200, download=False)


def test_atomic_checkpoint_survives_a_failed_write(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.pt"
    save_atomic({"w": torch.ones(3)}, path)

    def broken_save(obj, fh):
        fh.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_atomic({"w": torch.zeros(3)}, path)
    monkeypatch.undo()
    assert torch.equal(torch.load(path, weights_only=True)["w"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]


# ---------------------------------------------------------------- command-line errors


@pytest.mark.parametrize(
    "argv, message",
    [
        (["tutorial", "--parts", "classification,regression"], "unknown part 'classification'"),
        (["tutorial", "--epochs", "-3"], "--epochs: expected a positive integer, got -3"),
        (["tutorial", "--epochs", "0"], "--epochs: expected a positive integer, got 0"),
        (["tutorial", "--shots", "0"], "--shots: expected a positive integer, got 0"),
        (["tutorial", "--device", "qiskit.ibmq"], "--device: device must be"),
        (["evaluate", "missing.pt"], "checkpoint missing.pt does not exist"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_bad_command_line(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        sys.exit(cli.main(argv))
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_unwritable_out(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert run_cli("tutorial", "--parts", "regression", "--out", blocker / "sub") == 2
    err = capsys.readouterr().err
    assert "is not writable" in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_python_dash_m_entry_point():
    proc = subprocess.run([sys.executable, "-m", "qnn_torch", "tutorial", "--parts", "nope"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 2 and "unknown part 'nope'" in proc.stderr and PARTS[0] in proc.stderr


# ---------------------------------------------------------------- data message, plots, notebook


def test_shipped_subset_size_agrees_with_the_readme(tmp_path):
    from pathlib import Path

    from qnn_torch.data.mnist import load_shipped

    images, _ = load_shipped()
    size = f"{len(images):,}"
    source = load_mnist01(tmp_path, download=False).source
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert f"({size} images of the digits 0 and 1" in source
    assert f"real {size}-image MNIST 0/1 subset" in readme
    assert "5,000-image" not in source  # the sample it was taken from, not its size


def test_regression_plot_shows_sin_under_the_fit():
    from qnn_torch.plots import regression_figure

    grid = np.linspace(-np.pi, np.pi, 50)
    fig = regression_figure(grid[:5], np.sin(grid[:5]), grid, np.sin(grid))  # a perfect fit covers sin(x)
    lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
    sin, fit = lines["sin(x)"], lines["QNN fit"]
    assert sin.get_zorder() < fit.get_zorder() < lines["training data"].get_zorder()
    assert sin.get_linewidth() >= 3 * fit.get_linewidth()  # a wide band that shows around the fit
    assert sin.get_color() != fit.get_color() and sin.get_linestyle() == "-"


def test_mnist_loss_plot_explains_the_negative_loss():
    from qnn_torch.plots import mnist_losses_figure

    ax = mnist_losses_figure([-0.57, -1.2, -2.46]).axes[0]
    assert "not log-probabilities" in ax.get_title() and "negative" in ax.get_title()
    assert "NLLLoss" in ax.get_ylabel()


@pytest.mark.slow
def test_mnist_notebook_prints_the_numbers_of_the_command_line(tmp_path, monkeypatch):
    """04_mnist_hybrid.ipynb and `qnn-torch tutorial --parts mnist-hybrid` train the same model."""
    import re
    from pathlib import Path

    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("QNN_TORCH_TUTORIAL_EPOCHS", "2")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    path = Path(__file__).resolve().parents[2] / "tutorials" / "04_mnist_hybrid.ipynb"
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    text = "".join(o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", []))
    losses = [float(v) for v in re.findall(r"epoch \d+/2: loss (-?\d+\.\d+)", text)]
    accuracy = float(re.search(r"test accuracy: (\d\.\d+)", text).group(1))
    assert (tmp_path / "qnn-torch-out" / "mnist-hybrid.pt").is_file()  # where the README's evaluate looks

    result = run_mnist_hybrid(epochs=2, data_root=tmp_path / "data", on_message=None)
    assert losses == pytest.approx(result.losses, abs=2e-6)
    assert accuracy == pytest.approx(result.accuracy, abs=1e-4)
