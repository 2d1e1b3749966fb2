"""Tapes of one structure as one transpiled parametrised circuit, bound by value arrays.

The batched devices (:class:`~qnn_torch.devices.remote.BatchedRemoteDevice`,
:class:`~qnn_torch.devices.aer.BatchedAerDevice`) transpile a circuit structure once: every scalar
gate parameter of a tape becomes a Qiskit ``Parameter`` (:func:`symbolic_tape`), the symbolic
circuit is transpiled, and the tapes of that structure (:func:`structure_key`) run as rows of
parameter values (:func:`gate_values`, :meth:`TranspiledCircuit.bind`).
"""

from __future__ import annotations

import numpy as np
import pennylane as qml
from pennylane.tape import QuantumScript
from qiskit.circuit import Parameter

from .journal import digest

__all__ = ["TranspiledCircuit", "gate_values", "structure_key", "symbolic_tape"]


class TranspiledCircuit:
    """A transpiled parametrised circuit standing for every tape of one structure.

    Args:
        circuit (QuantumCircuit): the transpiled circuit.
        params (list[Parameter]): the symbolic parameters, in the tape's gate order (the order
            of :func:`gate_values`).
        observables (list or None): the estimator's observables, laid out as ``circuit``.
        key: the structure (:func:`structure_key`), digested into :attr:`digest`.

    Attributes:
        digest (str): a digest of the logical circuit, the same in every process.
        columns (numpy.ndarray): for each parameter of ``circuit``, its column in the values.
    """

    def __init__(self, circuit, params, observables=None, key=None):
        self.circuit = circuit
        self.observables = observables
        self.digest = digest(repr(key))
        # Qiskit binds value arrays in the order of ``circuit.parameters``, which sorts by
        # name ("p10" before "p2"), and the transpiler may drop a parameter: bind by the
        # parameters themselves, never by position
        position = {p: i for i, p in enumerate(params)}
        self.columns = np.array([position[p] for p in circuit.parameters], dtype=np.intp)

    def bind(self, values: np.ndarray):
        """The ``(circuits, gate parameters)`` values as :attr:`circuit` binds them, or None for a
        circuit without parameters."""
        if not self.columns.size:
            return None
        return np.asarray(values, dtype=float).reshape(values.shape[0], -1)[:, self.columns]


def _fixed(d) -> bytes | None:
    """A matrix-valued gate parameter (``QubitUnitary``'s) as bytes: part of the structure, not
    a circuit parameter; None for a scalar angle."""
    return np.asarray(qml.math.toarray(d)).tobytes() if qml.math.ndim(d) else None


def _observable_key(obs):
    """An exact key of an observable (``repr`` abbreviates large matrices)."""
    if obs.pauli_rep is not None:
        return "pauli", tuple(sorted((str(word), complex(c)) for word, c in obs.pauli_rep.items()))
    return "matrix", tuple(obs.wires), np.asarray(qml.matrix(obs)).tobytes()


def structure_key(tape, kind: str) -> tuple:
    """What tapes that share one transpiled circuit have in common: the primitive ``kind``, the
    gates with their wires and fixed matrices, and the measurements."""
    ops = tuple((op.name, tuple(op.wires), tuple(_fixed(d) for d in op.data)) for op in tape.operations)
    meas = tuple((type(m).__name__, _observable_key(m.obs) if m.obs is not None else tuple(m.wires))
                 for m in tape.measurements)
    return kind, ops, meas


def symbolic_tape(tape) -> tuple[QuantumScript, list]:
    """The tape with every scalar gate parameter replaced by a Qiskit ``Parameter`` (in gate
    order, the order of :func:`gate_values`), and those parameters; matrix parameters stay."""
    params, ops = [], []
    for op in tape.operations:
        if op.data:
            new = []
            for d in op.data:
                if not qml.math.ndim(d):
                    params.append(Parameter(f"p{len(params)}"))
                new.append(params[-1] if not qml.math.ndim(d) else d)
            op = qml.ops.functions.bind_new_parameters(op, new)
        ops.append(op)
    return QuantumScript(ops, tape.measurements, shots=tape.shots), params


def gate_values(tape) -> list[float]:
    """The tape's scalar gate parameters, in gate order."""
    return [float(qml.math.toarray(d)) for op in tape.operations for d in op.data if not qml.math.ndim(d)]
