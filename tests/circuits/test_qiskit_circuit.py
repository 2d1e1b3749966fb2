"""QiskitCircuit: a Qiskit QuantumCircuit converted once into a PennyLane circuit function.

Matrices are compared with Qiskit's ``Operator`` exactly (global phase included); where a
decomposed definition or the circuit itself carries a global phase, the default (phase not
queued) is compared with ``Operator.equiv`` and ``global_phase=True`` exactly.
"""

from __future__ import annotations

import pickle

import numpy as np
import pennylane as qml
import pytest
import torch
from qiskit import QuantumCircuit
from qiskit.circuit import Gate, Parameter, ParameterVector
from qiskit.circuit.library import (U1Gate, U2Gate, U3Gate, XXPlusYYGate, pauli_feature_map, real_amplitudes,
                                    zz_feature_map)
from qiskit.quantum_info import Operator

from qnn_torch.circuits.qiskit_circuit import SUPPORTED_GATES, QiskitCircuit

from .. import qiskit_reference as ref

ATOL = 1e-12


def pl_matrix(converted, x, w):
    n = converted.num_qubits
    return qml.matrix(lambda: converted(x, w), wire_order=list(reversed(range(n))))()


def qiskit_matrix(qc, inputs, weights, x, w):
    values = {**dict(zip(inputs, np.asarray(x, dtype=float))), **dict(zip(weights, np.asarray(w, dtype=float)))}
    bound = qc.assign_parameters(values)
    bound.remove_final_measurements()
    return Operator(bound)


def assert_same(qc, inputs, weights, rng, exact=True):
    converted = QiskitCircuit(qc, input_params=inputs, weight_params=weights)
    x = rng.uniform(-np.pi, np.pi, len(inputs))
    w = rng.uniform(-np.pi, np.pi, len(weights))
    reference = qiskit_matrix(qc, inputs, weights, x, w)
    ours = pl_matrix(converted, x, w)
    if exact:
        np.testing.assert_allclose(ours, reference.data, atol=ATOL)
    else:
        assert Operator(ours).equiv(reference)
        with_phase = QiskitCircuit(qc, input_params=inputs, weight_params=weights, global_phase=True)
        np.testing.assert_allclose(pl_matrix(with_phase, x, w), reference.data, atol=ATOL)
    return converted


# ------------------------------------------------------------------------------------------
# single gates, on permuted qubits of a 3-qubit circuit (catches bit-order mistakes)
# ------------------------------------------------------------------------------------------

# name -> (qubits, parameters)
GATES = {
    "h": (1, 0), "x": (1, 0), "y": (1, 0), "z": (1, 0), "s": (1, 0), "sdg": (1, 0), "t": (1, 0),
    "tdg": (1, 0), "sx": (1, 0), "sxdg": (1, 0), "rx": (1, 1), "ry": (1, 1), "rz": (1, 1),
    "p": (1, 1), "u": (1, 3), "r": (1, 2), "cx": (2, 0), "cy": (2, 0), "cz": (2, 0), "ch": (2, 0),
    "swap": (2, 0), "iswap": (2, 0), "crx": (2, 1), "cry": (2, 1), "crz": (2, 1), "cp": (2, 1),
    "rxx": (2, 1), "ryy": (2, 1), "rzz": (2, 1), "rzx": (2, 1), "ccx": (3, 0), "ccz": (3, 0),
    "cswap": (3, 0), "id": (1, 0),
}
QUBITS = [2, 0, 1]


@pytest.mark.parametrize("name", sorted(GATES))
def test_standard_gate_matrix_exact(name, rng):
    num_qubits, num_params = GATES[name]
    params = ParameterVector("θ", num_params)
    qc = QuantumCircuit(3)
    getattr(qc, name)(*params, *QUBITS[:num_qubits])
    converted = assert_same(qc, [], list(params), rng)
    expected = 0 if name == "id" else 1
    assert len(converted.operations) == expected
    assert name == "id" or name in SUPPORTED_GATES


@pytest.mark.parametrize("gate, num_params", [(U1Gate, 1), (U2Gate, 2), (U3Gate, 3)])
def test_u1_u2_u3(gate, num_params, rng):
    params = ParameterVector("θ", num_params)
    qc = QuantumCircuit(2)
    qc.append(gate(*params), [1])
    assert_same(qc, [], list(params), rng)


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


def test_unitary_gate(rng):
    from qiskit.circuit.library import UnitaryGate
    from qiskit.quantum_info import random_unitary

    qc = QuantumCircuit(3)
    qc.append(UnitaryGate(random_unitary(4, seed=3)), [2, 0])
    assert_same(qc, [], [], rng)


# ------------------------------------------------------------------------------------------
# library circuits and composites
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [2, 3, 4])
def test_zz_feature_map_with_real_amplitudes(n, rng):
    fm, ansatz = zz_feature_map(n), real_amplitudes(n, reps=2)
    qc = QuantumCircuit(n)
    qc.compose(fm, inplace=True)
    qc.compose(ansatz, inplace=True)
    qc.measure_all()
    assert_same(qc, list(fm.parameters), list(ansatz.parameters), rng)


@pytest.mark.parametrize("n", [2, 3, 4])
def test_zz_feature_map_equals_ours(n, rng):
    from qnn_torch import ZZFeatureMap

    fm = zz_feature_map(n)
    converted = QiskitCircuit(fm, input_params=fm.parameters)
    x = rng.uniform(-np.pi, np.pi, n)
    ours = qml.matrix(lambda: ZZFeatureMap(x, wires=range(n)), wire_order=list(reversed(range(n))))()
    np.testing.assert_allclose(pl_matrix(converted, x, None), ours, atol=ATOL)


@pytest.mark.parametrize("paulis", [["X", "Y", "ZZ"], ["Y", "XY"], ["Z", "YY", "XZ"]])
def test_pauli_feature_map_with_real_amplitudes(paulis, rng):
    fm, ansatz = pauli_feature_map(3, paulis=paulis, reps=2), real_amplitudes(3, reps=1)
    qc = fm.compose(ansatz)
    assert_same(qc, list(fm.parameters), list(ansatz.parameters), rng)


def test_composite_gates_and_instructions(rng):
    fm, ansatz = zz_feature_map(3, reps=1), real_amplitudes(3, reps=1)
    qc = QuantumCircuit(4)
    qc.append(fm.to_gate(), [3, 1, 0])
    qc.append(ansatz.to_instruction(), [0, 2, 3])
    qc.append(ansatz.to_gate().inverse(), [1, 2, 3])
    qc.barrier()
    assert_same(qc, list(fm.parameters), list(ansatz.parameters), rng)


def test_regression_circuit(rng):
    x, w = Parameter("x"), Parameter("w")
    qc = QuantumCircuit(1)
    qc.ry(x, 0)
    qc.ry(w, 0)
    converted = assert_same(qc, [x], [w], rng)
    assert [name for name, _, _ in converted.operations] == ["RY", "RY"]


# ------------------------------------------------------------------------------------------
# expressions
# ------------------------------------------------------------------------------------------

EXPRESSIONS = {
    "2x": lambda x0, x1, w: 2 * x0,
    "w*x": lambda x0, x1, w: w * x0,
    "zz": lambda x0, x1, w: (np.pi - x0) * (np.pi - x1),
    "sum": lambda x0, x1, w: x0 + x1 + w + 0.5,
    "difference": lambda x0, x1, w: x0 - w,
    "negation": lambda x0, x1, w: -x1,
    "division": lambda x0, x1, w: x0 / 3,
    "by_parameter": lambda x0, x1, w: x0 / (w + 5),
    "minus_sum": lambda x0, x1, w: x0 - (w + 1),
    "compound": lambda x0, x1, w: (x0 + 1) / (w + 5) - (x1 * 2).cos() * (x0 - x1),
    "reversed": lambda x0, x1, w: 2 / (x0 + 5) + 1.5 - x1 + 2 ** (x0 + 1),
    "parameter_power": lambda x0, x1, w: (x0 + 4) ** (w / 4),
    "sign": lambda x0, x1, w: (x0 - x1).sign() * x0,
    "substituted": lambda x0, x1, w: ((x0 + 1) * w).subs({x0: 2 * x1 - x0}),
    "power": lambda x0, x1, w: x0 ** 2,
    "sin": lambda x0, x1, w: x0.sin(),
    "cos": lambda x0, x1, w: (w * x0).cos(),
    "tan": lambda x0, x1, w: (x0 / 4).tan(),
    "exp": lambda x0, x1, w: x1.exp(),
    "log": lambda x0, x1, w: (x0 + 4).log(),
    "arccos": lambda x0, x1, w: (x0 / 4).arccos(),
    "arcsin": lambda x0, x1, w: (x1 / 4).arcsin(),
    "arctan": lambda x0, x1, w: (x0 * w).arctan(),
    "abs": lambda x0, x1, w: (x0 - x1).abs(),
    "nested": lambda x0, x1, w: (2 * (x0 + np.pi / 2).sin() - w).exp() / 7,
    "number": lambda x0, x1, w: 0.7,
    "constant_expression": lambda x0, x1, w: 0 * x0 + np.pi / 3,
}


@pytest.mark.parametrize("name", sorted(EXPRESSIONS))
def test_expressions(name, rng):
    x0, x1, w = Parameter("x0"), Parameter("x1"), Parameter("w")
    qc = QuantumCircuit(2)
    qc.h([0, 1])
    qc.rz(EXPRESSIONS[name](x0, x1, w), 1)
    qc.ry(x0, 0)
    qc.cx(0, 1)
    qc.rx(x1 + w, 1)
    assert_same(qc, [x0, x1], [w], rng)


def test_distinct_expressions_evaluated_once():
    x = ParameterVector("x", 1)
    qc = QuantumCircuit(2)
    for _ in range(3):
        qc.p(2 * x[0], 0)
        qc.p(2 * x[0], 1)
    converted = QiskitCircuit(qc, input_params=x)
    assert converted.source.count("x_0") == 2  # unpacked once, used once


def test_global_phase(rng):
    x, w = Parameter("x"), Parameter("w")
    qc = QuantumCircuit(2, global_phase=x * w)
    qc.rz(x, 0)
    qc.rx(w, 1)
    assert_same(qc, [x], [w], rng, exact=False)


# ------------------------------------------------------------------------------------------
# data re-uploading with trainable input scaling (qiskit-torch-module's benchmark style)
# ------------------------------------------------------------------------------------------


reuploading_circuit = ref.reuploading_circuit


def test_reuploading_circuit(rng):
    qc, inputs, weights = reuploading_circuit(4, 2)
    converted = assert_same(qc, inputs, weights, rng)
    assert converted.num_inputs == 4 and converted.num_weights == 40


# ------------------------------------------------------------------------------------------
# batches, gradients, NumPy
# ------------------------------------------------------------------------------------------


def expval_qnode(converted, observable_wire=0):
    dev = qml.device("default.qubit", wires=converted.num_qubits)

    @qml.qnode(dev, interface="torch", diff_method="backprop")
    def circuit(x, w):
        converted(x, w)
        return qml.expval(qml.Z(observable_wire) @ qml.Z(converted.num_qubits - 1))

    return circuit


def test_batched_inputs_equal_rows(rng):
    qc, inputs, weights = reuploading_circuit(3, 2)
    converted = QiskitCircuit(qc, input_params=inputs, weight_params=weights)
    x = torch.tensor(rng.uniform(-1, 1, (3, len(inputs))))
    w = torch.tensor(rng.uniform(-1, 1, len(weights)))
    circuit = expval_qnode(converted)
    batched = circuit(x, w)
    assert batched.shape == (3,)
    rows = torch.stack([circuit(row, w) for row in x])
    torch.testing.assert_close(batched, rows, atol=1e-12, rtol=0)
    matrices = qml.matrix(lambda: converted(x, w), wire_order=[2, 1, 0])()
    for b in range(3):
        np.testing.assert_allclose(matrices[b], pl_matrix(converted, x[b], w), atol=ATOL)
    # batched weights too
    wb = w.expand(3, -1)
    torch.testing.assert_close(circuit(x, wb), rows, atol=1e-12, rtol=0)


def test_torch_gradients_equal_finite_differences(rng):
    x0, x1, w = Parameter("x0"), Parameter("x1"), Parameter("w")
    v = ParameterVector("v", 2)
    qc = QuantumCircuit(2)
    qc.h([0, 1])
    qc.ry(w * x0, 0)
    qc.rz((np.pi - x0) * (np.pi - x1), 1)
    qc.cx(0, 1)
    qc.rx((x1 / 3).sin() + v[0], 1)
    qc.rzz((v[1] - x0).exp() / 5, 0, 1)
    qc.ry((x1 / 4).arccos(), 0)
    converted = QiskitCircuit(qc, input_params=[x0, x1], weight_params=[w, *v])
    circuit = expval_qnode(converted)
    x = torch.tensor(rng.uniform(-1, 1, (2, 2)), requires_grad=True)
    weights = torch.tensor(rng.uniform(-1, 1, 3), requires_grad=True)
    out = circuit(x, weights).sum()
    gx, gw = torch.autograd.grad(out, (x, weights))

    def f(xv, wv):
        return circuit(torch.tensor(xv), torch.tensor(wv)).sum().item()

    eps = 1e-6
    xn, wn = x.detach().numpy(), weights.detach().numpy()
    for i in np.ndindex(xn.shape):
        d = np.zeros_like(xn)
        d[i] = eps
        assert gx[i].item() == pytest.approx((f(xn + d, wn) - f(xn - d, wn)) / (2 * eps), abs=1e-7)
    for j in range(wn.size):
        d = np.zeros_like(wn)
        d[j] = eps
        assert gw[j].item() == pytest.approx((f(xn, wn + d) - f(xn, wn - d)) / (2 * eps), abs=1e-7)


def test_numpy_and_float32(rng):
    qc, inputs, weights = reuploading_circuit(2, 1)
    converted = QiskitCircuit(qc, input_params=inputs, weight_params=weights)
    x, w = rng.uniform(-1, 1, 2), rng.uniform(-1, 1, len(weights))
    reference = pl_matrix(converted, x, w)
    np.testing.assert_allclose(pl_matrix(converted, torch.tensor(x), w), reference, atol=ATOL)
    single = pl_matrix(converted, torch.tensor(x, dtype=torch.float32), torch.tensor(w, dtype=torch.float32))
    np.testing.assert_allclose(single, reference, atol=1e-5)


def test_custom_wires(rng):
    x = ParameterVector("x", 2)
    qc = QuantumCircuit(2)
    qc.ry(x[0], 0)
    qc.cx(0, 1)
    qc.rz(x[1], 1)
    converted = QiskitCircuit(qc, input_params=x)
    values = rng.uniform(-1, 1, 2)
    ops = converted(values, None, wires=["a", "b"])
    assert [op.wires.tolist() for op in ops] == [["a"], ["a", "b"], ["b"]]
    m = qml.matrix(lambda: converted(values, None, wires=["a", "b"]), wire_order=["b", "a"])()
    np.testing.assert_allclose(m, pl_matrix(converted, values, None), atol=ATOL)
    with pytest.raises(ValueError, match="wires must hold 2 wires"):
        converted(values, None, wires=[0])
    with pytest.raises(ValueError, match=r"inputs must have shape \(\.\.\., 2\); got shape \(3,\)"):
        converted(np.zeros(3), None)


# ------------------------------------------------------------------------------------------
# pickling, equality
# ------------------------------------------------------------------------------------------


def test_pickle_round_trip(rng):
    fm, ansatz = zz_feature_map(3, reps=1), real_amplitudes(3, reps=1)
    qc = fm.compose(ansatz)
    converted = QiskitCircuit(qc, input_params=fm.parameters, weight_params=ansatz.parameters)
    x, w = rng.uniform(-1, 1, 3), rng.uniform(-1, 1, 6)
    pl_matrix(converted, x, w)  # fills the wire cache
    loaded = pickle.loads(pickle.dumps(converted))
    assert loaded == converted and hash(loaded) == hash(converted)
    np.testing.assert_array_equal(pl_matrix(loaded, x, w), pl_matrix(converted, x, w))
    assert loaded.num_inputs == 3 and loaded.num_weights == 6


# ------------------------------------------------------------------------------------------
# errors
# ------------------------------------------------------------------------------------------


def _circuit():
    x, w = Parameter("x"), ParameterVector("θ", 4)
    qc = QuantumCircuit(2)
    qc.ry(x, 0)
    for p in w:
        qc.rz(p, 1)
    return qc, x, w


def test_unlisted_parameter():
    qc, x, w = _circuit()
    with pytest.raises(ValueError, match=r"circuit parameter 'θ\[3\]' is neither an input nor a weight parameter"):
        QiskitCircuit(qc, input_params=[x], weight_params=w[:3])


def test_parameter_listed_twice():
    qc, x, w = _circuit()
    with pytest.raises(ValueError, match="'x' is listed in both input_params and weight_params"):
        QiskitCircuit(qc, input_params=[x], weight_params=[x, *w])
    with pytest.raises(ValueError, match="weight_params lists the parameter 'θ\\[0\\]' twice"):
        QiskitCircuit(qc, input_params=[x], weight_params=[*w, w[0]])


def test_listed_parameter_not_in_circuit():  # as qiskit-machine-learning refuses it
    qc, x, w = _circuit()
    with pytest.raises(ValueError, match="input_params: the parameter 'y' is not in the circuit"):
        QiskitCircuit(qc, input_params=[x, Parameter("y")], weight_params=w)


@pytest.mark.parametrize("bad, match", [
    (Parameter("x"), "input_params must be a sequence of qiskit Parameters"),
    ("x", "input_params must be a sequence of qiskit Parameters"),
    (3, "input_params must be a sequence of qiskit Parameters"),
    (["x"], r"input_params\[0\] must be a qiskit Parameter; got 'x'"),
    ([2 * Parameter("x")], r"input_params\[0\] must be a qiskit Parameter"),
])
def test_wrong_kind_of_params(bad, match):
    qc, x, w = _circuit()
    with pytest.raises(TypeError, match=match):
        QiskitCircuit(qc, input_params=bad, weight_params=w)


def test_not_a_circuit():
    with pytest.raises(TypeError, match="circuit must be a qiskit QuantumCircuit"):
        QiskitCircuit("ry(x)")


def test_final_measurements_dropped(rng):
    qc, x, w = _circuit()
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

    qc, x, w = _circuit()
    assert QiskitCircuit(qc, input_params=[x], weight_params=list(w)).outcomes().tolist() == [0, 1, 2, 3]
    isa = transpile(qc, GenericBackendV2(5, seed=1), initial_layout=[3, 1], optimization_level=0)
    converted = QiskitCircuit(isa, input_params=[x], weight_params=list(w))
    logical = isa.layout.final_index_layout(filter_ancillas=True)
    assert converted.logical_qubits == tuple(logical) and converted.num_virtual_qubits == 2
    states = np.arange(32)
    np.testing.assert_array_equal(converted.outcomes(), ((states >> logical[0]) & 1) | (((states >> logical[1]) & 1) << 1))


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
    with pytest.raises(ValueError, match="unsupported instruction 'mystery': it has no definition.*Supported: .*rzz"):
        QiskitCircuit(qc)


# ------------------------------------------------------------------------------------------
# every engine runs every converted circuit: constants and parameters mixed in one gate
# ------------------------------------------------------------------------------------------

ENGINE_OPTIONS = [{"engine": "adjoint"}, {"engine": "torch-adjoint"}, {"engine": "compiled"},
                  {"engine": "qnode"}, {"device": "qiskit.aer"}]
ENGINE_IDS = ["adjoint", "torch-adjoint", "compiled", "qnode", "qiskit.aer"]


def _mixed_circuit():
    """Every gate of the table and a few decomposed ones on 3 qubits, with constant and
    parametrised angles mixed within a gate (``u(w0, 0.3, w1)``) and constant-only angles."""
    from qiskit.circuit.library import XXPlusYYGate

    x, w = ParameterVector("x", 3), ParameterVector("w", 40)
    qc = QuantumCircuit(3)
    for q in range(3):
        qc.ry(x[q], q)
    k = 0
    for position, name in enumerate(sorted(GATES)):
        num_qubits, num_params = GATES[name]
        params = []
        for slot in range(num_params):
            if (position + slot) % 2:
                params.append(0.3 + 0.1 * slot)
            else:
                params.append(w[k] * x[slot % 3] + 0.2 if slot == 1 else w[k])
                k += 1
        qubits = [QUBITS[(position + i) % 3] for i in range(num_qubits)]
        getattr(qc, name)(*params, *qubits)
    qc.cu(w[k], 0.3, w[k + 1], 0.1, 0, 2)
    qc.append(U2Gate(w[k + 2], 0.2), [1])
    qc.append(U1Gate(0.4), [2])
    qc.r(0.7, w[k + 3], 0)
    qc.append(XXPlusYYGate(w[k + 4], 0.2), [2, 0])
    qc.crz(0.5, 1, 2, ctrl_state=0)
    qc.rzz(0.4, 0, 1)
    qc.cp(w[k + 5] - 0.5, 2, 1)
    used = [p for p in w if p in set(qc.parameters)]
    return qc, list(x), used


def _expectations(qc, x_params, w_params, inputs, weights, observables):
    from qiskit.quantum_info import Statevector

    out = []
    for row in inputs:
        values = {**dict(zip(x_params, row)), **dict(zip(w_params, weights))}
        state = Statevector(qc.assign_parameters(values))
        out.append([state.expectation_value(o).real for o in observables])
    return np.array(out)


@pytest.mark.parametrize("options", ENGINE_OPTIONS, ids=ENGINE_IDS)
def test_every_engine_runs_constants_mixed_with_parameters(options, rng):
    """Each engine gives Qiskit's expectation values, and their finite-difference gradients, for a
    circuit of every gate kind with constant and parametrised angles mixed in one gate (the QNode
    failed on ``u(w0, 0.3, w2)`` with "unsupported operand type(s) for *: 'numpy.ndarray' and 'Tensor'")."""
    from qiskit.quantum_info import SparsePauliOp

    from qnn_torch import EstimatorQNN

    qc, x, w = _mixed_circuit()
    observables = [SparsePauliOp("IIZ"), SparsePauliOp("IZI"), SparsePauliOp("ZII"), SparsePauliOp("XYZ")]
    qnn = EstimatorQNN(circuit=qc, input_params=x, weight_params=w, observables=observables, **options)
    inputs, weights = rng.uniform(-1, 1, (2, 3)), rng.uniform(-np.pi, np.pi, len(w))
    expected = _expectations(qc, x, w, inputs, weights, observables)
    np.testing.assert_allclose(qnn.forward(inputs, weights), expected, atol=1e-10)
    step = 1e-6
    columns = [(_expectations(qc, x, w, inputs, weights + step * e, observables)
                - _expectations(qc, x, w, inputs, weights - step * e, observables)) / (2 * step)
               for e in np.eye(len(w))]
    np.testing.assert_allclose(qnn.backward(inputs, weights)[1], np.stack(columns, axis=-1), atol=1e-6)


@pytest.mark.parametrize("options", ENGINE_OPTIONS, ids=ENGINE_IDS)
@pytest.mark.parametrize("angle", ["inf", "u-inf", "overflow"])
def test_non_finite_angles_give_nan_on_every_engine(options, angle):
    """A constant angle of ``inf``, or an expression whose constant overflows to it (``w * 1e308 * 10``),
    gives NaN outputs and gradients on every engine (the generated code failed with "name 'inf' is
    not defined")."""
    import math
    import warnings

    from qnn_torch import EstimatorQNN

    x, w = Parameter("x"), ParameterVector("w", 2)
    qc = QuantumCircuit(2)
    qc.ry(x, 0)
    if angle == "inf":
        qc.rx(math.inf, 0)
    elif angle == "u-inf":
        qc.u(w[0], math.inf, 0.2, 0)
    else:
        qc.rx(w[0] * 1e308 * 10, 0)
    qc.cx(0, 1)
    qc.ry(w[1], 1)
    weights = list(w) if angle != "inf" else [w[1]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NumPy's "invalid value" warnings
        qnn = EstimatorQNN(circuit=qc, input_params=[x], weight_params=weights, input_gradients=True,
                           **options)
        inputs, values = np.array([[0.3], [0.5]]), np.full(len(weights), 0.4)
        assert np.isnan(qnn.forward(inputs, values)).all()
        input_grad, weight_grad = qnn.backward(inputs, values)
    assert np.isnan(input_grad).all() and np.isnan(weight_grad[..., -1]).all()


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


@pytest.mark.parametrize("build", ["inverse", "control", "open-control", "control+inverse", "inverse+control",
                                   "square", "inverse-cube", "power-zero", "rotation-half", "nested"])
def test_annotated_operations_are_converted(build, rng):
    """Annotated operations are converted (an annotated inverse was refused): each modifier, alone,
    combined and nested, gives Qiskit's ``Operator`` of the same circuit built with bound weights."""
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
