"""Reading a Qiskit circuit: composite and annotated instructions decomposed, final measurements
separated and remembered, instructions without a unitary circuit refused with the reason.

Matrices are compared with Qiskit's ``Operator``; where a decomposed definition carries a global
phase, up to the phase (and exactly with ``global_phase=True``).
"""

from __future__ import annotations

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import Gate, Parameter, ParameterVector
from qiskit.circuit.library import XXPlusYYGate, real_amplitudes, zz_feature_map
from qiskit.quantum_info import Operator

from qnn_torch.circuits.qiskit_circuit import QiskitCircuit
from qnn_torch.circuits.qiskit_instructions import drop_final_measurements, flatten, logical_qubits

from .matrices import assert_same, one_input_four_weights, pl_matrix


@pytest.mark.parametrize("build", [
    lambda qc, p: qc.cu(p[0], p[1], p[2], p[3], 0, 2),
    lambda qc, p: qc.ecr(1, 0),
    lambda qc, p: qc.dcx(2, 1),
    lambda qc, p: qc.cs(0, 1),
    lambda qc, p: qc.csx(2, 0),
    lambda qc, p: qc.mcx([0, 1], 2),
    lambda qc, p: qc.rccx(2, 1, 0),
    lambda qc, p: qc.cx(0, 1, ctrl_state=0),
    lambda qc, p: qc.crz(p[0], 1, 2, ctrl_state=0),
    lambda qc, p: qc.append(XXPlusYYGate(p[0], p[1]), [2, 0]),
], ids=["cu", "ecr", "dcx", "cs", "csx", "mcx", "rccx", "cx_open", "crz_open", "xx_plus_yy"])
def test_other_gates_decomposed(build, rng):
    params = ParameterVector("θ", 4)
    qc = QuantumCircuit(3)
    build(qc, params)
    used = [p for p in params if p in set(qc.parameters)]
    assert_same(qc, [], used, rng, exact=False)


def test_composite_gates_and_instructions(rng):
    fm, ansatz = zz_feature_map(3, reps=1), real_amplitudes(3, reps=1)
    qc = QuantumCircuit(4)
    qc.append(fm.to_gate(), [3, 1, 0])
    qc.append(ansatz.to_instruction(), [0, 2, 3])
    qc.append(ansatz.to_gate().inverse(), [1, 2, 3])
    qc.barrier()
    assert_same(qc, list(fm.parameters), list(ansatz.parameters), rng)


def test_flatten_renames_the_qubits_and_bits_of_definitions_and_sums_the_phases():
    inner = QuantumCircuit(2, 1, global_phase=0.25)
    inner.cx(0, 1)
    inner.measure(1, 0)
    qc = QuantumCircuit(3, 2, global_phase=0.5)
    qc.append(inner.to_instruction(), [2, 0], [1])
    qc.h(1)
    flat, phase = flatten(qc)
    assert flat == [("cx", (2, 0), ()), ("measure", (0,), (1,)), ("h", (1,), ())]
    assert phase == pytest.approx(0.75)


def test_drop_final_measurements_keeps_the_gates_and_says_which_qubit_each_bit_reads():
    flat = [("h", (0,), ()), ("measure", (0,), (1,)), ("x", (1,), ()), ("measure", (1,), (0,))]
    assert drop_final_measurements(flat) == ([("h", (0,), ()), ("x", (1,), ())], {1: 0, 0: 1})


def test_logical_qubits_of_a_circuit_without_layout():
    assert logical_qubits(QuantumCircuit(3)) == (0, 1, 2)


def test_final_measurements_dropped(rng):
    qc, x, w = one_input_four_weights()
    qc.measure_all()
    converted = assert_same(qc, [x], list(w), rng)
    assert len(converted.operations) == 5
    qc2 = QuantumCircuit(2, 2)
    qc2.h(0)
    qc2.measure(0, 0)
    qc2.x(1)  # another qubit: the measurement is still final
    qc2.measure(1, 1)
    assert len(QiskitCircuit(qc2).operations) == 2


def test_measurements_remembered_as_outcomes():
    """Which qubit each classical bit reads, and the outcome (the classical register's value)
    each basis state reports."""
    qc = QuantumCircuit(3, 2)
    qc.h(0)
    qc.measure(2, 0)  # clbit 0 reads qubit 2
    qc.measure(0, 1)  # clbit 1 reads qubit 0; qubit 1 is not measured
    converted = QiskitCircuit(qc)
    assert (converted.num_clbits, converted.measured, converted.logical_qubits) == (2, (2, 0), (0, 1, 2))
    states = np.arange(8)
    np.testing.assert_array_equal(converted.outcomes(), ((states >> 2) & 1) | (((states >> 0) & 1) << 1))
    qc.measure(1, 0)  # a later measurement into clbit 0 overwrites it
    assert QiskitCircuit(qc).measured == (1, 0)


def test_measurements_inside_composite_instructions():
    inner = QuantumCircuit(2, 2)
    inner.h(0)
    inner.measure([0, 1], [1, 0])
    qc = QuantumCircuit(2, 2)
    qc.append(inner.to_instruction(), [1, 0], [0, 1])
    # inner qubit 0 -> qubit 1 into inner clbit 1 -> clbit 1; inner qubit 1 -> qubit 0 into clbit 0
    assert QiskitCircuit(qc).measured == (0, 1)


def test_without_classical_bits_every_logical_qubit_is_read():
    from qiskit import transpile
    from qiskit.providers.fake_provider import GenericBackendV2

    qc, x, w = one_input_four_weights()
    assert QiskitCircuit(qc, input_params=[x], weight_params=list(w)).outcomes().tolist() == [0, 1, 2, 3]
    isa = transpile(qc, GenericBackendV2(5, seed=1), initial_layout=[3, 1], optimization_level=0)
    converted = QiskitCircuit(isa, input_params=[x], weight_params=list(w))
    logical = isa.layout.final_index_layout(filter_ancillas=True)
    assert converted.logical_qubits == tuple(logical) and converted.num_virtual_qubits == 2
    states = np.arange(32)
    expected = ((states >> logical[0]) & 1) | (((states >> logical[1]) & 1) << 1)
    np.testing.assert_array_equal(converted.outcomes(), expected)


def test_mid_circuit_measurement_refused():
    qc = QuantumCircuit(2, 1)
    qc.h(0)
    qc.measure(0, 0)
    qc.cx(0, 1)
    with pytest.raises(ValueError, match="'measure': mid-circuit measurement of qubit 0 is followed by 'cx'"):
        QiskitCircuit(qc)


def test_reset_refused():
    qc = QuantumCircuit(1)
    qc.reset(0)
    with pytest.raises(ValueError, match="unsupported instruction 'reset'"):
        QiskitCircuit(qc)


def test_classical_control_refused():
    qc = QuantumCircuit(1, 1)
    qc.measure(0, 0)
    with qc.if_test((qc.clbits[0], 1)):
        qc.x(0)
    with pytest.raises(ValueError, match="unsupported instruction 'if_else': classical control"):
        QiskitCircuit(qc)


def test_delays():
    t = Parameter("t")
    qc = QuantumCircuit(1)
    qc.delay(100, 0)
    qc.h(0)
    assert len(QiskitCircuit(qc).operations) == 1
    qc.delay(t, 0)
    with pytest.raises(ValueError, match="unsupported instruction 'delay' with the parameter duration"):
        QiskitCircuit(qc, weight_params=[t])


def test_opaque_gate_refused():
    qc = QuantumCircuit(2)
    qc.append(Gate("mystery", 2, []), [0, 1])
    expected = "unsupported instruction 'mystery': it has no definition.*Supported: .*rzz"
    with pytest.raises(ValueError, match=expected):
        QiskitCircuit(qc)


# ------------------------------------------------------------------------------------------
# annotated operations (``gate.inverse(annotated=True)``, ``AnnotatedOperation``)
# ------------------------------------------------------------------------------------------


def _annotated(build, values=None):
    """A 3-qubit circuit holding an annotated 2-qubit ansatz block (or RY gate) and its weights; with
    ``values`` the block is built with its weights bound (Qiskit cannot bind parameters inside a
    nested annotated operation, so the reference is built bound)."""
    from qiskit.circuit.annotated_operation import (AnnotatedOperation, ControlModifier, InverseModifier,
                                                    PowerModifier)
    from qiskit.circuit.library import RYGate

    block = real_amplitudes(2, reps=1, parameter_prefix="w")
    weights = list(block.parameters)
    if values is not None:
        block = block.assign_parameters(dict(zip(weights, values)))
    qc = QuantumCircuit(3)
    qc.h([0, 1, 2])
    modifiers = {"inverse": InverseModifier(), "control": ControlModifier(1),
                 "open-control": ControlModifier(1, ctrl_state=0), "square": PowerModifier(2),
                 "inverse-cube": PowerModifier(-3), "power-zero": PowerModifier(0)}
    if build == "rotation-half":
        weights = [Parameter("w0")]
        angle = weights[0] if values is None else float(values[0])
        qc.append(AnnotatedOperation(RYGate(angle), PowerModifier(0.5)), [2])
        return qc, weights
    if build == "nested":
        inner = AnnotatedOperation(block.to_gate(), InverseModifier())
        qc.append(AnnotatedOperation(inner, [ControlModifier(1), PowerModifier(2)]), [2, 0, 1])
        return qc, weights
    names = build.split("+")
    qubits = [2, 0, 1] if any("control" in n for n in names) else [1, 2]
    qc.append(AnnotatedOperation(block.to_gate(), [modifiers[n] for n in names]), qubits)
    return qc, weights


@pytest.mark.parametrize("build", ["inverse", "control", "open-control", "control+inverse",
                                   "inverse+control", "square", "inverse-cube", "power-zero", "rotation-half",
                                   "nested"])
def test_annotated_operations_are_converted(build, rng):
    """Each modifier of an annotated operation, alone, combined and nested, gives Qiskit's
    ``Operator`` of the same circuit built with bound weights."""
    qc, weights = _annotated(build)
    assert any(item.operation.name == "annotated" for item in qc.data)
    values = rng.uniform(-np.pi, np.pi, len(weights))
    converted = QiskitCircuit(qc, weight_params=weights)
    reference = Operator(_annotated(build, values)[0])
    assert Operator(pl_matrix(converted, np.zeros(0), values)).equiv(reference)


def test_the_annotated_inverse_of_an_ansatz_as_in_qiskit_machine_learning(rng):
    """qiskit-machine-learning 0.9.1 runs an annotated inverse forward (its gradients fail on it:
    "'AnnotatedOperation' object has no attribute 'definition'"): the outputs equal its own, the
    gradients those it gives for the plain inverse."""
    from qiskit_machine_learning.neural_networks import EstimatorQNN as QkEstimatorQNN

    from qnn_torch import EstimatorQNN

    x = ParameterVector("x", 2)
    block = real_amplitudes(2, reps=1)
    circuits = []
    for annotated in (True, False):
        qc = QuantumCircuit(2)
        qc.ry(x[0], 0)
        qc.ry(x[1], 1)
        qc.append(block.to_gate().inverse(annotated=annotated), [0, 1])
        circuits.append(qc)
    kwargs = dict(input_params=list(x), weight_params=list(block.parameters), input_gradients=True)
    inputs, weights = rng.uniform(-1, 1, (3, 2)), rng.uniform(-1, 1, 4)
    ours = EstimatorQNN(circuit=circuits[0], **kwargs)
    theirs = QkEstimatorQNN(circuit=circuits[0], **kwargs)
    np.testing.assert_allclose(ours.forward(inputs, weights), theirs.forward(inputs, weights), atol=1e-10)
    plain = QkEstimatorQNN(circuit=circuits[1], **kwargs)
    for got, expected in zip(ours.backward(inputs, weights), plain.backward(inputs, weights)):
        np.testing.assert_allclose(got, expected, atol=1e-6)


def test_a_fractional_power_of_an_unbound_composite_is_refused_with_the_way_out():
    from qiskit.circuit.annotated_operation import AnnotatedOperation, PowerModifier

    block = real_amplitudes(2, reps=1)
    qc = QuantumCircuit(2)
    qc.append(AnnotatedOperation(block.to_gate(), PowerModifier(0.5)), [0, 1])
    expected = (r"unsupported instruction 'annotated': the power 0.5 of 'RealAmplitudes' has no definition "
                r"while its parameters are unbound \(TypeError: .*\); use an integer power, bind the "
                r"parameters first")
    with pytest.raises(ValueError, match=expected):
        QiskitCircuit(qc, weight_params=list(block.parameters))
