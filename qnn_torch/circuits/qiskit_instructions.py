"""A Qiskit ``QuantumCircuit`` read into the flat list of gates that
:class:`~qnn_torch.circuits.qiskit_circuit.QiskitCircuit` converts.

Composite instructions are decomposed through their definitions, annotated operations
(``gate.inverse(annotated=True)``, controlled and powered gates) resolved into plain gates,
global phases summed, and final measurements separated from the gates (which qubit each
classical bit reads).
"""

from __future__ import annotations

import numpy as np

from .qiskit_gates import GATES, IGNORED, REFUSED, SUPPORTED_GATES

__all__ = ["drop_final_measurements", "flatten", "logical_qubits"]


def flatten(circuit):
    """The circuit as a flat list of the gates of :data:`~.qiskit_gates.GATES`, ``"unitary"``
    gates and measurements, composite instructions decomposed through their definitions.

    Returns:
        tuple: ``[(name, qubit indices, params)]``, where a measurement is ``("measure", qubits,
        clbits)``, and the summed global phase (a number or a ``ParameterExpression``).

    Raises:
        ValueError: for an instruction that has no unitary circuit or cannot be decomposed.
    """
    flat = []
    phase = [0.0]
    _flatten_into(circuit, list(range(circuit.num_qubits)), flat, phase, list(range(circuit.num_clbits)))
    total = 0
    for value in phase:
        total = total + value
    return flat, total


def _phase_value(value):
    from qiskit.circuit import ParameterExpression

    if isinstance(value, ParameterExpression):
        return value if value.parameters else float(complex(value.numeric()).real)
    return float(value)


def _flatten_into(circuit, qubit_map, flat, phase, clbit_map):
    """Append the gates of ``circuit`` to ``flat`` and its global phases to ``phase``, its qubits
    and classical bits renamed by ``qubit_map`` and ``clbit_map``."""
    from qiskit.circuit import ControlledGate, Delay, Gate, ParameterExpression, QuantumCircuit

    if _phase_value(circuit.global_phase) != 0.0:
        phase.append(_phase_value(circuit.global_phase))
    for item in circuit.data:
        op = item.operation
        name = op.name
        qubits = [qubit_map[circuit.find_bit(q).index] for q in item.qubits]
        if name in IGNORED:
            continue
        if isinstance(op, Delay):
            if isinstance(op.duration, ParameterExpression) and op.duration.parameters:
                raise ValueError(
                    f"unsupported instruction 'delay' with the parameter duration {op.duration}.")
            continue
        if name == "measure":
            clbits = [clbit_map[circuit.find_bit(c).index] for c in item.clbits]
            flat.append(("measure", tuple(qubits), tuple(clbits)))
            continue
        if name in REFUSED or getattr(op, "blocks", None):
            reason = REFUSED.get(name, "classical control is not supported")
            raise ValueError(f"unsupported instruction '{name}': {reason}.")
        if name == "global_phase":
            phase.append(_phase_value(op.params[0]))
            continue
        exact_control = not isinstance(op, ControlledGate) or op.ctrl_state == 2**op.num_ctrl_qubits - 1
        if name in GATES and exact_control and isinstance(op, Gate):
            flat.append((name, tuple(qubits), tuple(op.params)))
            continue
        if name == "unitary":
            flat.append(("unitary", tuple(qubits), (np.asarray(op.to_matrix()),)))
            continue
        if name == "annotated":  # gate.inverse(annotated=True), AnnotatedOperation(gate, modifiers)
            resolved = _without_modifiers(op)
            single = QuantumCircuit(resolved.num_qubits)
            single.append(resolved, single.qubits)
            _flatten_into(single, qubits, flat, phase, [])
            continue
        try:
            definition = op.definition
        except Exception:  # noqa: BLE001 - a definition Qiskit cannot build: reported below as none
            definition = None
        if definition is None:
            raise ValueError(
                f"unsupported instruction '{name}': it has no definition to decompose. Supported: "
                f"{', '.join(SUPPORTED_GATES)}, 'unitary', composite gates and instructions with a "
                f"definition, annotated operations, {', '.join(IGNORED)}, 'delay', 'global_phase' and final "
                "measurements."
            )
        clbits = [clbit_map[circuit.find_bit(c).index] for c in item.clbits]
        _flatten_into(definition, qubits, flat, phase, clbits)


def _without_modifiers(op):
    """An annotated operation as the plain gate it stands for: its modifiers applied to its base
    operation in order (inverse, control with its control state, power).

    Raises:
        ValueError: for a modifier Qiskit cannot apply to the base operation (a fractional power
            of a gate with unbound parameters), with the reason and what to do instead.
    """
    from qiskit.circuit.annotated_operation import ControlModifier, InverseModifier, PowerModifier

    gate = _without_modifiers(op.base_op) if op.base_op.name == "annotated" else op.base_op
    for modifier in op.modifiers:
        if isinstance(modifier, InverseModifier):
            gate = gate.inverse()
        elif isinstance(modifier, ControlModifier):
            gate = gate.control(modifier.num_ctrl_qubits, ctrl_state=modifier.ctrl_state)
        elif isinstance(modifier, PowerModifier) and float(modifier.power).is_integer():
            gate = _integer_power(gate, int(modifier.power))
        elif isinstance(modifier, PowerModifier):
            try:
                gate = gate.power(modifier.power)
            except (TypeError, ValueError) as err:  # computed from the matrix: bound parameters only
                reason = f"{type(err).__name__}: {str(err).splitlines()[0][:120]}"
            else:
                continue
            raise ValueError(
                f"unsupported instruction 'annotated': the power {modifier.power} of '{gate.name}' has no "
                f"definition while its parameters are unbound ({reason}); use an integer power, bind the "
                "parameters first, or write the powered gate (e.g. ry(theta * p)).")
        else:
            raise ValueError(f"unsupported instruction 'annotated': unknown modifier {modifier!r}; apply it "
                             f"to '{gate.name}' yourself (gate.inverse(), gate.control(n), gate.power(p)).")
    return gate


def _integer_power(gate, power: int):
    """``gate`` applied ``power`` times (its inverse for a negative power; nothing for 0), as one gate."""
    from qiskit import QuantumCircuit

    step = gate if power >= 0 else gate.inverse()
    repeated = QuantumCircuit(gate.num_qubits, name=f"{gate.name}^{power}")
    for _ in range(abs(power)):
        repeated.append(step, repeated.qubits)
    return repeated.to_gate()


def drop_final_measurements(flat):
    """Drop measurements after which their qubits see no gate; refuse the others.

    Returns:
        tuple: the gates, and ``{classical bit: measured qubit}`` (a later measurement into the
        same bit overwrites an earlier one, as on a device).
    """
    measured = set()
    into = {}
    for name, qubits, clbits in flat:
        if name == "measure":
            measured.update(qubits)
            into.update(zip(clbits, qubits))
            continue
        late = measured.intersection(qubits)
        if late:
            raise ValueError(
                f"unsupported instruction 'measure': mid-circuit measurement of qubit {min(late)} is "
                f"followed by '{name}'; only final measurements are allowed (they are dropped)."
            )
    return [op for op in flat if op[0] != "measure"], into


def logical_qubits(circuit) -> tuple:
    """The final physical positions of a transpiled circuit's logical qubits, else all qubits."""
    layout = getattr(circuit, "layout", None)
    if layout is None:
        return tuple(range(circuit.num_qubits))
    return tuple(int(q) for q in layout.final_index_layout(filter_ancillas=True))
