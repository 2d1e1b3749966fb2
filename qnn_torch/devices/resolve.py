"""The one-argument device switch.

``device=`` accepts:

* the name of an installed PennyLane device: ``"default.qubit"`` (default, exact),
  ``"lightning.qubit"``, ``"lightning.gpu"`` and ``"lightning.kokkos"`` (when their packages are
  installed; exact, adjoint gradients), ``"qiskit.aer"`` (Qiskit Aer through qnn_torch's batched Aer device:
  exact statevector when ``shots=None``), ``"qiskit.basicsim"``, ...;
* ``"ibm:<backend name>"``: IBM hardware through pennylane-qiskit's ``qiskit.remote`` device,
  with the account saved by ``qiskit-ibm-runtime`` or the ``QISKIT_IBM_TOKEN`` variable;
* a Qiskit ``Backend`` object, e.g. ``qiskit_ibm_runtime.fake_provider.FakeManilaV2()``, or
  ``"fake:<class name>"`` (``"fake:FakeManilaV2"``) for one of those fake IBM backends, which
  simulate an IBM device's noise locally;
* an already constructed PennyLane device, used as it is.
"""

from __future__ import annotations

from numbers import Integral

import pennylane as qml

from .._compat import ibm_service
from .credentials import ibm_backend
from .spec import DeviceSpec

__all__ = ["ACCEPTED_FORMS", "DEFAULT_HARDWARE_SHOTS", "INSTALL_HINTS", "DeviceSpec", "check_shots",
           "device_request", "fake_backend", "resolve_device"]

DEFAULT_HARDWARE_SHOTS = 1024
"""int: shots used on sampling-only devices (IBM backends) when ``shots=None``, as Qiskit does."""

ACCEPTED_FORMS = (
    "an installed PennyLane device name such as 'default.qubit', 'lightning.qubit' or 'qiskit.aer'; "
    "'ibm:<backend name>'; 'fake:<fake backend class>' such as 'fake:FakeManilaV2'; "
    "a Qiskit Backend object (e.g. FakeManilaV2()); or a PennyLane device object"
)

# Devices that compute exact results without shots, and their fastest exact gradient.
_EXACT_DIFF = {"default.qubit": "backprop", "lightning.qubit": "adjoint", "lightning.gpu": "adjoint",
               "lightning.kokkos": "adjoint"}

INSTALL_HINTS = {
    "lightning.gpu": "pip install pennylane-lightning-gpu (needs an NVIDIA GPU and CUDA 12)",
    "lightning.kokkos": "pip install pennylane-lightning-kokkos",
    "lightning.tensor": "pip install pennylane-lightning-tensor (needs an NVIDIA GPU and CUDA 12)",
    "qiskit.aer": "pip install pennylane-qiskit qiskit-aer",
}
"""dict: how to install the PennyLane devices that qnn_torch knows by name but that come in
packages of their own; asking for one that is not installed says so."""


def check_shots(shots) -> int | None:
    """Return ``shots`` as an int or None, or raise a ValueError/TypeError naming it."""
    if shots is None:
        return None
    if isinstance(shots, bool) or not isinstance(shots, Integral):
        raise TypeError(f"shots must be a positive integer or None; got {shots!r} ({type(shots).__name__}).")
    if shots <= 0:
        raise ValueError(f"shots must be a positive integer or None; got {shots}.")
    return int(shots)


def _is_backend(obj) -> bool:
    try:
        from qiskit.providers import BackendV2
    except ImportError:  # pragma: no cover
        return False
    return isinstance(obj, BackendV2)


_LIVE_OPTIONS = ("session", "job_service")  # connections to the service: never saved with a model


def device_request(device, shots, options: dict | None):
    """What a network saves instead of its resolved device, to make it again with
    :func:`resolve_device` when it is loaded: ``(device, shots, options)``, or None for a PennyLane
    device object (saved as it is).

    A Qiskit backend that belongs to an IBM Quantum service (it has a ``service``, which holds the
    account and its token) is saved as ``"ibm:<its name>"`` and found again through the saved
    account or ``QISKIT_IBM_TOKEN`` when loaded; other backends are saved as they are. The
    options that connect to the service, ``session`` and ``job_service``, are never saved: a
    loaded model submits its jobs through its backend, outside any session until it is given a
    new one.
    """
    if not isinstance(device, str):
        if not _is_backend(device):
            return None
        if ibm_service(device) is not None:
            device = f"ibm:{device.name}"
    if options is not None:
        options = {k: v for k, v in options.items() if k not in _LIVE_OPTIONS}
    return device, shots, options


def fake_backend(name: str):
    """Instantiate ``qiskit_ibm_runtime.fake_provider.<name>`` (e.g. ``"FakeManilaV2"``)."""
    from qiskit_ibm_runtime import fake_provider

    cls = getattr(fake_provider, name, None)
    if not isinstance(cls, type) or not name.startswith("Fake"):
        raise ValueError(
            "device 'fake:<name>' needs a class of qiskit_ibm_runtime.fake_provider such as "
            f"'fake:FakeManilaV2'; got {name!r}."
        )
    return cls()


def resolve_device(device, num_qubits: int, shots=None, options: dict | None = None) -> DeviceSpec:
    """Build the PennyLane device for ``device`` on ``num_qubits`` wires.

    Args:
        device: see the module docstring for the accepted forms.
        num_qubits (int): the number of wires.
        shots (int or None): ``None`` for exact results where the device can give them.
        options (dict or None): keyword arguments for the device: for IBM backends ``session``
            (a Qiskit Runtime ``Session`` or ``Batch``), ``jobs_per_step`` (1 or 2), job limits
            (``max_executions``, ``max_circuits``), retries (``job_retries``, ``retry_delay``),
            transpiler options such as ``optimization_level`` or ``initial_layout`` and
            primitive options such as ``resilience_level`` (see
            :class:`~qnn_torch.devices.BatchedRemoteDevice`).

    Returns:
        DeviceSpec: the device and how to run it.

    Raises:
        ValueError: for an unknown device name (the message lists the accepted forms), bad shots
            or missing IBM credentials.
        TypeError: for an object that is not a device.

    **Example**

    >>> resolve_device("default.qubit", 2).diff_method
    'backprop'
    """
    if isinstance(device, DeviceSpec):  # resolved already (a primitive's device)
        return device
    shots = check_shots(shots)
    if options is not None and not isinstance(options, dict):
        raise TypeError(f"device_options must be a dict of device keyword arguments; got {options!r}.")
    options = dict(options or {})
    if isinstance(device, str):
        return _named(device, num_qubits, shots, options)
    if _is_backend(device):
        return _remote(device, num_qubits, shots, f"backend:{device.name}", options)
    if isinstance(device, (qml.devices.Device, getattr(qml.devices, "LegacyDevice", ()))):
        if device.wires is not None and len(device.wires) < num_qubits:
            raise ValueError(
                f"device must have at least {num_qubits} wires; got a device with {len(device.wires)}."
            )
        name = getattr(device, "short_name", None) or getattr(device, "name", type(device).__name__)
        return _spec_for(device, name, shots)
    raise TypeError(f"device must be {ACCEPTED_FORMS}; got {device!r} ({type(device).__name__}).")


def _named(device: str, num_qubits: int, shots, options: dict) -> DeviceSpec:
    """The device a string names: ``"ibm:..."``, ``"fake:..."`` or an installed PennyLane device."""
    if device.startswith("ibm:"):
        backend = ibm_backend(device[4:])
        return _remote(backend, num_qubits, shots, device, options)
    if device.startswith("fake:"):
        return _remote(fake_backend(device[5:]), num_qubits, shots, device, options)
    if device not in qml.plugin_devices:
        if device in INSTALL_HINTS:
            raise ValueError(f"device {device!r} is not installed: {INSTALL_HINTS[device]}; or choose an "
                             f"installed one ({', '.join(sorted(qml.plugin_devices))}).")
        raise ValueError(f"device must be {ACCEPTED_FORMS}; got {device!r}.")
    if device == "qiskit.aer":
        # batched and transpiled once per circuit structure; exact statevector without shots
        # (the plugin's own device samples 1024 shots by default and runs circuits one by one)
        from .aer import BatchedAerDevice

        dev = BatchedAerDevice(wires=num_qubits, **options)
        # the device's own parameter-shift derivatives: with the forward pass in one call
        return DeviceSpec(dev, "device", shots, device, broadcast_expand=True)
    dev = qml.device(device, wires=num_qubits, **options)
    return _spec_for(dev, device, shots)


def _spec_for(dev, name: str, shots) -> DeviceSpec:
    if name in ("qnn_torch.remote", "qnn_torch.aer"):  # the batched devices: their own derivatives
        return DeviceSpec(dev, "device", shots, name, broadcast_expand=True)
    if shots is None and name in _EXACT_DIFF:
        return DeviceSpec(dev, _EXACT_DIFF[name], None, name, broadcast_expand=False)
    if name in _EXACT_DIFF:  # sampled simulation
        return DeviceSpec(dev, "parameter-shift", shots, name, broadcast_expand=True)
    if name.startswith("qiskit."):
        return DeviceSpec(dev, "parameter-shift", shots, name, broadcast_expand=True)
    return DeviceSpec(dev, "best", shots, name, broadcast_expand=True)


def _remote(backend, num_qubits: int, shots, label: str, options: dict) -> DeviceSpec:
    from .remote import BatchedRemoteDevice

    if backend.num_qubits < num_qubits:
        raise ValueError(
            f"device must have at least {num_qubits} qubits; backend {backend.name} has {backend.num_qubits}."
        )
    dev = BatchedRemoteDevice(wires=num_qubits, backend=backend, **options)
    # the device's own parameter-shift derivatives: a differentiated forward pass and its shifted
    # circuits in one job (device option jobs_per_step=2: two jobs)
    return DeviceSpec(dev, "device", shots or DEFAULT_HARDWARE_SHOTS, label, broadcast_expand=True)
