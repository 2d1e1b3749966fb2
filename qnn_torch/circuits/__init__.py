"""What a QNN hands to its engines: one small frozen description of the circuit.

* :mod:`~qnn_torch.circuits.description`: :class:`CircuitDescription`, the circuit as the engines
  receive it;
* :mod:`~qnn_torch.circuits.pennylane_lock`: :data:`PENNYLANE_LOCK`, the package's lock around
  PennyLane's global queue;
* :mod:`~qnn_torch.circuits.qiskit_circuit`: :class:`~qnn_torch.circuits.qiskit_circuit.QiskitCircuit`,
  a Qiskit ``QuantumCircuit`` as a PennyLane circuit function (loaded with Qiskit, on first use).
"""

# the lock first: modules of this package import it from here
from .pennylane_lock import PENNYLANE_LOCK  # isort: skip
from .description import CircuitDescription

__all__ = ["CircuitDescription", "PENNYLANE_LOCK"]
