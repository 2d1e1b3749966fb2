"""The Qiskit instructions :class:`~qnn_torch.circuits.qiskit_circuit.QiskitCircuit` reads: the
gates it maps to one PennyLane operation each, those it skips and those it refuses."""

from __future__ import annotations

import math

import pennylane as qml

__all__ = ["GATES", "IGNORED", "REFUSED", "SUPPORTED_GATES", "operation_factory"]

_PI = math.pi

GATES = {
    "h": ("Hadamard", ()),
    "x": ("PauliX", ()),
    "y": ("PauliY", ()),
    "z": ("PauliZ", ()),
    "s": ("S", ()),
    "sdg": ("PhaseShift", (-_PI / 2,)),
    "t": ("T", ()),
    "tdg": ("PhaseShift", (-_PI / 4,)),
    "sx": ("SX", ()),
    "sxdg": ("SXdg", ()),
    "rx": ("RX", (0,)),
    "ry": ("RY", (0,)),
    "rz": ("RZ", (0,)),
    "p": ("PhaseShift", (0,)),
    "u1": ("PhaseShift", (0,)),
    "u": ("U3", (0, 1, 2)),
    "u3": ("U3", (0, 1, 2)),
    "u2": ("U3", (_PI / 2, 0, 1)),
    "r": ("U3", (0, (1, 1.0, -_PI / 2), (1, -1.0, _PI / 2))),
    "cx": ("CNOT", ()),
    "cy": ("CY", ()),
    "cz": ("CZ", ()),
    "ch": ("CH", ()),
    "swap": ("SWAP", ()),
    "iswap": ("ISWAP", ()),
    "crx": ("CRX", (0,)),
    "cry": ("CRY", (0,)),
    "crz": ("CRZ", (0,)),
    "cp": ("ControlledPhaseShift", (0,)),
    "cu1": ("ControlledPhaseShift", (0,)),
    "rxx": ("IsingXX", (0,)),
    "ryy": ("IsingYY", (0,)),
    "rzz": ("IsingZZ", (0,)),
    "rzx": ("PauliRot:ZX", (0,)),
    "ccx": ("Toffoli", ()),
    "ccz": ("CCZ", ()),
    "cswap": ("CSWAP", ()),
}
"""dict[str, tuple]: Qiskit gate name -> (PennyLane operation name, rules for its parameters).
A rule is an index into the Qiskit gate's ``params``, a float, or a tuple ``(index, scale,
offset)`` for ``scale * params[index] + offset``. Every mapping is exact, global phase included."""

IGNORED = ("id", "barrier")
"""tuple[str]: instructions that change no state (``delay`` too, with a numeric duration)."""

SUPPORTED_GATES = tuple(sorted(GATES))
"""Qiskit gate names mapped to one PennyLane operation; other gates and composite instructions
with a ``definition`` are decomposed."""

REFUSED = {
    "reset": "resets cannot be expressed as a unitary circuit",
    "initialize": "it resets the qubits",
    "if_else": "classical control is not supported",
    "while_loop": "classical control is not supported",
    "for_loop": "classical control is not supported",
    "switch_case": "classical control is not supported",
    "box": "boxes are not supported; compose the circuit instead",
    "store": "classical storage is not supported",
}
"""dict[str, str]: instructions that have no unitary circuit, and why."""


def _sxdg(wires):
    return qml.adjoint(qml.SX(wires))


def _pauli_rot_zx(angle, wires):
    return qml.PauliRot(angle, "ZX", wires=wires)


def operation_factory(name: str):
    """The callable that makes the PennyLane operation ``name`` of :data:`GATES`
    (``factory(*angles, wires=wires)``)."""
    if name == "SXdg":
        return _sxdg
    if name == "PauliRot:ZX":
        return _pauli_rot_zx
    return getattr(qml, name)
