"""Devices: the one-argument switch and the batched Qiskit devices.

* :mod:`~qnn_torch.devices.resolve`: ``device=`` and ``shots=`` to a PennyLane device and how to
  differentiate through it (:func:`resolve_device`, which returns a
  :class:`~qnn_torch.devices.spec.DeviceSpec`);
* :mod:`~qnn_torch.devices.remote`: :class:`BatchedRemoteDevice`, IBM backends with one primitive
  job per training step (``"ibm:..."``, ``"fake:..."``, Qiskit ``Backend`` objects);
* :mod:`~qnn_torch.devices.jobs`: the service's job limits (:class:`JobLimits`), retries of
  failed jobs (:class:`RetryPolicy`), submitting and finding jobs (:class:`BackendJobs`);
* :mod:`~qnn_torch.devices.journal`: :class:`JobJournal`, the ids of a training run's jobs next
  to its checkpoint, so that a resumed run never pays for a job twice;
* :mod:`~qnn_torch.devices.sessions`: :func:`runtime_session`, a model's IBM jobs in one Runtime
  session or batch;
* :mod:`~qnn_torch.devices.model_devices`: the batched IBM devices a model runs on;
* :mod:`~qnn_torch.devices.fake_runtime`: :class:`FakeJobService`, an in-memory IBM Runtime
  service with injectable faults, for tests and offline tutorials;
* :mod:`~qnn_torch.devices.aer`: :class:`BatchedAerDevice`, Qiskit Aer batched the same way, exact
  without shots (``"qiskit.aer"``);
* :mod:`~qnn_torch.devices.transpiled`: the circuit structure both batched devices transpile once
  and bind by value arrays;
* :mod:`~qnn_torch.devices.credentials`: IBM credentials and secret scrubbing.

Qiskit, Qiskit Aer, qiskit-ibm-runtime and pennylane-qiskit are imported only when a device
needs them: importing this package costs what PennyLane costs.
"""

from __future__ import annotations

import importlib

from .credentials import holds_secret, ibm_backend, known_secrets, scrub_secrets, without_secrets
from .resolve import (
    ACCEPTED_FORMS,
    DEFAULT_HARDWARE_SHOTS,
    DeviceSpec,
    check_shots,
    device_request,
    fake_backend,
    resolve_device,
)
from .sessions import SESSION_MODES, runtime_session

__all__ = [
    "ACCEPTED_FORMS",
    "BackendJobs",
    "BatchedAerDevice",
    "BatchedRemoteDevice",
    "DEFAULT_HARDWARE_SHOTS",
    "DeviceSpec",
    "FakeJobService",
    "JobJournal",
    "JobJournalError",
    "JobLimits",
    "RetryPolicy",
    "SESSION_MODES",
    "ServiceError",
    "check_shots",
    "device_request",
    "fake_backend",
    "holds_secret",
    "ibm_backend",
    "known_secrets",
    "resolve_device",
    "runtime_session",
    "scrub_secrets",
    "without_secrets",
]

_LAZY = {"BatchedRemoteDevice": ".remote", "BatchedAerDevice": ".aer", "BackendJobs": ".jobs",
         "JobLimits": ".jobs", "RetryPolicy": ".jobs", "JobJournal": ".journal",
         "JobJournalError": ".journal", "FakeJobService": ".fake_runtime", "ServiceError": ".jobs"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
