"""QiskitCircuit: a Qiskit QuantumCircuit converted once into a PennyLane circuit function.

Matrices are compared with Qiskit's ``Operator`` exactly (global phase included); where the
circuit carries a global phase, the default (phase not queued) is compared with
``Operator.equiv`` and ``global_phase=True`` exactly.
"""

from __future__ import annotations

import pickle

import numpy as np
import pennylane as qml
import pytest
import torch
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter, ParameterVector
from qiskit.circuit.library import U1Gate, U2Gate, pauli_feature_map, real_amplitudes, zz_feature_map

from qnn_torch.circuits.qiskit_circuit import QiskitCircuit

from .. import qiskit_reference as ref
from .matrices import ATOL, GATE_SHAPES, QUBITS, assert_same, one_input_four_weights, pl_matrix

# ------------------------------------------------------------------------------------------
# library circuits
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


def test_regression_circuit(rng):
    x, w = Parameter("x"), Parameter("w")
    qc = QuantumCircuit(1)
    qc.ry(x, 0)
    qc.ry(w, 0)
    converted = assert_same(qc, [x], [w], rng)
    assert [name for name, _, _ in converted.operations] == ["RY", "RY"]


def test_global_phase(rng):
    x, w = Parameter("x"), Parameter("w")
    qc = QuantumCircuit(2, global_phase=x * w)
    qc.rz(x, 0)
    qc.rx(w, 1)
    assert_same(qc, [x], [w], rng, exact=False)


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
# parameters
# ------------------------------------------------------------------------------------------


def test_unlisted_parameter():
    qc, x, w = one_input_four_weights()
    expected = r"circuit parameter 'θ\[3\]' is neither an input nor a weight parameter"
    with pytest.raises(ValueError, match=expected):
        QiskitCircuit(qc, input_params=[x], weight_params=w[:3])


def test_parameter_listed_twice():
    qc, x, w = one_input_four_weights()
    with pytest.raises(ValueError, match="'x' is listed in both input_params and weight_params"):
        QiskitCircuit(qc, input_params=[x], weight_params=[x, *w])
    with pytest.raises(ValueError, match="weight_params lists the parameter 'θ\\[0\\]' twice"):
        QiskitCircuit(qc, input_params=[x], weight_params=[*w, w[0]])


def test_listed_parameter_not_inone_input_four_weights():  # as qiskit-machine-learning refuses it
    qc, x, w = one_input_four_weights()
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
    qc, x, w = one_input_four_weights()
    with pytest.raises(TypeError, match=match):
        QiskitCircuit(qc, input_params=bad, weight_params=w)


def test_not_aone_input_four_weights():
    with pytest.raises(TypeError, match="circuit must be a qiskit QuantumCircuit"):
        QiskitCircuit("ry(x)")


# ------------------------------------------------------------------------------------------
# every engine runs every converted circuit: constants and parameters mixed in one gate
# ------------------------------------------------------------------------------------------

ENGINE_OPTIONS = [{"engine": "adjoint"}, {"engine": "torch-adjoint"}, {"engine": "compiled"},
                  {"engine": "qnode"}, {"device": "qiskit.aer"}]


ENGINE_IDS = ["adjoint", "torch-adjoint", "compiled", "qnode", "qiskit.aer"]


def _mixedone_input_four_weights():
    """Every gate of the table and a few decomposed ones on 3 qubits, with constant and
    parametrised angles mixed within a gate (``u(w0, 0.3, w1)``) and constant-only angles."""
    from qiskit.circuit.library import XXPlusYYGate

    x, w = ParameterVector("x", 3), ParameterVector("w", 40)
    qc = QuantumCircuit(3)
    for q in range(3):
        qc.ry(x[q], q)
    k = 0
    for position, name in enumerate(sorted(GATE_SHAPES)):
        num_qubits, num_params = GATE_SHAPES[name]
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
    too: the constants of ``u(w0, 0.3, w2)`` become tensors like its parameters)."""
    from qiskit.quantum_info import SparsePauliOp

    from qnn_torch import EstimatorQNN

    qc, x, w = _mixedone_input_four_weights()
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
    """A constant angle of ``inf``, or an expression whose constant overflows to it
    (``w * 1e308 * 10``), gives NaN outputs and gradients on every engine (the generated code
    writes ``float('inf')``, not a bare ``inf``)."""
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
