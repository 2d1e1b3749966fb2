"""DeviceSpec: a resolved device, frozen, with how to differentiate through it."""

import dataclasses

import pennylane as qml
import pytest

from qnn_torch.devices import DeviceSpec, resolve_device


def test_a_resolved_device_is_described_by_a_frozen_spec():
    spec = resolve_device("default.qubit", 2, shots=100)
    assert isinstance(spec, DeviceSpec)
    assert (spec.diff_method, spec.shots, spec.label, spec.broadcast_expand) == (
        "parameter-shift", 100, "default.qubit", True)
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.shots = 5


def test_specs_compare_by_their_fields():
    device = qml.device("default.qubit", wires=1)
    spec = DeviceSpec(device, "backprop", None, "d", False)
    assert spec == DeviceSpec(device, "backprop", None, "d", False)
    assert spec != DeviceSpec(device, "adjoint", None, "d", False)
