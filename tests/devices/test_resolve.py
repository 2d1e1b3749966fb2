"""The one-argument device switch: every form, exactness, shots, training, credentials."""

import logging
import os
import subprocess
import sys
import textwrap
from functools import partial
from pathlib import Path

import numpy as np
import pennylane as qml
import pytest
import torch
from qiskit_ibm_runtime.fake_provider import FakeManilaV2

from qnn_torch import EstimatorQNN, RealAmplitudes, SamplerQNN, TorchConnector, parity, resolve_device
from tests.secrets_check import everything_about

from .networks import noise_scale, training_losses

FAKE_TOKEN = "fake-token-7f3a9c-DO-NOT-PRINT"
CANARY = "canary-ibm-token-5d1e-MUST-NOT-APPEAR"
ROOT = str(Path(__file__).resolve().parents[2])
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")]))}
"""dict: the environment of subprocesses: this checkout's qnn_torch first."""


def small_estimator(**kwargs):
    return EstimatorQNN(2, ansatz=partial(RealAmplitudes, reps=1), **kwargs)


@pytest.mark.parametrize(
    "name, diff_method, device_name",
    [("default.qubit", "backprop", "default.qubit"), ("lightning.qubit", "adjoint", "lightning.qubit"),
     ("qiskit.aer", "device", "qnn_torch.aer")],
)
def test_named_devices(name, diff_method, device_name):
    spec = resolve_device(name, 2)
    assert spec.diff_method == diff_method and spec.shots is None
    assert getattr(spec.device, "short_name", spec.device.name) == device_name


def test_device_object_used_as_is():
    dev = qml.device("default.qubit", wires=3)
    qnn = small_estimator(device=dev)
    assert qnn.spec.device is dev


def test_backend_object_goes_through_the_batched_remote_device():
    from pennylane_qiskit.remote import RemoteDevice

    spec = resolve_device(FakeManilaV2(), 2)
    assert spec.device.short_name == "qnn_torch.remote" and isinstance(spec.device, RemoteDevice)
    assert spec.shots == 1024  # hardware always samples: Qiskit's default


@pytest.mark.parametrize("kind", ["estimator", "sampler"])
@pytest.mark.parametrize("device", ["lightning.qubit", "qiskit.aer",
                                    pytest.param("stock-aer", marks=pytest.mark.slow)])
def test_exact_devices_agree_with_default_qubit(kind, device):
    """Outputs and input/weight gradients to 1e-6 on every exact device."""
    make = small_estimator if kind == "estimator" else partial(
        SamplerQNN, 2, ansatz=partial(RealAmplitudes, reps=1), interpret=parity, output_shape=2
    )
    w = np.array([0.3, -0.5, 0.9, 0.1])
    if device == "stock-aer":  # pennylane-qiskit's own device object, used as it is
        device = qml.device("qiskit.aer", wires=2, method="statevector")
    results = []
    for dev in ["default.qubit", device]:
        model = TorchConnector(make(device=dev), initial_weights=w)
        x = torch.tensor([[0.2, -0.4], [0.7, 0.1]], dtype=torch.float64, requires_grad=True)
        out = model(x)
        gx, gw = torch.autograd.grad(out[:, 0].sum(), (x, model.weight))
        results.append((out.detach(), gx, gw))
    for a, b in zip(*results):
        assert torch.allclose(a.double(), b.double(), atol=1e-6)


@pytest.mark.parametrize("device", ["default.qubit", "lightning.qubit"])
def test_shots_converge_to_exact(device):
    shots = 40_000
    w = np.array([0.3, -0.5, 0.9, 0.1])
    x = torch.tensor([[0.2, -0.4], [0.7, 0.1], [-0.9, 0.5]])
    exact = TorchConnector(small_estimator(device=device), initial_weights=w)(x).detach()
    sampled = TorchConnector(small_estimator(device=device, shots=shots), initial_weights=w)(x).detach()
    sigma = torch.sqrt((1 - exact**2).clamp(min=1e-3) / shots)
    assert torch.all((sampled - exact).abs() < 5 * sigma + 1e-6)
    assert not torch.equal(sampled, exact)  # it really sampled


def test_sampled_gradients_with_broadcast_inputs():
    """parameter-shift with a batch of inputs that require grad (PennyLane raises by default)."""
    model = TorchConnector(small_estimator(shots=20_000), initial_weights=np.zeros(4))
    x = torch.rand(3, 2, requires_grad=True)
    model(x).sum().backward()
    assert x.grad.shape == (3, 2) and model.weight.grad.shape == (4,)
    exact = TorchConnector(small_estimator(), initial_weights=np.zeros(4))
    x2 = x.detach().clone().requires_grad_(True)
    exact(x2).sum().backward()
    # five standard deviations of the parameter-shift estimate (see test_device_parity.noise_scale)
    scale = noise_scale(exact.qnn, x.detach().double().numpy(), np.zeros(4))[:, :2]
    tolerance = 5 * np.sqrt(scale / 2) / np.sqrt(20_000)
    assert np.all(np.abs((x.grad - x2.grad).numpy()) <= tolerance)


def _regression_data():
    x = torch.linspace(-2.5, 2.5, 4).reshape(-1, 1)
    return x, torch.sin(x)


@pytest.mark.parametrize(
    "device, shots",
    [("default.qubit", None), ("lightning.qubit", None), ("qiskit.aer", None), (FakeManilaV2(), 1024)],
    ids=["default.qubit", "lightning.qubit", "qiskit.aer", "FakeManilaV2"],
)
def test_same_model_trains_on_every_device(device, shots):
    qnn = EstimatorQNN(
        1, feature_map=lambda x, wires: qml.RY(x[..., 0], wires[0]), num_inputs=1,
        ansatz=lambda w, wires: qml.RY(w[..., 0], wires[0]), num_weights=1,
        device=device, shots=shots,
    )
    model = TorchConnector(qnn, initial_weights=[0.8])
    x, y = _regression_data()
    summed = partial(torch.nn.functional.mse_loss, reduction="sum")
    losses = training_losses(model, x, y, torch.optim.SGD(model.parameters(), lr=0.2), 4, summed)
    assert losses[-1] < 0.6 * losses[0], losses


# ---------------------------------------------------------------- bad input and secrets


def test_unknown_device_lists_accepted_forms():
    expected = r"device must be an installed PennyLane device name.*'ibm:<backend name>'.*got 'qiskit.ibmq'"
    with pytest.raises(ValueError, match=expected):
        small_estimator(device="qiskit.ibmq")


def test_not_a_device():
    with pytest.raises(TypeError, match="device must be .*got 3.5"):
        small_estimator(device=3.5)


@pytest.mark.parametrize("shots, error", [(0, ValueError), (-5, ValueError), (1.5, TypeError),
                                          ("100", TypeError)])
def test_bad_shots(shots, error):
    with pytest.raises(error, match="shots must be a positive integer or None"):
        small_estimator(shots=shots)


def test_small_device_object():
    with pytest.raises(ValueError, match="device must have at least 2 wires; got a device with 1"):
        small_estimator(device=qml.device("default.qubit", wires=1))


def test_ibm_without_credentials(monkeypatch, tmp_path):
    import qiskit_ibm_runtime.accounts.management as management

    monkeypatch.delenv("QISKIT_IBM_TOKEN", raising=False)
    monkeypatch.setattr(management, "_DEFAULT_ACCOUNT_CONFIG_JSON_FILE", str(tmp_path / "none.json"))
    with pytest.raises(ValueError, match="needs IBM Quantum credentials: set the QISKIT_IBM_TOKEN"):
        small_estimator(device="ibm:ibm_brisbane")


def test_ibm_token_never_echoed(monkeypatch, caplog, capsys):
    """Even an error whose text holds the token is reported without it."""
    import qiskit_ibm_runtime

    class Leaky:
        def __init__(self, token=None, **kwargs):
            raise RuntimeError(f"bad token {token} for this instance")

    monkeypatch.setenv("QISKIT_IBM_TOKEN", FAKE_TOKEN)
    monkeypatch.setattr(qiskit_ibm_runtime, "QiskitRuntimeService", Leaky)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ValueError) as info:
        small_estimator(device="ibm:ibm_brisbane")
    chained = [] if info.value.__suppress_context__ else [info.value.__cause__, info.value.__context__]
    text = str(info.value) + repr(info.value) + "".join(str(e) for e in chained if e is not None)
    assert "could not get the backend" in text and "***" in text
    out = capsys.readouterr()
    for blob in (text, caplog.text, out.out, out.err):
        assert FAKE_TOKEN not in blob


def test_token_reaches_no_exception_chain_or_locals_of_ibm_backend(monkeypatch):
    import qiskit_ibm_runtime

    class Service:
        def __init__(self, token=None, **kwargs):
            self.token = token
            raise RuntimeError(f"invalid token {token}")

        def __repr__(self):
            return f"Service(token={self.token!r})"

    monkeypatch.setenv("QISKIT_IBM_TOKEN", CANARY)
    monkeypatch.setattr(qiskit_ibm_runtime, "QiskitRuntimeService", Service)
    with pytest.raises(ValueError, match="could not get the backend") as info:
        resolve_device("ibm:ibm_brisbane", 2)
    assert "invalid token ***" in str(info.value)
    assert CANARY not in everything_about(info.value)


@pytest.mark.slow
def test_pytest_dash_l_prints_no_token(tmp_path):
    """``pytest -l`` shows the locals of every frame of a failing test: the token is not among them."""
    test = tmp_path / "test_leak.py"
    test.write_text(textwrap.dedent("""
        import qiskit_ibm_runtime
        from qnn_torch.devices import resolve_device

        def service(token=None, **kwargs):
            raise RuntimeError("invalid token " + str(token))

        def test_it(monkeypatch):  # the token comes from the environment
            monkeypatch.setattr(qiskit_ibm_runtime, "QiskitRuntimeService", service)
            resolve_device("ibm:ibm_brisbane", 2)
    """))
    command = [sys.executable, "-m", "pytest", "-l", "-p", "no:cacheprovider", "--tb=long", str(test)]
    proc = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, check=False,
                          env={**ENV, "QISKIT_IBM_TOKEN": CANARY})
    assert proc.returncode == 1 and "could not get the backend" in proc.stdout
    assert CANARY not in proc.stdout + proc.stderr
