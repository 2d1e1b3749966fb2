"""IBM backends (through fake ones): few jobs per step, sessions, no lost work, no leaked token."""

import json
from functools import partial

import numpy as np
import pennylane as qml
import pytest
import torch
from qiskit.providers.fake_provider import GenericBackendV2
from qiskit_ibm_runtime.fake_provider import FakeManilaV2

from qnn_torch import (BatchedRemoteDevice, EstimatorQNN, RealAmplitudes, SamplerQNN, TorchConnector,
                       TrainingInterrupted, fit, parity)
from qnn_torch.devices import aer, remote

from .networks import network, noise_scale, training_losses

FAKE_TOKEN = "fake-ibm-token-5c1d2e-DO-NOT-LEAK"


def fake_estimator(**kwargs):
    return EstimatorQNN(2, ansatz=partial(RealAmplitudes, reps=1), device=FakeManilaV2(), **kwargs)


def noiseless(num_qubits=2):
    """A noiseless fake IBM backend (GenericBackendV2): the whole remote path, fast."""
    return GenericBackendV2(num_qubits, noise_info=False, seed=3)


# a 2-qubit network: 6 feature-map and 4 ansatz gate parameters, two shifted circuits each
SHIFTED_PER_SAMPLE = 2 * 10


@pytest.mark.parametrize("kind, batch, backend", [
    ("estimator", 1, "FakeManilaV2"), ("estimator", 8, "FakeManilaV2"),
    pytest.param("estimator", 32, "noiseless", marks=pytest.mark.slow),
    ("sampler", 1, "noiseless"), ("sampler", 8, "noiseless"),
    pytest.param("sampler", 32, "noiseless", marks=pytest.mark.slow)])
def test_one_job_per_training_step(kind, batch, backend, job_counter):
    """A differentiated forward pass and all its parameter-shift circuits: one primitive job; the
    backward pass runs none."""
    qnn = network(kind, FakeManilaV2() if backend == "FakeManilaV2" else noiseless(), shots=16)
    model = TorchConnector(qnn, initial_weights=np.full(4, 0.3))
    dev = qnn.spec.device
    x = torch.rand(batch, 2, requires_grad=True)  # input gradients on
    with qml.Tracker(dev) as tracker:
        out = model(x)
        assert tracker.totals["jobs"] == 1  # already in the forward pass
        out[:, 0].sum().backward()
    assert tracker.totals["jobs"] == 1 == job_counter["estimator"] + job_counter["sampler"]
    assert job_counter[kind] == 1
    assert tracker.totals["job_circuits"] == batch * (1 + SHIFTED_PER_SAMPLE) == dev.circuits_run
    assert dev.transpilations == 1  # one circuit structure, transpiled once
    assert x.grad.abs().sum() > 0 and model.weight.grad.abs().sum() > 0
    with qml.Tracker(dev) as tracker, torch.no_grad():  # evaluation: one job, no gradient circuits
        model(x)
    assert tracker.totals["jobs"] == 1 and tracker.totals["job_circuits"] == batch


SHOTS = 1000


@pytest.mark.parametrize("kind", ["estimator", "sampler"])
def test_two_job_mode_runs_the_same_circuits(kind, monkeypatch):
    """``jobs_per_step=2``: the forward circuits in one job, the shifted ones in a second; together
    exactly the circuits of the one job of the default mode. (The connector computes the Jacobians
    with the forward pass, so both jobs run there; the backward pass runs none.)"""
    submitted = []
    for cls in (remote.EstimatorV2, remote.SamplerV2):
        original = cls.run

        def run(self, pubs, *args, _original=original, **kwargs):
            # (structure, parameter rows) of every PUB: what the job evaluates
            submitted[-1].append(sorted(map(tuple, np.round(np.concatenate([p[-2] for p in pubs]), 12))))
            return _original(self, pubs, *args, **kwargs)

        monkeypatch.setattr(cls, "run", run)
    x = torch.tensor([[0.2, -0.4], [0.7, 0.1], [-0.9, 0.5]], requires_grad=True)
    circuits, grads = {}, {}
    for jobs in (1, 2):
        submitted.append([])
        qnn = network(kind, noiseless(), shots=SHOTS, device_options={"jobs_per_step": jobs})
        model = TorchConnector(qnn, initial_weights=np.array([0.3, -0.5, 0.9, 0.1]))
        with torch.no_grad():
            model(x)
        assert len(submitted[-1]) == 1  # evaluation: one job in both modes
        submitted[-1].clear()
        out = model(x)
        out[:, 0].sum().backward()
        assert len(submitted[-1]) == jobs
        circuits[jobs] = sorted(row for job in submitted[-1] for row in job)
        grads[jobs] = (out.detach(), x.grad.clone(), model.weight.grad.clone())
        x.grad = None
    assert circuits[1] == circuits[2] and len(circuits[1]) == 3 * (1 + SHIFTED_PER_SAMPLE)
    # the same circuits, sampled independently: equal within 5 sigma of the difference of two
    # estimates (test_device_parity.noise_scale: the parameter-shift rule and the chain rule)
    sigma = (1.0 if kind == "estimator" else 0.5) / np.sqrt(SHOTS) * np.sqrt(2)
    s = noise_scale(qnn, x.detach().double().numpy(), np.array([0.3, -0.5, 0.9, 0.1]))
    tolerances = (5 * sigma, 5 * sigma * np.sqrt(s[:, :2] / 2), 5 * sigma * np.sqrt(s[:, 2:].sum(0) / 2))
    for a, b, tol in zip(grads[1], grads[2], tolerances):
        assert np.all(np.abs((a - b).numpy()) <= tol + 1e-9), (a, b)


@pytest.mark.parametrize("kind", ["estimator", "sampler"])
def test_both_modes_give_identical_numbers_on_exact_aer(kind):
    """Exactly the same numbers from one job or two (``qiskit.aer`` without shots runs the same
    device code, exactly)."""
    x = torch.tensor([[0.2, -0.4], [0.7, 0.1]], dtype=torch.float64, requires_grad=True)
    results = []
    for jobs in (1, 2):
        qnn = network(kind, "qiskit.aer", device_options={"jobs_per_step": jobs})
        model = TorchConnector(qnn, initial_weights=np.array([0.3, -0.5, 0.9, 0.1]))
        dev = qnn.spec.device
        with qml.Tracker(dev) as tracker:
            out = model(x)
            out[:, 0].sum().backward()
        assert tracker.totals["jobs"] == jobs
        results.append((out.detach(), x.grad.clone(), model.weight.grad.clone()))
        x.grad = None
    exact = network(kind, "default.qubit")
    want = TorchConnector(exact, initial_weights=np.array([0.3, -0.5, 0.9, 0.1]))(x.detach())
    for a, b in zip(*results):
        assert torch.equal(a, b)
    assert torch.allclose(results[0][0], want.to(results[0][0].dtype), atol=1e-6)


def test_jobs_per_step_must_be_one_or_two():
    with pytest.raises(ValueError, match="jobs_per_step must be 1 .* or 2 .*; got 3"):
        fake_estimator(device_options={"jobs_per_step": 3})


@pytest.mark.slow
def test_loss_decreases_on_a_fake_backend(job_counter):
    torch.manual_seed(0)
    qnn = fake_estimator(shots=2048)
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), TorchConnector(qnn, initial_weights=np.full(4, 0.8)))
    x = torch.rand(8, 2) * 2 - 1
    y = torch.ones(8, 1) * -1
    losses = training_losses(model, x, y, torch.optim.Adam(model.parameters(), lr=0.15), 4)
    assert losses[-1] < losses[0] - 0.1, losses
    assert job_counter["estimator"] == 4  # one per step


@pytest.mark.slow
def test_matches_the_stock_device_within_shot_noise():
    shots = 8192
    w = np.array([0.3, -0.5, 0.9, 0.1])
    x = torch.tensor([[0.2, -0.4], [0.7, 0.1], [-0.9, 0.5]])
    stock = qml.device("qiskit.remote", wires=2, backend=FakeManilaV2())
    with torch.no_grad():
        ours = TorchConnector(fake_estimator(shots=shots), initial_weights=w)(x)
        stock_qnn = EstimatorQNN(2, ansatz=partial(RealAmplitudes, reps=1), device=stock, shots=shots)
        theirs = TorchConnector(stock_qnn, initial_weights=w)(x)
    tolerance = 5 * np.sqrt(2 / shots)  # two independent estimates of values in [-1, 1]
    assert torch.all((ours - theirs).abs() < tolerance), (ours, theirs)


def test_sampler_qnn_on_a_fake_backend(job_counter):
    shots = 8192
    w = np.array([0.3, -0.5, 0.9, 0.1])
    x = torch.tensor([[0.2, -0.4], [0.7, 0.1]], requires_grad=True)
    make = partial(SamplerQNN, 2, ansatz=partial(RealAmplitudes, reps=1), interpret=parity, output_shape=2)
    noisy = TorchConnector(make(device="fake:FakeManilaV2", shots=shots), initial_weights=w)
    out = noisy(x)
    out[:, 0].sum().backward()
    assert job_counter["sampler"] == 1  # the second output's sweep reuses the Jacobian
    exact = TorchConnector(make(), initial_weights=w)(x.detach())
    assert torch.allclose(out.sum(1), torch.ones(2), atol=1e-6)
    assert torch.all((out.detach() - exact).abs() < 0.1)  # noise of a 5-qubit device model


# ---------------------------------------------------------------- no lost work


def _tiny_problem():
    torch.manual_seed(5)
    x = torch.rand(6, 2) * 2 - 1
    y = (x.sum(1, keepdim=True) > 0).float() * 2 - 1
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=3, shuffle=True)


@pytest.mark.slow
def test_job_failure_mid_epoch_leaves_a_whole_checkpoint(tmp_path, monkeypatch):
    loader = _tiny_problem()
    model = TorchConnector(fake_estimator(shots=256), initial_weights=np.zeros(4))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    calls = {"n": 0}
    original = BatchedRemoteDevice._run_estimator

    def flaky(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:  # epoch 1 uses 2 jobs (2 batches, one job each); fail inside epoch 2
            raise RuntimeError("IBMRuntimeError: job failed (simulated)")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(BatchedRemoteDevice, "_run_estimator", flaky)
    path = tmp_path / "run.pt"
    with pytest.raises(TrainingInterrupted) as info:
        fit(model, loader, opt, torch.nn.MSELoss(), epochs=3, checkpoint=path)
    message = str(info.value)
    assert "epoch 2 of 3" in message and str(path) in message and "resume" in message
    assert "job failed (simulated)" in message
    assert info.value.checkpoint == path and info.value.epochs_done == 1
    state = torch.load(path, weights_only=True)  # whole, and loadable safely
    assert state["epoch"] == 1 and len(state["losses"]) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.pt"]  # no temporary left behind

    monkeypatch.setattr(BatchedRemoteDevice, "_run_estimator", original)
    losses = fit(model, loader, opt, torch.nn.MSELoss(), epochs=3, checkpoint=path, resume=True)
    assert len(losses) == 3 and losses[0] == state["losses"][0]


def test_resumed_run_equals_an_uninterrupted_one(tmp_path):
    def run(path, fail_at=None):
        torch.manual_seed(11)
        loader = _tiny_problem()
        model = torch.nn.Sequential(torch.nn.Linear(2, 2), TorchConnector(EstimatorQNN(2, ansatz=partial(
            RealAmplitudes, reps=1))), torch.nn.Dropout(0.2))
        opt = torch.optim.Adam(model.parameters(), lr=0.05)
        seen = {"n": 0}

        def on_batch(_):
            seen["n"] += 1
            if seen["n"] == fail_at:
                raise KeyboardInterrupt

        losses = fit(model, loader, opt, torch.nn.MSELoss(), epochs=4, checkpoint=path, on_batch=on_batch)
        return losses, model

    full_losses, full_model = run(tmp_path / "a.pt")
    with pytest.raises(TrainingInterrupted, match="epoch 3 of 4.*KeyboardInterrupt"):
        run(tmp_path / "b.pt", fail_at=5)
    torch.manual_seed(999)  # whatever happens between, the checkpoint restores the random state
    loader = _tiny_problem()
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), TorchConnector(EstimatorQNN(2, ansatz=partial(
        RealAmplitudes, reps=1))), torch.nn.Dropout(0.2))
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    losses = fit(model, loader, opt, torch.nn.MSELoss(), epochs=4, checkpoint=tmp_path / "b.pt", resume=True)
    assert losses == full_losses
    for a, b in zip(model.state_dict().values(), full_model.state_dict().values()):
        assert torch.equal(a, b)


@pytest.mark.slow
def test_cli_resume_after_interruption(tmp_path, monkeypatch, capsys):
    from qnn_torch import cli, tutorial

    argv = ["tutorial", "--parts", "mnist-hybrid", "--epochs", "2", "--data-root", str(tmp_path / "d"),
            "--no-progress"]
    assert cli.main(argv + ["--out", str(tmp_path / "full"), "--json", str(tmp_path / "full.json")]) == 0
    original = tutorial.HybridNet.forward
    calls = {"n": 0}

    def failing(self, x):
        calls["n"] += 1
        if calls["n"] == 300:  # inside epoch 2
            raise RuntimeError("connection to the backend lost")
        return original(self, x)

    monkeypatch.setattr(tutorial.HybridNet, "forward", failing)
    out = tmp_path / "broken"
    capsys.readouterr()
    assert cli.main(argv + ["--out", str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "mnist-hybrid-train.pt" in err[0] and "--resume" in err[0]
    monkeypatch.setattr(tutorial.HybridNet, "forward", original)
    assert cli.main(argv + ["--out", str(out), "--resume", "--json", str(tmp_path / "resumed.json")]) == 0
    full = json.loads((tmp_path / "full.json").read_text())["parts"]["mnist-hybrid"]
    resumed = json.loads((tmp_path / "resumed.json").read_text())["parts"]["mnist-hybrid"]
    assert resumed["losses"] == full["losses"] and resumed["accuracy"] == full["accuracy"]


# ---------------------------------------------------------------- credentials


@pytest.mark.slow
def test_token_never_reaches_output_logs_or_checkpoints(tmp_path, monkeypatch, capsys, caplog):
    import logging

    monkeypatch.setenv("QISKIT_IBM_TOKEN", FAKE_TOKEN)
    caplog.set_level(logging.DEBUG)
    from qnn_torch import cli

    code = cli.main(["tutorial", "--parts", "regression", "--device", "fake:FakeManilaV2", "--shots", "256",
                     "--out", str(tmp_path), "--json", str(tmp_path / "r.json"), "--no-progress"])
    assert code == 0
    model = TorchConnector(fake_estimator(shots=128), initial_weights=np.zeros(4))
    fit(model, [(torch.rand(2, 2), torch.rand(2, 1))], torch.optim.SGD(model.parameters(), lr=0.1),
        torch.nn.MSELoss(), epochs=1, checkpoint=tmp_path / "ckpt.pt")
    with pytest.raises(ValueError) as info:
        EstimatorQNN(2, device="ibm:ibm_brisbane")  # the real service is unreachable here
    out = capsys.readouterr()
    blobs = [out.out, out.err, caplog.text, str(info.value), repr(info.value)]
    blobs += [p.read_bytes().decode("latin-1") for p in tmp_path.rglob("*") if p.is_file()]
    assert all(FAKE_TOKEN not in blob for blob in blobs)


@pytest.mark.parametrize("jobs_per_step", [1, 2])
@pytest.mark.parametrize("device", ["qiskit.aer", "fake"])
@pytest.mark.parametrize("kind", ["estimator", "sampler"])
def test_tracker_counts_executions_batches_and_jobs(device, kind, jobs_per_step, job_counter):
    """``qml.Tracker`` sees the batched devices as it sees PennyLane's own devices that compute
    their derivatives (``execute_and_derivative_batches`` or ``batches`` then
    ``derivative_batches``), and counts the jobs too."""
    device = noiseless() if device == "fake" else device
    qnn = network(kind, device, device_options={"jobs_per_step": jobs_per_step})
    model = TorchConnector(qnn, initial_weights=np.full(4, 0.3))
    x = torch.rand(3, 2, requires_grad=True)
    dev = qnn.spec.device
    with qml.Tracker(dev) as tracker:
        model(x)[:, 0].sum().backward()
    jobs = job_counter["estimator"] + job_counter["sampler"]
    if device == "qiskit.aer":  # Aer's own primitives: counted by the device alone
        jobs = dev.jobs
    assert jobs == dev.jobs == jobs_per_step == tracker.totals["jobs"]
    if jobs_per_step == 1:
        assert tracker.totals["execute_and_derivative_batches"] == 1 and "batches" not in tracker.totals
    else:
        assert tracker.totals["batches"] == tracker.totals["derivative_batches"] == 1
        assert len(tracker.history["results"]) == 3
    assert tracker.totals["executions"] == tracker.totals["derivatives"] == 3  # the forward circuits
    # forward: one circuit per sample; gradient: two shifted circuits per gate parameter
    # (6 feature-map and 4 ansatz gates) per sample
    assert tracker.totals["job_circuits"] == 3 + 3 * SHIFTED_PER_SAMPLE == dev.circuits_run


# ---------------------------------------------------------------- the batched devices' edge paths
# (each would give a silently wrong number)

def test_large_observables_that_print_alike_get_their_own_circuits():
    """Two 5-qubit Hermitians whose reprs are the same (NumPy abbreviates them) are not one template."""
    rng = np.random.default_rng(0)
    a = np.diag(rng.uniform(-1, 1, 32))
    b = a.copy()
    b[16, 16] += 0.5  # a diagonal entry in the abbreviated middle
    dev = aer.BatchedAerDevice(wires=5)

    def circuit(matrix):
        def f(x):
            for w in range(5):
                qml.Hadamard(w)
            qml.RY(x, 0)
            return qml.expval(qml.Hermitian(matrix, wires=range(5)))
        return f

    assert repr(qml.Hermitian(a, wires=range(5))) == repr(qml.Hermitian(b, wires=range(5)))
    reference = qml.device("default.qubit", wires=5)
    for matrix in (a, b):
        got = qml.QNode(circuit(matrix), dev)(0.3)
        want = qml.QNode(circuit(matrix), reference)(0.3)
        assert float(got) == pytest.approx(float(want), abs=1e-9)
    assert dev.transpilations == 2


@pytest.mark.parametrize("device", ["aer", "fake"])
def test_circuits_whose_parameters_the_transpiler_removes(device):
    """Diagonal gates before the measurement are optimised away with their parameters: each
    circuit of the batch still gets its own result (no split shots, no reshape error)."""
    from qiskit.providers.fake_provider import GenericBackendV2

    options = {"optimization_level": 3}
    if device == "aer":
        dev = aer.BatchedAerDevice(wires=2, shots=4000, **options)
    else:
        dev = BatchedRemoteDevice(wires=2, backend=GenericBackendV2(2, noise_info=False, seed=3), **options)

    def circuit(a):
        qml.Hadamard(0)
        qml.CNOT([0, 1])
        qml.RZ(a, 0)
        qml.RZ(2 * a, 1)
        return qml.probs(wires=[0, 1])

    qnode = qml.set_shots(qml.QNode(circuit, dev), 4000)
    batch = [qml.tape.QuantumScript([qml.Hadamard(0), qml.CNOT([0, 1]), qml.RZ(a, 0), qml.RZ(2 * a, 1)],
                                    [qml.probs(wires=[0, 1])], shots=4000) for a in (0.1, 0.5, 0.9)]
    results = dev.execute(batch)
    assert len(results) == 3
    for res in results:
        probs = np.asarray(res[0] if isinstance(res, tuple) else res)
        assert probs.shape == (4,)
        np.testing.assert_allclose(probs, [0.5, 0, 0, 0.5], atol=5 * 0.5 / np.sqrt(4000))
    assert qnode(0.3).shape == (4,)
