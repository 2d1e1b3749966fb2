"""The three forms a network's circuit is given in, resolved once into one :class:`CircuitForm`.

* a feature map and an ansatz (templates, partials or functions ``fn(params, wires)``), by
  default Qiskit's ``ZZFeatureMap`` and ``RealAmplitudes``;
* one function ``circuit(inputs, weights)`` of both, with ``num_inputs`` and ``num_weights``;
* a Qiskit ``QuantumCircuit`` with its ``input_params`` and ``weight_params``, as in
  qiskit-machine-learning, converted once (:mod:`qnn_torch.circuits.qiskit_circuit`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from numbers import Integral

from ..engines.memory import check_state_fits
from ..templates import RealAmplitudes, ZZFeatureMap
from .blocks import CircuitBlock, resolve_block, whole_circuit

__all__ = ["FORM_ARGUMENTS", "CircuitForm", "resolve_form"]

FORM_ARGUMENTS = ("feature_map", "ansatz", "circuit", "input_params", "weight_params", "num_inputs",
                  "num_weights")
"""tuple[str, ...]: the keyword arguments of a network that give its circuit."""


@dataclass(frozen=True)
class CircuitForm:
    """A network's circuit, resolved.

    Attributes:
        num_qubits (int): wires ``0 .. num_qubits - 1``; wire ``i`` plays Qiskit's qubit ``i``.
        feature_map (CircuitBlock): the input block (gate-free for the other forms: it carries the
            input count).
        ansatz (CircuitBlock): the weight block (likewise).
        body (Callable or None): ``body(inputs, weights)`` queuing the whole circuit, for the
            function and Qiskit forms; None for a feature map and an ansatz.
        qiskit_circuit (QuantumCircuit or None): the Qiskit circuit the network was built from.
        converted (QiskitCircuit or None): that circuit converted to PennyLane operations.
        input_params (list or None): the Qiskit circuit's input parameters, in order.
        weight_params (list or None): the Qiskit circuit's weight parameters, in order.
    """

    num_qubits: int
    feature_map: CircuitBlock
    ansatz: CircuitBlock
    body: Callable | None = None
    qiskit_circuit: object = None
    converted: object = None
    input_params: list | None = None
    weight_params: list | None = None


def _is_quantum_circuit(obj) -> bool:
    """Whether ``obj`` is a Qiskit ``QuantumCircuit`` (without importing Qiskit for anything else)."""
    return any(c.__name__ == "QuantumCircuit" and c.__module__.startswith("qiskit")
               for c in type(obj).__mro__)


def resolve_form(num_qubits: int | None, *, device="default.qubit", feature_map=None, ansatz=None,
                 circuit=None, input_params=None, weight_params=None, num_inputs: int | None = None,
                 num_weights: int | None = None) -> CircuitForm:
    """Resolve a network's circuit arguments (see :class:`~qnn_torch.qnn.QuantumNeuralNetwork`).

    A register simulated in this process (any ``device`` but an IBM or fake IBM backend) whose state
    vector cannot fit in memory is refused here, before anything of its size is built.

    Raises:
        ValueError: for a ``num_qubits`` that is not a positive integer or contradicts a Qiskit
            circuit's, parameters given without a Qiskit circuit, a register that cannot fit, or
            counts that contradict the blocks.
        TypeError: for blocks or counts of the wrong kind.
    """
    qiskit = {}
    if _is_quantum_circuit(circuit):  # qiskit-machine-learning's form
        from ..circuits.qiskit_circuit import QiskitCircuit

        if num_qubits is None:
            num_qubits = circuit.num_qubits
        elif num_qubits != circuit.num_qubits:
            raise ValueError(f"num_qubits must be the circuit's {circuit.num_qubits} qubits (or None); "
                             f"got {num_qubits!r}.")
        converted = QiskitCircuit(circuit, input_params=input_params, weight_params=weight_params)
        qiskit = {"qiskit_circuit": circuit, "converted": converted, "input_params": list(input_params or []),
                  "weight_params": list(weight_params or [])}
        circuit, num_inputs, num_weights = converted, converted.num_inputs, converted.num_weights
    elif input_params is not None or weight_params is not None:
        raise ValueError("input_params and weight_params name the parameters of a Qiskit QuantumCircuit "
                         f"given as circuit=; got them with circuit={circuit!r}.")
    if isinstance(num_qubits, bool) or not isinstance(num_qubits, Integral) or num_qubits < 1:
        raise ValueError(f"num_qubits must be a positive integer; got {num_qubits!r}.")
    num_qubits = int(num_qubits)
    if circuit is not None:  # one function of inputs and weights: no feature map / ansatz split
        body, feature_map, ansatz = whole_circuit(circuit, num_inputs, num_weights, feature_map, ansatz)
    else:
        body = None
        feature_map = resolve_block(ZZFeatureMap if feature_map is None else feature_map, num_qubits,
                                    num_inputs, "feature_map", "num_inputs")
        ansatz = resolve_block(RealAmplitudes if ansatz is None else ansatz, num_qubits, num_weights,
                               "ansatz", "num_weights")
    if isinstance(device, str) and not device.startswith(("ibm:", "fake:")):  # simulated locally
        check_state_fits(num_qubits)
    return CircuitForm(num_qubits, feature_map, ansatz, body, **qiskit)
