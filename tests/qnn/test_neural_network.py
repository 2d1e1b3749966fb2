"""QuantumNeuralNetwork: what a network shows of itself, what it saves, and qml.Tracker on any device."""

from __future__ import annotations

import io
import pickle
import traceback

import numpy as np
import pennylane as qml
import pytest
import torch
from qiskit.providers.fake_provider import GenericBackendV2

from qnn_torch import EstimatorQNN, SamplerQNN, TorchConnector, parity
from qnn_torch.devices import FakeJobService, credentials


@pytest.mark.parametrize("cls", [EstimatorQNN, SamplerQNN])
@pytest.mark.parametrize("kwargs", [{"device": "no.such.device"}, {"num_qubits": 0}, {"engine": "fastest"},
                                    {"device": "default.qubit", "precision": "half"}])
def test_repr_of_a_network_whose_construction_failed(cls, kwargs):
    """Error reporters show the locals of every frame, the half-built network among them: its
    ``repr`` does not raise (it raised AttributeError, and the reporter failed instead)."""
    kwargs = {"num_qubits": 2, **kwargs}
    with pytest.raises(ValueError) as info:
        cls(**kwargs)
    text = "".join(traceback.TracebackException.from_exception(info.value, capture_locals=True).format())
    assert f"self = {cls.__name__}(num_qubits=" in text
    assert repr(cls.__new__(cls)) == (f"{cls.__name__}(num_qubits=?, feature_map=?, ansatz=?, device=?, "
                                      "shots=?, engine=?)")


def test_repr_of_a_built_network():
    assert repr(EstimatorQNN(2)) == ("EstimatorQNN(num_qubits=2, feature_map=ZZFeatureMap, "
                                     "ansatz=RealAmplitudes, device='default.qubit', shots=None, "
                                     "engine='adjoint')")


class Service:
    """An IBM backend's service: it holds the account (and would pull in the network client)."""

    def __init__(self):
        self.account = {"token": "fake-token-of-the-service"}

    def __reduce__(self):
        raise TypeError("a service does not pickle")


def test_a_model_on_an_ibm_backend_saves_its_name_and_finds_it_again(monkeypatch):
    """``torch.save`` of a model built on a Backend object that belongs to a service saves the
    backend's name, never the service or its account (nor the session or job service given as
    options); loading finds the backend again through the saved account."""
    backend = GenericBackendV2(2, noise_info=False, seed=3)
    backend.service = Service()
    options = {"job_service": FakeJobService(), "session": Service(), "job_retries": 1}
    qnn = EstimatorQNN(2, device=backend, shots=64, device_options=options)
    model = TorchConnector(qnn, initial_weights=np.zeros(8))
    buffer = io.BytesIO()
    torch.save(model, buffer)
    assert b"fake-token-of-the-service" not in buffer.getvalue()
    found = []
    monkeypatch.setattr(credentials, "_runtime_backend",
                        lambda name: found.append(name) or GenericBackendV2(2, noise_info=False, seed=3))
    loaded = torch.load(io.BytesIO(buffer.getvalue()), weights_only=False)
    assert found == [backend.name] and loaded.qnn.spec.label == f"ibm:{backend.name}"
    device = loaded.qnn.spec.device
    assert device.retry.retries == 1 and device.session is None and not device.jobs_retrievable
    assert loaded(torch.zeros(1, 2)).shape == (1, 1)


def test_a_model_on_another_backend_is_saved_with_it():
    """A backend of no service (a local or fake one) holds no account: it is saved as it is, and
    the device is made again from it when loaded."""
    qnn = EstimatorQNN(2, device=GenericBackendV2(2, noise_info=False, seed=3), shots=64)
    loaded = pickle.loads(pickle.dumps(qnn))
    assert loaded.spec.label == qnn.spec.label and loaded.spec.device is not qnn.spec.device
    assert loaded.spec.device.backend.name == qnn.spec.device.backend.name


# ---------------------------------------------------------------- qml.Tracker

BATCH = 3


def _step(qnn, no_grad=False):
    """One forward (and backward) pass of a TorchConnector on ``BATCH`` samples, tracked."""
    model = TorchConnector(qnn)
    x = torch.rand(BATCH, qnn.num_inputs, requires_grad=True)
    with qml.Tracker(qnn.device) as tracker:
        if no_grad:
            with torch.no_grad():
                model(x)
        else:
            model(x).sum().backward()
    return tracker


FAST_ENGINES = ["adjoint", "torch-adjoint", "compiled", "qnode"]


@pytest.mark.parametrize("engine", FAST_ENGINES)
@pytest.mark.parametrize("outputs", [1, 3], ids=["one-output", "three-outputs"])
def test_every_engine_reports_to_the_tracker(engine, outputs):
    observables = [qml.Z(0), qml.Z(1), qml.Z(2)][:outputs]
    qnn = EstimatorQNN(3, engine=engine, observables=observables)
    assert qnn.engine == engine
    forward = _step(qnn, no_grad=True)
    assert forward.totals == {"batches": 1, "simulations": 1, "executions": BATCH}
    assert len(forward.history["results"]) == 1
    if engine != "qnode":  # PennyLane's results are per measurement
        assert forward.history["results"][0].shape == (BATCH, outputs)
    training = _step(qnn)
    assert training.totals["executions"] == BATCH
    # the fast engines report how they differentiated; the QNode's backprop is a torch graph
    differentiated = {"derivatives", "vjps"} & set(training.totals)
    assert differentiated or engine in ("qnode", "compiled")
    for key in differentiated:
        assert training.totals[key] == BATCH
    resources = training.history["resources"][0]
    assert resources.gate_types and resources.num_allocs == 3


def test_sampler_networks_report_too():
    qnn = SamplerQNN(2, interpret=parity, output_shape=2)
    tracker = _step(qnn)
    assert tracker.totals["executions"] == BATCH and tracker.totals["derivatives"] == BATCH


def test_a_device_object_of_the_user_is_tracked():
    device = qml.device("default.qubit")
    qnn = EstimatorQNN(2, device=device)
    assert qnn.device is device and qnn.engine == "adjoint"
    with qml.Tracker(device) as tracker:
        TorchConnector(qnn)(torch.rand(BATCH, 2))
    assert tracker.totals["executions"] == BATCH


def test_an_inactive_tracker_records_nothing():
    qnn = EstimatorQNN(2)
    tracker = qml.Tracker(qnn.device)
    TorchConnector(qnn)(torch.rand(BATCH, 2)).sum().backward()
    assert tracker.totals == {}


@pytest.mark.parametrize("device, shots", [
    ("default.qubit", 100),
    ("lightning.qubit", None),
    ("qiskit.aer", None),
    ("fake:FakeManilaV2", 64),
])
def test_every_device_reports_to_the_tracker(device, shots):
    qnn = EstimatorQNN(2, device=device, shots=shots)
    tracker = _step(qnn)
    assert tracker.totals["executions"] >= BATCH
    if shots is not None and device == "default.qubit":
        assert tracker.totals["shots"] >= BATCH * shots
