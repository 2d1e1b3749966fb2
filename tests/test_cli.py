"""The command line: checkpoints, output paths and signals, each answered in one line."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from qnn_torch import cli, fit, tutorial
from qnn_torch.checkpoint import save_atomic
from qnn_torch.tutorial import TRAIN_CHECKPOINT, HybridNet, make_mnist_qnn

ROOT = str(Path(__file__).resolve().parents[1])
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")]))}
CANARY = "canary-ibm-token-5d1e-MUST-NOT-APPEAR"


def one_line_error(capsys, code, expected_code=2):
    err = capsys.readouterr().err
    assert code == expected_code, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err and "weights_only" not in err
    return lines[0]


@pytest.fixture(scope="module")
def hybrid_files(tmp_path_factory):
    """A mnist-hybrid state_dict and a training checkpoint holding the same model (untrained)."""
    folder = tmp_path_factory.mktemp("hybrid")
    torch.manual_seed(5)
    model = HybridNet(make_mnist_qnn())
    opt = torch.optim.Adam(model.parameters())
    plain = save_atomic(model.state_dict(), folder / "mnist-hybrid.pt")
    training = folder / TRAIN_CHECKPOINT
    fit(model, [], opt, torch.nn.NLLLoss(), epochs=2, checkpoint=training)
    return folder, plain, training


def test_evaluate_reads_a_state_dict_and_a_training_checkpoint(hybrid_files, capsys):
    folder, plain, training = hybrid_files
    reports = []
    for path in (plain, training):
        assert cli.main(["evaluate", str(path), "--data-root", str(folder / "none")]) == 0
        out = capsys.readouterr().out.strip().splitlines()
        assert out[0].startswith("MNIST source: shipped real-MNIST subset")
        assert out[0].endswith("; 100 test images")
        assert f"torchvision data not found under {folder / 'none'}" in out[0]
        reports.append(out[1].split(": ", 1)[1])
    assert reports[0] == reports[1]  # the same model, whichever file


@pytest.mark.parametrize("name, content, expected", [
    ("empty.pt", b"", "is not a PyTorch checkpoint: the file is empty"),
    ("garbage.pt", b"\x80\x02}q\x00garbage" * 5,
     "is not a PyTorch checkpoint: the file is not written by torch.save"),
    ("list.pt", [torch.ones(2)], "is not a model checkpoint: expected a state_dict or a training checkpoint"),
    ("wrong-keys.pt", {"fc.weight": torch.ones(2, 2)},
     "is not a checkpoint of the mnist-hybrid model (missing conv1"),
    ("wrong-shape.pt", "shape", "is not a checkpoint of the mnist-hybrid model (size mismatch"),
])
def test_evaluate_answers_a_bad_checkpoint_in_one_line(tmp_path, capsys, name, content, expected):
    path = tmp_path / name
    if content == "shape":
        state = HybridNet(make_mnist_qnn()).state_dict()
        state["fc3.weight"] = torch.ones(3, 3)
        save_atomic(state, path)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        save_atomic(content, path)
    line = one_line_error(capsys, cli.main(["evaluate", str(path)]))
    assert line.startswith(f"qnn-torch: error: {path} ") and expected in line


def test_evaluate_truncated_checkpoint(hybrid_files, tmp_path, capsys):
    _, plain, _ = hybrid_files
    data = plain.read_bytes()
    path = tmp_path / "cut.pt"
    path.write_bytes(data[: len(data) // 3])
    line = one_line_error(capsys, cli.main(["evaluate", str(path)]))
    assert str(path) in line and "truncated" in line


@pytest.fixture
def no_work(monkeypatch):
    """Fails a test if any experiment starts."""
    def forbidden(*args, **kwargs):
        raise AssertionError("an experiment ran before the arguments were checked")

    for name in ("run_classification_estimator", "run_classification_sampler", "run_regression",
                 "run_mnist_hybrid"):
        monkeypatch.setattr(tutorial, name, forbidden)


def test_resume_from_a_bad_checkpoint(tmp_path, capsys, no_work):
    (tmp_path / TRAIN_CHECKPOINT).write_bytes(b"not a checkpoint at all")
    line = one_line_error(capsys, cli.main(["tutorial", "--out", str(tmp_path), "--resume"]))
    assert f"--resume: {tmp_path / TRAIN_CHECKPOINT} is not a PyTorch checkpoint" in line


def test_resume_with_fewer_epochs_than_done(hybrid_files, tmp_path, capsys, no_work):
    _, _, training = hybrid_files
    (tmp_path / TRAIN_CHECKPOINT).write_bytes(training.read_bytes())
    line = one_line_error(capsys, cli.main(["tutorial", "--parts", "mnist-hybrid", "--out", str(tmp_path),
                                            "--resume", "--epochs", "1"]))
    assert "already holds 2 epochs, more than --epochs 1" in line


@pytest.mark.parametrize("where, expected", [
    ("json-dir", "--json {p} is a folder"),
    ("json-under-file", "--json {p}: {parent} is not a folder"),
    ("out-file", "--out {p} is not a folder"),
])
def test_output_paths_are_checked_before_any_work(tmp_path, capsys, no_work, where, expected):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    argv = ["tutorial", "--parts", "regression"]
    if where == "json-dir":
        p, parent = tmp_path, None
        argv += ["--out", str(tmp_path / "out"), "--json", str(p)]
    elif where == "json-under-file":
        p, parent = blocker / "r.json", blocker
        argv += ["--out", str(tmp_path / "out"), "--json", str(p)]
    else:
        p, parent = blocker, None
        argv += ["--out", str(p)]
    line = one_line_error(capsys, cli.main(argv))
    assert expected.format(p=p, parent=parent) in line
    assert not list(tmp_path.rglob("*.tmp"))


@pytest.fixture
def quick_regression(monkeypatch):
    """The regression part replaced by a result at once; no plots."""
    result = tutorial.PartResult("regression", [1.0, 0.5], None, 0.5, 0.1, "default.qubit", {})
    monkeypatch.setattr(tutorial, "run_regression", lambda *a, **k: result)
    monkeypatch.setattr("qnn_torch.plots.save_part_plots", lambda *a: [])


def test_json_is_written_atomically(tmp_path, monkeypatch, quick_regression):
    path = tmp_path / "r.json"
    path.write_text("old")
    argv = ["tutorial", "--parts", "regression", "--out", str(tmp_path), "--json", str(path)]

    def replace_fails(src, dst):
        raise OSError("disk full")

    with monkeypatch.context() as patch, pytest.raises(OSError, match="disk full"):
        patch.setattr(os, "replace", replace_fails)
        cli.main(argv)
    assert path.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]
    assert cli.main(argv) == 0
    assert '"losses": [\n        1.0,' in path.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]


def test_sigterm_outside_training_stops_with_its_exit_code(tmp_path, monkeypatch, capsys):
    def terminated(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises before this ends
        raise AssertionError("SIGTERM did not stop the run")

    monkeypatch.setattr(tutorial, "run_regression", terminated)
    line = one_line_error(capsys, cli.main(["tutorial", "--parts", "regression", "--out", str(tmp_path)]),
                          128 + signal.SIGTERM)
    assert line == "qnn-torch: interrupted (SIGTERM)"
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # restored


def _ctrl_c_as_a_terminal_gives_it():
    """In the child: SIGINT raises KeyboardInterrupt, as in a terminal (a test run in the
    background, such as CI's, starts its children with SIGINT ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


# A ``qnn-torch`` process whose simulations hang in Qiskit Aer's worker threads once training
# has begun: an interrupted run must exit without waiting for them.
HANGING_AER = """
import sys, time
from pathlib import Path
from qiskit_aer.backends.aerbackend import AerBackend

marker, execute = Path(sys.argv[1]), AerBackend._execute_circuits_job

def hang(self, *args, **kwargs):
    marker.write_text("a simulation is running in a worker thread")
    time.sleep(300)
    return execute(self, *args, **kwargs)

AerBackend._execute_circuits_job = hang
sys.argv = ["qnn-torch", *sys.argv[2:]]
from qnn_torch.cli import run
run()
"""


@pytest.mark.slow
@pytest.mark.parametrize("device, shots", [("qiskit.aer", None), ("fake:FakeManilaV2", 64)])
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_an_interrupt_does_not_wait_for_simulations_in_worker_threads(tmp_path, device, shots, signum):
    marker = tmp_path / "running"
    argv = ["tutorial", "--parts", "regression", "--device", device, "--out", str(tmp_path), "--no-progress"]
    argv += ["--shots", str(shots)] if shots else []
    proc = subprocess.Popen([sys.executable, "-c", HANGING_AER, str(marker), *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ENV,
                            preexec_fn=_ctrl_c_as_a_terminal_gives_it)
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    proc.send_signal(signum)
    try:
        _, err = proc.communicate(timeout=20)  # the simulation would hold it for 300 s
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("the interrupted command waited for the simulation in its worker thread")
    assert proc.returncode == 128 + signum, err
    name = "Ctrl-C" if signum == signal.SIGINT else "SIGTERM"
    assert err.strip().splitlines() == [f"qnn-torch: interrupted ({name})"]


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_an_interrupt_on_default_qubit_names_the_checkpoint_once(tmp_path, signum):
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "qnn_torch", "tutorial", "--parts", "mnist-hybrid", "--epochs", "100",
         "--out", str(out), "--data-root", str(tmp_path / "none"), "--no-progress"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
        preexec_fn=_ctrl_c_as_a_terminal_gives_it)
    checkpoint, deadline = out / TRAIN_CHECKPOINT, time.monotonic() + 120
    while not checkpoint.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    proc.send_signal(signum)
    out_text, err = proc.communicate(timeout=20)
    assert proc.returncode == 128 + signum, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and f"resume from checkpoint {checkpoint}" in lines[0], err
    assert (out_text + err).count(str(checkpoint)) == 1


# ---------------------------------------------------------------- what a run says while it runs


def test_help_is_plain_text(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    assert "qnn-torch tutorial runs" in out and "``" not in out and ":func:" not in out


def test_a_long_step_still_gets_a_status_line(tmp_path, monkeypatch, capsys):
    """Without bars, a status line at least every STATUS_SECONDS, also while one step takes long."""
    monkeypatch.setattr(cli, "STATUS_SECONDS", 0.2)

    def slow_part(device, shots, on_eval=None):
        on_eval(3.5)
        time.sleep(1.0)  # one long step: a hardware job, say
        on_eval(1.25)
        return tutorial.PartResult("regression", [3.5, 1.25], None, 1.0, 1.0, device, {})

    monkeypatch.setattr(tutorial, "run_regression", slow_part)
    monkeypatch.setattr("qnn_torch.plots.save_part_plots", lambda *a: [])
    assert cli.main(["tutorial", "--parts", "regression", "--out", str(tmp_path), "--no-progress"]) == 0
    status = [line for line in capsys.readouterr().out.splitlines() if line.startswith("regression: 1 of")]
    assert len(status) >= 3  # the 1 s step alone is five status periods
    assert status[0].startswith("regression: 1 of at most 25 evaluations, loss 3.5000, ")


def test_the_mnist_source_is_named_before_training(tmp_path, monkeypatch, capsys):
    def no_training(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(tutorial, "fit", no_training)
    code = cli.main(["tutorial", "--parts", "mnist-hybrid", "--out", str(tmp_path), "--data-root",
                     str(tmp_path / "none"), "--no-progress"])
    assert code == 128 + signal.SIGINT
    assert capsys.readouterr().out.startswith("MNIST source: shipped real-MNIST subset")


def test_the_table_says_what_its_losses_are(tmp_path, monkeypatch, capsys, quick_regression):
    path = tmp_path / "r.json"
    assert cli.main(["tutorial", "--parts", "regression", "--out", str(tmp_path), "--json", str(path)]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("part "))
    assert header.split() == ["part", "steps", "first", "loss", "last", "loss", "trained", "loss", "accuracy",
                              "seconds", "device"]
    assert "trained loss: the trained model's loss on the training" in " ".join(out.split())
    assert "float32 arithmetic: MKL's" in out or "torch without MKL" in out
    part = json.loads(path.read_text())["parts"]["regression"]
    assert part["losses"] == [1.0, 0.5] and part["trained_loss"] == 0.5 and "final_loss" not in part


# ---------------------------------------------------------------- bad command lines


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
    assert cli.main(["tutorial", "--parts", "regression", "--out", str(blocker / "sub")]) == 2
    err = capsys.readouterr().err
    assert "is not writable" in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_python_dash_m_entry_point():
    proc = subprocess.run([sys.executable, "-m", "qnn_torch", "tutorial", "--parts", "nope"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 2 and "unknown part 'nope'" in proc.stderr
    assert tutorial.PARTS[0] in proc.stderr


def test_ibm_backend_through_the_command_line(monkeypatch, capsys):
    import qiskit_ibm_runtime

    from qnn_torch import cli

    def service(token=None, **kwargs):
        raise RuntimeError(f"invalid token {token}")

    monkeypatch.setenv("QISKIT_IBM_TOKEN", CANARY)
    monkeypatch.setattr(qiskit_ibm_runtime, "QiskitRuntimeService", service)
    assert cli.main(["evaluate", __file__, "--device", "ibm:ibm_brisbane"]) == 2
    err = capsys.readouterr().err
    assert "invalid token ***" in err and CANARY not in err and len(err.strip().splitlines()) == 1


def test_the_tutorial_trains_without_importing_torchs_compiler(tmp_path):
    """L-BFGS and Adam run without ``torch._dynamo`` (``defer_dynamo_import``): about 1.3 s less."""
    code = ("import sys; from qnn_torch import cli; code = cli.main(sys.argv[1:]); "
            "print(code, 'torch._dynamo' in sys.modules)")
    argv = ["tutorial", "--parts", "regression,mnist-hybrid", "--epochs", "1", "--no-progress",
            "--out", str(tmp_path / "out"), "--data-root", str(tmp_path / "data")]
    proc = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, env=ENV,
                          timeout=300)
    assert proc.stdout.strip().splitlines()[-1] == "0 False", proc.stderr
