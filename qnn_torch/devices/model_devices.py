"""The batched IBM devices a model runs on: found through its networks, for sessions and journals.

A network is any object whose ``spec`` is a :class:`~qnn_torch.devices.spec.DeviceSpec` (a
QNN); a model holds networks as the ``qnn`` of its modules (a ``TorchConnector``).
"""

from __future__ import annotations

import sys

from .spec import DeviceSpec

__all__ = ["remote_devices", "remote_networks"]


def _is_network(obj) -> bool:
    return isinstance(getattr(obj, "spec", None), DeviceSpec)


def remote_networks(obj) -> list:
    """The networks of a model, a TorchConnector or a QNN that run on a
    :class:`~qnn_torch.devices.remote.BatchedRemoteDevice`, in module order."""
    remote = sys.modules.get(f"{__package__}.remote")
    if remote is None:  # no remote device was ever made: no need to import the Qiskit stack for nothing
        return []
    networks = [obj] if _is_network(obj) else [
        m.qnn for m in obj.modules() if _is_network(getattr(m, "qnn", None))]
    return [q for q in networks if isinstance(q.spec.device, remote.BatchedRemoteDevice)]


def remote_devices(obj) -> list:
    """The :class:`~qnn_torch.devices.remote.BatchedRemoteDevice` objects used by a model, a
    TorchConnector or a QNN (each once, in module order)."""
    devices = {}
    for q in remote_networks(obj):
        devices.setdefault(id(q.spec.device), q.spec.device)
    return list(devices.values())
