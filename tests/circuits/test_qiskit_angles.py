"""Gate angles as generated code: every expression Qiskit can build, each distinct one computed
once, constants folded, and the errors of angles the code cannot compute."""

from __future__ import annotations

import math

import numpy as np
import pennylane as qml
import pytest
import torch
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter, ParameterVector

from qnn_torch.circuits.qiskit_angles import AngleCode, compile_angles, expression_source, math_namespace
from qnn_torch.circuits.qiskit_circuit import QiskitCircuit

from .matrices import assert_same

# name -> the gate angle, an expression of the parameters x0, x1 and w
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


def test_constants_are_folded_and_infinities_written_as_floats():
    x = Parameter("x")
    assert expression_source(x * 0 + 2 * math.pi, {x: "x_0"}) == pytest.approx(2 * math.pi)
    assert expression_source(x * 1e308 * 10, {x: "x_0"}) == "(float('inf') * x_0)"  # folded to inf
    assert expression_source(1.5, {}) == 1.5


@pytest.mark.parametrize("value, names, match", [
    (Parameter("y"), {}, "uses 'y', which is not a listed parameter"),
    (1j, {}, "is not real"),
])
def test_angles_the_code_cannot_compute(value, names, match):
    with pytest.raises(ValueError, match=match):
        expression_source(value, names)


def test_scaled_angles_share_a_slot_with_nothing_else():
    x, w = Parameter("x"), Parameter("w")
    code = AngleCode([x], [w])
    slots = [code.angle(x), code.angle(x, -1.0, 0.0), code.angle(x), code.angle(0.5, 2.0, 1.0)]
    assert slots == [0, 1, 0, 2.0]
    assert code.lines == ["x_0", "(-1.0 * x_0 + 0.0)"]
    assert "m.unbind(w" not in code.source()  # no weight is read


@pytest.mark.parametrize("as_torch", [True, False])
def test_the_compiled_function_reads_a_leading_batch(as_torch):
    x, w = ParameterVector("x", 2), Parameter("w")
    code = AngleCode(list(x), [w])
    slots = [code.angle((x[0] * w).sin()), code.angle(x[1] + 1)]
    angles = compile_angles(code.source())
    inputs, weights = np.array([[0.1, 0.2], [0.3, 0.4]]), np.array([2.0])
    if as_torch:
        inputs, weights = torch.tensor(inputs), torch.tensor(weights)
    values = angles(inputs, weights, math_namespace(as_torch))
    assert qml.math.get_interface(values[0]) == ("torch" if as_torch else "numpy")
    np.testing.assert_allclose(np.asarray(values[slots[0]]), np.sin([0.2, 0.6]))
    np.testing.assert_allclose(np.asarray(values[slots[1]]), [1.2, 1.4])
