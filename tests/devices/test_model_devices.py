"""The batched IBM devices of a model are found through its networks, each device once."""

import sys
from functools import partial

import pytest
import torch
from qiskit.providers.fake_provider import GenericBackendV2

from qnn_torch import EstimatorQNN, RealAmplitudes, TorchConnector
from qnn_torch.devices.model_devices import remote_devices, remote_networks


def _remote(backend=None, **kwargs):
    backend = backend or GenericBackendV2(2, noise_info=False, seed=3)
    return EstimatorQNN(2, ansatz=partial(RealAmplitudes, reps=1), device=backend, shots=64, **kwargs)


def test_a_model_a_connector_and_a_network_are_searched():
    first, second, local = _remote(), _remote(), EstimatorQNN(2)
    model = torch.nn.Sequential(TorchConnector(first), torch.nn.Linear(1, 2), TorchConnector(local),
                                TorchConnector(second))
    assert remote_networks(model) == [first, second]
    assert remote_networks(model[0]) == [first] and remote_networks(first) == [first]
    assert remote_networks(local) == [] and remote_networks(TorchConnector(local)) == []
    assert remote_devices(model) == [first.spec.device, second.spec.device]


def test_a_device_shared_by_two_networks_counts_once():
    shared = _remote()
    other = EstimatorQNN(2, ansatz=partial(RealAmplitudes, reps=1), device=shared.spec.device, shots=64)
    model = torch.nn.Sequential(TorchConnector(shared), TorchConnector(other))
    assert remote_networks(model) == [shared, other] and remote_devices(model) == [shared.spec.device]


def test_without_the_remote_module_loaded_nothing_is_searched(monkeypatch):
    network = _remote()
    monkeypatch.delitem(sys.modules, "qnn_torch.devices.remote")
    assert remote_networks(network) == [] and remote_devices(TorchConnector(network)) == []


@pytest.mark.parametrize("holder", [object(), torch.nn.Linear(1, 1)])
def test_objects_without_networks(holder):
    if isinstance(holder, torch.nn.Module):
        assert remote_networks(holder) == []
    else:
        with pytest.raises(AttributeError):
            remote_networks(holder)
