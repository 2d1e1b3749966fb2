"""Matrices of converted circuits against Qiskit's ``Operator``, and a small circuit, for the
tests of :mod:`qnn_torch.circuits`."""

from __future__ import annotations

import numpy as np
import pennylane as qml
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter, ParameterVector
from qiskit.quantum_info import Operator

from qnn_torch.circuits.qiskit_circuit import QiskitCircuit

ATOL = 1e-12

# name -> (qubits, parameters) of the gates a QuantumCircuit has a method for
GATE_SHAPES = {
    "h": (1, 0), "x": (1, 0), "y": (1, 0), "z": (1, 0), "s": (1, 0), "sdg": (1, 0), "t": (1, 0),
    "tdg": (1, 0), "sx": (1, 0), "sxdg": (1, 0), "rx": (1, 1), "ry": (1, 1), "rz": (1, 1),
    "p": (1, 1), "u": (1, 3), "r": (1, 2), "cx": (2, 0), "cy": (2, 0), "cz": (2, 0), "ch": (2, 0),
    "swap": (2, 0), "iswap": (2, 0), "crx": (2, 1), "cry": (2, 1), "crz": (2, 1), "cp": (2, 1),
    "rxx": (2, 1), "ryy": (2, 1), "rzz": (2, 1), "rzx": (2, 1), "ccx": (3, 0), "ccz": (3, 0),
    "cswap": (3, 0), "id": (1, 0),
}
QUBITS = [2, 0, 1]
"""list[int]: permuted qubits of a 3-qubit circuit (catches bit-order mistakes)."""


def pl_matrix(converted, x, w):
    """The matrix of ``converted``'s operations in Qiskit's qubit order."""
    n = converted.num_qubits
    return qml.matrix(lambda: converted(x, w), wire_order=list(reversed(range(n))))()


def qiskit_matrix(qc, inputs, weights, x, w):
    """Qiskit's ``Operator`` of ``qc`` bound to ``x`` and ``w``, final measurements removed."""
    values = {**dict(zip(inputs, np.asarray(x, dtype=float))),
              **dict(zip(weights, np.asarray(w, dtype=float)))}
    bound = qc.assign_parameters(values)
    bound.remove_final_measurements()
    return Operator(bound)


def assert_same(qc, inputs, weights, rng, exact=True):
    """Convert ``qc`` and compare its matrix with Qiskit's at random values: exactly, or (for a
    circuit with a global phase) up to the phase and exactly with ``global_phase=True``."""
    converted = QiskitCircuit(qc, input_params=inputs, weight_params=weights)
    x = rng.uniform(-np.pi, np.pi, len(inputs))
    w = rng.uniform(-np.pi, np.pi, len(weights))
    reference = qiskit_matrix(qc, inputs, weights, x, w)
    ours = pl_matrix(converted, x, w)
    if exact:
        np.testing.assert_allclose(ours, reference.data, atol=ATOL)
    else:
        assert Operator(ours).equiv(reference)
        with_phase = QiskitCircuit(qc, input_params=inputs, weight_params=weights, global_phase=True)
        np.testing.assert_allclose(pl_matrix(with_phase, x, w), reference.data, atol=ATOL)
    return converted


def one_input_four_weights():
    """``ry(x)`` on qubit 0 and ``rz(θ[j])`` for four weights on qubit 1: the circuit and its
    parameters."""
    x, w = Parameter("x"), ParameterVector("θ", 4)
    qc = QuantumCircuit(2)
    qc.ry(x, 0)
    for p in w:
        qc.rz(p, 1)
    return qc, x, w
