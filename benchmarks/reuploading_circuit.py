"""The data re-uploading circuit with trainable input scaling of qiskit-torch-module's benchmark
(Meyer et al., arXiv:2404.06314; ``generate_circuit(n, depth, input_scaling=True)`` in that
project's ``examples/circuit.py``), written here from its description, as a Qiskit circuit and as
the same gates in a PennyLane function.

The circuit on ``n`` qubits with ``depth`` layers:

1. H on every qubit (then a barrier);
2. ``depth`` times: RZ(v) then RY(v) on each qubit; a CX ring ``CX(q, q+1)`` for ``q < n-1`` and,
   when ``n > 2``, ``CX(n-1, 0)`` (barrier); RY(s * x_q) then RZ(s' * x_q) on each qubit
   (barrier);
3. a final RZ(v), RY(v) layer.

Inputs ``x`` (``n``: every encoding layer re-uploads the same ``n`` features), variational
weights ``v`` (``2 n (depth + 1)``, layer by layer, qubit by qubit, RZ's before RY's) and
scaling weights ``s`` (``2 n depth``, the same order). As in that benchmark, the network's weight
vector is ``v`` followed by ``s``, and the measured outputs are ``<Z_q>`` for every qubit (here in
qubit order ``q = 0..n-1``; that project's ``"individualZ"`` lists the same observables from the
last qubit to the first).

Only Qiskit is imported at module level (the Python 3.12 worker of qiskit-torch-module has no
PennyLane); the PennyLane function imports PennyLane when it is built.
"""

from __future__ import annotations

__all__ = ["num_weights", "observables", "pennylane_function", "qiskit_circuit"]


def num_weights(n: int, depth: int) -> tuple[int, int]:
    """``(variational, scaling)`` weight counts."""
    return 2 * n * (depth + 1), 2 * n * depth


def qiskit_circuit(n: int, depth: int):
    """The circuit as a Qiskit ``QuantumCircuit``.

    Returns:
        tuple: ``(circuit, input_params, weight_params)``, the parameters as lists in network order
        (weights: variational then scaling).
    """
    from qiskit import QuantumCircuit
    from qiskit.circuit import ParameterVector

    n_var, n_scale = num_weights(n, depth)
    x = ParameterVector("x", n)
    v = ParameterVector("v", n_var)
    s = ParameterVector("s", n_scale)
    qc = QuantumCircuit(n)
    for q in range(n):
        qc.h(q)
    qc.barrier()
    for layer in range(depth + 1):
        for q in range(n):
            k = 2 * n * layer + 2 * q
            qc.rz(v[k], q)
            qc.ry(v[k + 1], q)
        if layer == depth:
            break
        for q in range(n - 1):
            qc.cx(q, q + 1)
        if n > 2:
            qc.cx(n - 1, 0)
        qc.barrier()
        for q in range(n):
            k = 2 * n * layer + 2 * q
            qc.ry(s[k] * x[q], q)
            qc.rz(s[k + 1] * x[q], q)
        qc.barrier()
    return qc, list(x), list(v) + list(s)


def observables(n: int) -> list:
    """``Z`` on qubit ``q`` for ``q = 0..n-1``, as Qiskit ``SparsePauliOp``s (little-endian labels)."""
    from qiskit.quantum_info import SparsePauliOp

    return [SparsePauliOp("I" * (n - 1 - q) + "Z" + "I" * q) for q in range(n)]


def pennylane_function(n: int, depth: int):
    """The same gates as ``fn(inputs, weights)`` for PennyLane (Qiskit qubit ``q`` is wire ``q``).

    Inputs and weights are indexed ``[..., i]``, so a leading batch dimension passes through.
    """
    import pennylane as qml

    n_var, _ = num_weights(n, depth)

    def reuploading(inputs, weights):
        for q in range(n):
            qml.Hadamard(wires=q)
        for layer in range(depth + 1):
            for q in range(n):
                k = 2 * n * layer + 2 * q
                qml.RZ(weights[..., k], wires=q)
                qml.RY(weights[..., k + 1], wires=q)
            if layer == depth:
                break
            for q in range(n - 1):
                qml.CNOT(wires=[q, q + 1])
            if n > 2:
                qml.CNOT(wires=[n - 1, 0])
            for q in range(n):
                k = n_var + 2 * n * layer + 2 * q
                qml.RY(weights[..., k] * inputs[..., q], wires=q)
                qml.RZ(weights[..., k + 1] * inputs[..., q], wires=q)

    return reuploading
