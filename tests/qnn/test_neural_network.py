"""QuantumNeuralNetwork: what a network shows of itself and of its parts, and what it saves."""

from __future__ import annotations

import io
import pickle
import traceback

import numpy as np
import pytest
import torch
from qiskit.providers.fake_provider import GenericBackendV2

from qnn_torch import EstimatorQNN, SamplerQNN, TorchConnector, parity
from qnn_torch.qnn import QuantumNeuralNetwork
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


# ---------------------------------------------------------------- a description and its parts


def test_a_network_is_an_abstract_description():
    with pytest.raises(TypeError, match="abstract"):
        QuantumNeuralNetwork(None, output_shape=(1,))
    qnn = SamplerQNN(2, interpret=parity, output_shape=2)
    description = qnn.description
    assert (description.num_qubits, description.num_inputs, description.num_weights) == (2, 2, 8)
    assert description.probabilities and description.output_size == 2 and description.head.shape == (4, 2)
    assert description.circuit == qnn.qfunc
    assert EstimatorQNN(2).description.head is None and not EstimatorQNN(2).description.probabilities


def test_the_run_options_are_the_chains():
    qnn = EstimatorQNN(2, memory_budget=2**30)
    assert (qnn.engine, qnn.precision, qnn.memory_budget, qnn.shots) == ("adjoint", "double", 2**30, None)
    assert qnn.device is qnn.spec.device and qnn.simulated_locally and qnn.differentiable_twice
    qnn.memory_budget = None
    assert qnn.memory_budget is None and qnn._engines.memory_budget is None
    with pytest.raises(AttributeError, match="engine cannot be set"):
        qnn.engine = "qnode"
    assert type(qnn).engine.__doc__.startswith("str: ")
