"""The network of ``bench_scaling.py`` in each form: the tutorial's shape at ``n`` qubits,
ZZFeatureMap (reps=2, ``entanglement="linear"``) then RealAmplitudes (reps=3, Qiskit's default
``reverse_linear`` entanglement), one observable ``Z^{\\otimes n}``.

Qiskit, PennyLane and qnn_torch are imported by the functions that need them.
"""

from __future__ import annotations

__all__ = ["FM_REPS", "RA_REPS", "num_weights", "pennylane_body", "qiskit_network", "z_all"]

FM_REPS, RA_REPS = 2, 3


def num_weights(n: int) -> int:
    """RealAmplitudes' weight count."""
    return n * (RA_REPS + 1)


def qiskit_network(n: int):
    """``(circuit, input_params, weight_params, observable)``: Qiskit's library circuits."""
    from qiskit import QuantumCircuit
    from qiskit.circuit.library import real_amplitudes, zz_feature_map
    from qiskit.quantum_info import SparsePauliOp

    fm = zz_feature_map(n, reps=FM_REPS, entanglement="linear")
    an = real_amplitudes(n, reps=RA_REPS)
    qc = QuantumCircuit(n)
    qc.compose(fm, inplace=True)
    qc.compose(an, inplace=True)
    return qc, list(fm.parameters), list(an.parameters), SparsePauliOp("Z" * n)


def pennylane_body(n: int):
    """``fn(inputs, weights)`` queuing qnn_torch's templates (Qiskit's circuits, gate for gate)."""
    from qnn_torch import RealAmplitudes, ZZFeatureMap

    def body(inputs, weights):
        ZZFeatureMap(inputs, wires=range(n), reps=FM_REPS, entanglement="linear")
        RealAmplitudes(weights, wires=range(n), reps=RA_REPS)

    return body


def z_all(n: int):
    """The observable as a PennyLane operator: Z on every wire."""
    import pennylane as qml

    return qml.prod(*[qml.Z(q) for q in range(n)])
