"""The three circuit forms resolved into one CircuitForm, and what each refuses."""

from functools import partial

import pennylane as qml
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit import ParameterVector

from qnn_torch import RealAmplitudes, ZZFeatureMap
from qnn_torch.engines import memory
from qnn_torch.qnn.circuit_form import FORM_ARGUMENTS, resolve_form


def test_a_feature_map_and_an_ansatz_default_to_qiskits():
    form = resolve_form(3)
    assert (form.num_qubits, form.feature_map.name, form.ansatz.name) == (3, "ZZFeatureMap", "RealAmplitudes")
    assert (form.feature_map.num_params, form.ansatz.num_params) == (3, 12)
    assert form.body is form.qiskit_circuit is form.converted is form.input_params is None
    form = resolve_form(2, feature_map=partial(ZZFeatureMap, reps=1), ansatz=partial(RealAmplitudes, reps=1))
    assert form.ansatz.num_params == 4


def test_one_function_of_inputs_and_weights():
    def body(inputs, weights):
        qml.RY(weights[..., 0] * inputs[..., 0], wires=0)

    form = resolve_form(1, circuit=body, num_inputs=1, num_weights=1)
    assert form.body is body and (form.feature_map.num_params, form.ansatz.num_params) == (1, 1)


def test_a_qiskit_circuit_and_its_parameters():
    x, w = ParameterVector("x", 2), ParameterVector("w", 1)
    qc = QuantumCircuit(2)
    qc.ry(x[0], 0)
    qc.rx(w[0] * x[1], 1)
    form = resolve_form(None, circuit=qc, input_params=x, weight_params=w)
    assert form.num_qubits == 2 and form.qiskit_circuit is qc and form.converted is not None
    assert form.input_params == list(x) and form.weight_params == list(w)
    assert (form.feature_map.num_params, form.ansatz.num_params) == (2, 1)
    with pytest.raises(ValueError, match="num_qubits must be the circuit's 2 qubits"):
        resolve_form(3, circuit=qc, input_params=x, weight_params=w)


@pytest.mark.parametrize("num_qubits, kwargs, error, match", [
    (0, {}, ValueError, "num_qubits must be a positive integer; got 0"),
    (True, {}, ValueError, "num_qubits must be a positive integer; got True"),
    (2, {"input_params": []}, ValueError, "input_params and weight_params name the parameters of a Qiskit"),
    (2, {"circuit": lambda x, w: None}, TypeError, "give num_inputs"),
])
def test_what_is_refused(num_qubits, kwargs, error, match):
    with pytest.raises(error, match=match):
        resolve_form(num_qubits, **kwargs)


def test_a_register_that_cannot_fit_is_refused_unless_it_runs_remotely(monkeypatch):
    monkeypatch.setattr(memory, "available_memory", lambda: 2**20)
    with pytest.raises(ValueError, match="num_qubits=17 is too large to simulate here"):
        resolve_form(17)
    assert resolve_form(17, device="fake:FakeManilaV2").num_qubits == 17


def test_the_form_arguments_are_the_networks():
    assert set(FORM_ARGUMENTS) == {"feature_map", "ansatz", "circuit", "input_params", "weight_params",
                                   "num_inputs", "num_weights"}
