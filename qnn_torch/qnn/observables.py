"""Observables for :class:`EstimatorQNN`: PennyLane operators, or Qiskit's ``SparsePauliOp``,
``Pauli`` and ``SparseObservable``."""

from __future__ import annotations

import numpy as np
import pennylane as qml

__all__ = ["default_observable", "to_pennylane_observables"]

_PAULI = {"X": qml.X, "Y": qml.Y, "Z": qml.Z}


def default_observable(num_qubits: int):
    """Qiskit's default: the product of Z on every qubit (one output)."""
    return qml.prod(*(qml.Z(i) for i in range(num_qubits))) if num_qubits > 1 else qml.Z(0)


def _from_sparse_pauli_op(op, num_qubits: int):
    if op.num_qubits != num_qubits:
        raise ValueError(
            f"observables must act on {num_qubits} qubits; got a SparsePauliOp on {op.num_qubits}."
        )
    coeffs = np.asarray(op.coeffs)
    if np.any(np.abs(coeffs.imag) > 1e-12):
        raise ValueError(f"observables must be Hermitian (real coefficients); got coefficients {coeffs}.")
    terms = []
    for label, coeff in zip(op.paulis.to_labels(), coeffs.real):
        # Qiskit labels are little-endian: the last letter acts on qubit 0
        factors = [_PAULI[p](q) for q, p in enumerate(reversed(label)) if p in _PAULI]
        term = qml.prod(*factors) if len(factors) > 1 else factors[0] if factors else qml.Identity(0)
        terms.append((float(coeff), term))
    if len(terms) == 1 and terms[0][0] == 1.0:
        return terms[0][1]
    return qml.dot([c for c, _ in terms], [t for _, t in terms])


def _as_sparse_pauli_op(obs):
    """A Qiskit ``SparsePauliOp``, ``Pauli`` or ``SparseObservable`` as a ``SparsePauliOp``, or
    None for anything else."""
    try:
        from qiskit.quantum_info import Pauli, SparseObservable, SparsePauliOp
    except ImportError:  # pragma: no cover - qiskit comes with pennylane-qiskit
        return None
    if isinstance(obs, SparsePauliOp):
        return obs
    if isinstance(obs, Pauli):
        return SparsePauliOp(obs)
    if isinstance(obs, SparseObservable):
        return SparsePauliOp.from_sparse_observable(obs)
    return None


def to_pennylane_observables(observables, num_qubits: int) -> tuple:
    """Return a tuple of PennyLane observables on wires ``0..num_qubits-1``.

    Args:
        observables: ``None`` (Qiskit's default, Z on every qubit), a PennyLane operator, a
            Qiskit ``SparsePauliOp``, ``Pauli`` or ``SparseObservable`` (little-endian labels),
            or a sequence of those.
        num_qubits (int): the number of qubits.

    Raises:
        TypeError: for anything that is not an observable.
        ValueError: for observables on wires outside ``range(num_qubits)`` or non-Hermitian ones.
    """
    if observables is None:
        return (default_observable(num_qubits),)
    if not isinstance(observables, (list, tuple)):
        observables = [observables]
    if not observables:
        raise ValueError("observables must hold at least one observable; got an empty sequence.")
    result = []
    for obs in observables:
        if isinstance(obs, qml.operation.Operator):
            outside = [w for w in obs.wires if w not in range(num_qubits)]
            if outside:
                raise ValueError(
                    f"observables must act on wires 0..{num_qubits - 1}; got {obs} on wires {outside}."
                )
            result.append(obs)
            continue
        sparse = _as_sparse_pauli_op(obs)
        if sparse is not None:
            result.append(_from_sparse_pauli_op(sparse, num_qubits))
            continue
        raise TypeError(
            "observables must be PennyLane operators or Qiskit SparsePauliOps, Paulis or "
            f"SparseObservables; got {obs!r} ({type(obs).__name__})."
        )
    return tuple(result)
