"""qml.Tracker on every engine and device: the engines that compute without the device report their
calls as PennyLane's simulators do."""

import pennylane as qml
import pytest
import torch

from qnn_torch import EstimatorQNN, SamplerQNN, TorchConnector, parity


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
