"""Observables for :class:`EstimatorQNN`: PennyLane operators, or Qiskit's ``SparsePauliOp``,
``Pauli`` and ``SparseObservable``."""

from __future__ import annotations

from functools import wraps

import numpy as np
import pennylane as qml

from ..circuits import PENNYLANE_LOCK

__all__ = ["check_hermitian", "default_observable", "to_pennylane_observables"]

_PAULI = {"X": qml.X, "Y": qml.Y, "Z": qml.Z}
_MAX_MATRIX_WIRES = 12  # observables without a Pauli form are checked by their matrix up to this size


def _locked(fn):
    """Build operators under PennyLane's lock: an operator created while another thread queues a
    circuit would be appended to that thread's circuit."""

    @wraps(fn)
    def wrapper(*args, **kwargs):
        with PENNYLANE_LOCK:
            return fn(*args, **kwargs)

    return wrapper


def check_hermitian(obs) -> None:
    """Raise a ValueError unless the observable ``obs`` is Hermitian.

    A Pauli sum is Hermitian when its coefficients are real; other observables are checked by
    their matrix (on their own wires, up to 12 of them) or else must be verified Hermitian by
    PennyLane (``is_verified_hermitian``).

    Raises:
        ValueError: naming ``observables``, the operator and why it was refused.
    """
    with PENNYLANE_LOCK:
        try:
            sentence = qml.pauli.pauli_sentence(obs)
        except Exception:  # noqa: BLE001 - no Pauli form (PennyLane raises various errors): check the matrix
            sentence = None
        if sentence is not None:
            coeffs = np.array([complex(np.asarray(qml.math.detach(c))) for c in sentence.values()])
            if np.any(np.abs(coeffs.imag) > 1e-12):
                raise ValueError(f"observables must be Hermitian; got {obs}, whose Pauli decomposition "
                                 f"has complex coefficients {coeffs}.")
            return
        if obs.has_matrix and len(obs.wires) <= _MAX_MATRIX_WIRES:
            matrix = np.asarray(qml.math.detach(qml.matrix(obs)), dtype=np.complex128)
            if not np.allclose(matrix, matrix.conj().T, atol=1e-10, rtol=0.0):
                raise ValueError(f"observables must be Hermitian; got {obs}, whose matrix is not.")
            return
        if not obs.is_verified_hermitian:
            raise ValueError(f"observables must be Hermitian; got {obs}, which could not be verified "
                             f"Hermitian (no Pauli form, and a matrix on more than {_MAX_MATRIX_WIRES} "
                             "wires).")


@_locked
def default_observable(num_qubits: int):
    """Qiskit's default: the product of Z on every qubit (one output)."""
    return qml.prod(*(qml.Z(i) for i in range(num_qubits))) if num_qubits > 1 else qml.Z(0)


@_locked
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
        ValueError: for observables on wires outside ``range(num_qubits)`` or non-Hermitian ones
            (see :func:`check_hermitian`).
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
    for obs in result:  # once, when the network is built
        check_hermitian(obs)
    return tuple(result)
