"""Qiskit Aer with one transpilation per circuit structure and one call per batch, exact without shots."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pennylane as qml
from pennylane.measurements import ExpectationMP, VarianceMP
from pennylane.tape import QuantumScript
from pennylane_qiskit.converter import circuit_to_qiskit
from qiskit.compiler import transpile
from qiskit_ibm_runtime import EstimatorV2

from .._compat import transpile_options
from .remote import BatchedRemoteDevice
from .transpiled import TranspiledCircuit, symbolic_tape

__all__ = ["BatchedAerDevice"]


_ARRAY_SAFE_AER_GATES = [
    "id", "x", "y", "z", "h", "s", "sdg", "t", "tdg", "sx", "sxdg", "rx", "ry", "rz", "p", "u",
    "cx", "cy", "cz", "swap", "rxx", "ryy", "rzz", "ccx", "cswap",
]
"""list[str]: the gates the Aer device transpiles into: Aer binds their parameter arrays
correctly (unitary matrices are synthesized into them)."""


class BatchedAerDevice(BatchedRemoteDevice):
    """Qiskit Aer with the batching of :class:`BatchedRemoteDevice`, exact without shots.

    pennylane-qiskit's ``qiskit.aer`` transpiles and runs every circuit on its own (its cost per
    circuit: ``benchmarks/results/bench.txt``). This device transpiles each circuit structure once
    and evaluates a whole
    training step (a forward pass and all its parameter-shift circuits) in one call of
    Aer's ``EstimatorV2`` (exact: precision 0 when there are no shots) or, for probabilities
    without shots, one statevector run with ``save_probabilities``.

    Registered as the PennyLane device ``"qnn_torch.aer"``; ``device="qiskit.aer"`` resolves to it.

    Args:
        wires (int or Iterable): the wires.
        shots (int or None): default shots; ``None`` for exact results.
        method (str): the ``AerSimulator`` method (``"statevector"`` by default).
        **kwargs: transpiler options, as for :class:`BatchedRemoteDevice`.
    """

    short_name = "qnn_torch.aer"
    exact_without_shots = True  # pennylane-qiskit's "analytic results not supported" warning does not apply

    def __init__(self, wires, shots=None, method="statevector", **kwargs):
        from qiskit_aer import AerSimulator

        super().__init__(wires, backend=AerSimulator(method=method), shots=shots, **kwargs)
        self._probability_circuits: dict = {}

    def _transpile(self, qc):
        # Aer's primitives drop the angles of controlled rotations (crx, cry, crz, ...) bound from
        # parameter arrays (qiskit-aer #2323, #2391, #2403): transpile into gates it binds correctly
        args = {"basis_gates": _ARRAY_SAFE_AER_GATES, **transpile_options(self)}
        return transpile(qc, **args)

    def _primitive(self, cls):
        from qiskit_aer.primitives import EstimatorV2 as AerEstimator
        from qiskit_aer.primitives import SamplerV2 as AerSampler

        if cls is EstimatorV2:
            return AerEstimator(options={"default_precision": 0.0})  # exact unless shots set a precision
        return AerSampler()

    def _run_sampler(self, circuits, groups, results):
        exact = OrderedDict((k, v) for k, v in groups.items() if not k[1])
        sampled = OrderedDict((k, v) for k, v in groups.items() if k[1])
        if sampled:
            super()._run_sampler(circuits, sampled, results)
        if exact:
            self._run_exact_probabilities(circuits, exact, results)

    def _run_exact_probabilities(self, circuits, groups, results):
        """Probabilities (and the expectations and variances read from them) of circuits without
        shots: one statevector run of every circuit, its probabilities saved."""
        bound, owners = [], []
        for (key, _), (indices, values) in groups.items():
            transpiled = self._probability_circuits.get(key)
            if transpiled is None:
                transpiled = self._probability_circuit(circuits[indices[0]])
                self._probability_circuits[key] = transpiled
                self.transpilations += 1
            rows = transpiled.bind(np.asarray(values, dtype=float).reshape(len(indices), -1))
            for position, index in enumerate(indices):
                circuit = transpiled.circuit
                bound.append(circuit if rows is None else circuit.assign_parameters(rows[position]))
                owners.append(index)
        result = self.backend.run(bound).result()
        self._count_job(len(bound))
        n = self.num_wires
        reverse = np.array([int(format(i, f"0{n}b")[::-1], 2) for i in range(2**n)])
        for position, index in enumerate(owners):
            probs_qiskit = np.asarray(result.data(position)["probabilities"], dtype=float)
            amplitudes = np.sqrt(np.clip(probs_qiskit[reverse], 0.0, None))  # PennyLane's bit order
            measurements = circuits[index].measurements
            results[index] = tuple(mp.process_state(amplitudes, wire_order=self.wires) for mp in measurements)

    def _probability_circuit(self, tape) -> TranspiledCircuit:
        """``tape``'s circuit rotated into its observables' eigenbases, saving its probabilities."""
        exact = (qml.measurements.ProbabilityMP, ExpectationMP, VarianceMP)
        if not all(isinstance(m, exact) for m in tape.measurements):
            raise ValueError(f"{self.name} without shots gives expectations, variances and probabilities "
                             f"only; got {tape.measurements}.")
        symbolic, params = symbolic_tape(tape)
        qc = circuit_to_qiskit(symbolic, self.num_wires, diagonalize=False, measure=False)
        # rotate into the observables' eigenbases (fixed gates: not among the parameters)
        rotations = QuantumScript(tape.diagonalizing_gates, [])
        qc.compose(circuit_to_qiskit(rotations, self.num_wires, diagonalize=False, measure=False),
                   inplace=True)
        qc.save_probabilities()
        return TranspiledCircuit(transpile(qc, backend=self.backend, **transpile_options(self)), params)
