"""qiskit-machine-learning 0.9's own tests of ``EstimatorQNN`` and ``SamplerQNN``, ported to qnn_torch.

Source: https://github.com/qiskit-community/qiskit-machine-learning, tag ``0.9.0`` (commit
1470efa8f6065c594ab44d0c8a976e4bee46b5c7, the head of branch ``stable/0.9``), files
``test/neural_networks/test_estimator_qnn.py`` and ``test/neural_networks/test_sampler_qnn.py``,
(C) Copyright IBM 2022, 2025, licensed under the Apache License, Version 2.0
(http://www.apache.org/licenses/LICENSE-2.0). Modified from the originals as described here.

How a case is ported: its body (circuits, parameters, inputs, weights, and the assertions that
do not depend on a recorded number) is kept and written once as a function of the imported
classes (:class:`tests.qiskit_ml_port.Library`); it runs with qiskit-machine-learning 0.9 and
its default, exact primitives (the oracle) and with qnn_torch on ``device="default.qubit"``
(the default engine) and on ``device="qiskit.aer"``, both exact; every output and gradient must
agree within 1e-6. What changed besides the imports:

* the primitives (``estimator=``, ``sampler=``, ``gradient=``) are not passed: qnn_torch takes
  ``device=`` instead, and the oracle uses qiskit-machine-learning's default exact primitives;
* recorded reference numbers (``CASE_DATA``'s ``correct_*`` values, the 0.00040017 of
  ``test_binding_order``) are replaced by the oracle;
* random backends are seeded (``GenericBackendV2(num_qubits=8, seed=12345)``) so that the
  transpiled circuits do not change from run to run;
* in ``test_sampler_qnn``, the ``"shots"`` sampler (upstream ``Sampler(default_shots=100)``)
  becomes ``shots=100`` on the qnn_torch side, compared to the exact oracle within 5 standard
  deviations (binomial for the probabilities; for the gradients, a bound from the parameter-shift
  rule, see :func:`tests.qiskit_ml_port.shift_rule_sigma`); ``default.qubit`` is seeded;
* the ``"v2"`` sampler (upstream ``SamplerV2`` of qiskit-ibm-runtime on a ``GenericBackendV2``)
  keeps its transpiled 8-qubit ISA circuit with measurements; both sides simulate it exactly;
* upstream ``test_qnn_qc_circuit_construction`` (SamplerQNN) gives ``pass_manager=`` to the
  network; here the same pass manager is applied to the circuit first, for both libraries
  (qiskit-machine-learning does the same inside; qnn_torch has no ``pass_manager`` argument).
* in ``test_no_parameters`` (SamplerQNN), the network of a circuit without parameters is
  compared with Qiskit's ``Statevector``: qiskit-machine-learning 0.9.1 returns zeros for it
  (upstream checks only the shapes, so it does not notice).

Cases upstream (ddt expansions counted one each) and what is ported:

* ``test_estimator_qnn.py``, 12 cases, all 12 ported: ``test_estimator_qnn_1_1``, ``_2_1``,
  ``_1_2``, ``_2_2``, ``test_no_input_parameters``, ``test_no_weight_parameters``,
  ``test_no_parameters``, ``test_default_observables``, ``test_single_observable``,
  ``test_setters_getters``, ``test_binding_order``, and ``test_qnn_qc_circuit_construction``
  (skipped upstream as "unstable": its two networks were compared through 1000-shot estimates;
  exact here, it is stable).
* ``test_sampler_qnn.py``, 45 cases, 24 ported: ``test_sampler_qnn`` (36 = sparse x 3 samplers x
  3 interprets x 1 batch size x 2 input_gradients; the 18 dense ones), ``test_sampler_qnn_gradient``
  (6 = sparse x 3 interprets; the 3 dense ones), ``test_setters_getters``, ``test_no_parameters``,
  ``test_qnn_qc_circuit_construction``.

Not ported: the 21 cases with ``sparse=True`` (18 of ``test_sampler_qnn``, 3 of
``test_sampler_qnn_gradient``): sparse outputs are out of scope for qnn_torch.
"""

from __future__ import annotations

import numpy as np
import pytest
from qiskit.circuit import Parameter, QuantumCircuit
from qiskit.circuit.library import real_amplitudes, z_feature_map, zz_feature_map
from qiskit.providers.fake_provider import GenericBackendV2
from qiskit.quantum_info import SparsePauliOp, Statevector
from qiskit.transpiler.preset_passmanagers import generate_preset_pass_manager
from qiskit_machine_learning.circuit.library import qnn_circuit

from ..qiskit_ml_port import DEVICES, assert_same, binomial_tolerance, ours, shift_rule_sigma, theirs

# qiskit-machine-learning measures a transpiled circuit by adding a register to it
pytestmark = pytest.mark.filterwarnings("ignore:Trying to add QuantumRegister to a QuantumCircuit having a layout")

# ================================================================================================
# test/neural_networks/test_estimator_qnn.py
# ================================================================================================

# upstream's CASE_DATA without its recorded results: (test_data, weights)
CASE_DATA = {
    "shape_1_1": ([1, [1], [[1], [2]], [[[1], [2]], [[3], [4]]]], [1]),
    "shape_2_1": ([[1, 2], [[1, 2]], [[1, 2], [3, 4]]], [1, 2]),
    "shape_1_2": ([[1], [[1], [2]], [[[1], [2]], [[3], [4]]]], [1]),
    "shape_2_2": ([[1, 2], [[1, 2], [3, 4]]], [1, 2]),
    "no_input_parameters": ([None], [1, 1]),
    "no_weight_parameters": ([[1, 1]], None),
    "no_parameters": ([None], None),
    "default_observables": ([[[1], [2]]], [1]),
    "single_observable": ([1, [1], [[1], [2]], [[[1], [2]], [[3], [4]]]], [1]),
}


@pytest.fixture(scope="module")
def pass_manager():
    """Upstream's: ISA circuits for a seeded 2-qubit generic backend, no optimisation."""
    backend = GenericBackendV2(num_qubits=2, seed=123)
    return generate_preset_pass_manager(backend=backend, optimization_level=0)


def network_passes(qnn, case):
    """Upstream's ``_test_network_passes``: forward, backward without input gradients, backward
    with them; the values it checks, in order."""
    test_data, weights = CASE_DATA[case]
    results = [qnn.forward(inputs, weights) for inputs in test_data]
    for inputs in test_data:
        input_backward, weight_backward = qnn.backward(inputs, weights)
        assert input_backward is None
        results.append(weight_backward)
    qnn.input_gradients = True
    results += [qnn.backward(inputs, weights) for inputs in test_data]
    return results


def _one_qubit(pm, names=("input1", "weight1")):
    params = [Parameter(name) for name in names]
    qc = QuantumCircuit(1)
    qc.h(0)
    qc.ry(params[0], 0)
    qc.rx(params[1], 0)
    return params, pm.run(qc)


def _two_qubits(pm):
    params = [Parameter("input1"), Parameter("input2"), Parameter("weight1"), Parameter("weight2")]
    qc = QuantumCircuit(2)
    qc.h(0)
    qc.ry(params[0], 0)
    qc.ry(params[1], 1)
    qc.rx(params[2], 0)
    qc.rx(params[3], 1)
    return params, pm.run(qc)


def estimator_qnn_1_1(lib, pm):
    params, isa_qc = _one_qubit(pm)
    op = SparsePauliOp.from_list([("Z", 1), ("X", 1)])
    isa_ob = op.apply_layout(isa_qc.layout)
    return lib.EstimatorQNN(circuit=isa_qc, observables=[isa_ob], input_params=[params[0]],
                            weight_params=[params[1]])


def estimator_qnn_2_1(lib, pm):
    params, isa_qc = _two_qubits(pm)
    op = SparsePauliOp.from_list([("ZZ", 1), ("XX", 1)])
    op = op.apply_layout(isa_qc.layout)
    return lib.EstimatorQNN(circuit=isa_qc, observables=[op], input_params=params[:2],
                            weight_params=params[2:])


def estimator_qnn_1_2(lib, pm):
    params, isa_qc = _one_qubit(pm)
    op1 = SparsePauliOp.from_list([("Z", 1), ("X", 1)]).apply_layout(isa_qc.layout)
    op2 = SparsePauliOp.from_list([("Z", 2), ("X", 2)]).apply_layout(isa_qc.layout)
    return lib.EstimatorQNN(circuit=isa_qc, observables=[op1, op2], input_params=[params[0]],
                            weight_params=[params[1]])


def estimator_qnn_2_2(lib, pm):
    params, isa_qc = _two_qubits(pm)
    op1 = SparsePauliOp.from_list([("ZZ", 1)]).apply_layout(isa_qc.layout)
    op2 = SparsePauliOp.from_list([("XX", 1)]).apply_layout(isa_qc.layout)
    return lib.EstimatorQNN(circuit=isa_qc, observables=[op1, op2], input_params=params[:2],
                            weight_params=params[2:])


def no_input_parameters(lib, pm):
    params, isa_qc = _one_qubit(pm, ("weight0", "weight1"))
    op = SparsePauliOp.from_list([("Z", 1), ("X", 1)]).apply_layout(isa_qc.layout)
    return lib.EstimatorQNN(circuit=isa_qc, observables=[op], input_params=None, weight_params=params)


def no_weight_parameters(lib, pm):
    params, isa_qc = _one_qubit(pm, ("input0", "input1"))
    op = SparsePauliOp.from_list([("Z", 1), ("X", 1)]).apply_layout(isa_qc.layout)
    return lib.EstimatorQNN(circuit=isa_qc, observables=[op], input_params=params, weight_params=None)


def no_parameters(lib, pm):
    qc = QuantumCircuit(1)
    qc.h(0)
    isa_qc = pm.run(qc)
    op = SparsePauliOp.from_list([("Z", 1), ("X", 1)]).apply_layout(isa_qc.layout)
    return lib.EstimatorQNN(circuit=isa_qc, observables=[op], input_params=None, weight_params=None)


def default_observables(lib, pm):
    params, isa_qc = _one_qubit(pm)
    return lib.EstimatorQNN(circuit=isa_qc, input_params=[params[0]], weight_params=[params[1]])


def single_observable(lib, pm):
    params, isa_qc = _one_qubit(pm)
    op = SparsePauliOp.from_list([("Z", 1), ("X", 1)]).apply_layout(isa_qc.layout)
    return lib.EstimatorQNN(circuit=isa_qc, observables=op, input_params=[params[0]],
                            weight_params=[params[1]])


# upstream test name -> (network, CASE_DATA entry)
NETWORK_PASSES = {
    "test_estimator_qnn_1_1": (estimator_qnn_1_1, "shape_1_1"),
    "test_estimator_qnn_2_1": (estimator_qnn_2_1, "shape_2_1"),
    "test_estimator_qnn_1_2": (estimator_qnn_1_2, "shape_1_2"),
    "test_estimator_qnn_2_2": (estimator_qnn_2_2, "shape_2_2"),
    "test_no_input_parameters": (no_input_parameters, "no_input_parameters"),
    "test_no_weight_parameters": (no_weight_parameters, "no_weight_parameters"),
    "test_no_parameters": (no_parameters, "no_parameters"),
    "test_default_observables": (default_observables, "default_observables"),
    "test_single_observable": (single_observable, "single_observable"),
}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", list(NETWORK_PASSES))
def test_estimator_network_passes(case, device, pass_manager):
    build, data = NETWORK_PASSES[case]
    expected = network_passes(build(theirs(), pass_manager), data)
    assert_same(network_passes(build(ours(device), pass_manager), data), expected)


@pytest.mark.parametrize("lib", [ours(device) for device in DEVICES] + [theirs()], ids=lambda lib: lib.name)
def test_estimator_setters_getters(lib, pass_manager):
    """Upstream's ``test_setters_getters``, on both libraries."""
    params, isa_qc = _one_qubit(pass_manager)
    op = SparsePauliOp.from_list([("Z", 1), ("X", 1)]).apply_layout(isa_qc.layout)
    estimator_qnn = lib.EstimatorQNN(circuit=isa_qc, observables=[op], input_params=[params[0]],
                                     weight_params=[params[1]])
    assert estimator_qnn.circuit == isa_qc
    assert estimator_qnn.observables == [op]
    assert estimator_qnn.input_params == [params[0]]
    assert estimator_qnn.weight_params == [params[1]]
    assert not estimator_qnn.input_gradients
    estimator_qnn.input_gradients = True
    assert estimator_qnn.input_gradients


def qnn_qc_circuit_construction(lib, pm):
    """Upstream's ``test_qnn_qc_circuit_construction`` (EstimatorQNN): a composed circuit and
    ``qnn_circuit``'s give the same network."""
    num_qubits = 2
    feature_map = zz_feature_map(feature_dimension=num_qubits)
    ansatz = real_amplitudes(num_qubits=num_qubits, reps=1)
    qc = QuantumCircuit(num_qubits)
    qc.compose(feature_map, inplace=True)
    qc.compose(ansatz, inplace=True)
    isa_qc = pm.run(qc)
    estimator_qc = lib.EstimatorQNN(circuit=isa_qc, input_params=feature_map.parameters,
                                    weight_params=ansatz.parameters, input_gradients=True)
    qnn_qc, feature_map_params, ansatz_params = qnn_circuit(num_qubits=num_qubits, feature_map=feature_map,
                                                           ansatz=ansatz)
    isa_qnn_qc = pm.run(qnn_qc)
    estimator_qnn_qc = lib.EstimatorQNN(circuit=isa_qnn_qc, input_params=feature_map_params,
                                        weight_params=ansatz_params, input_gradients=True)
    input_data, weights = [1, 2], [1, 2, 3, 4]
    assert estimator_qnn_qc.input_params == estimator_qc.input_params
    assert estimator_qnn_qc.weight_params == estimator_qc.weight_params
    assert estimator_qnn_qc.observables == estimator_qc.observables
    forward_qc = estimator_qc.forward(input_data=input_data, weights=weights)
    forward_qnn_qc = estimator_qnn_qc.forward(input_data=input_data, weights=weights)
    backward_qc = estimator_qc.backward(input_data=input_data, weights=weights)
    backward_qnn_qc = estimator_qnn_qc.backward(input_data=input_data, weights=weights)
    assert_same(forward_qnn_qc, forward_qc)  # upstream: within its 1000-shot tolerance
    assert_same(backward_qnn_qc, backward_qc)
    return forward_qc, backward_qc


def binding_order(lib, pm):
    """Upstream's ``test_binding_order``: inputs bind to input_params and weights to
    weight_params whatever their order in the circuit."""
    qc = z_feature_map(feature_dimension=2, reps=1)
    input_params = qc.parameters
    weight = Parameter("weight")
    for i in range(qc.num_qubits):
        qc.rx(weight, i)
    isa_qc = pm.run(qc)
    op = SparsePauliOp.from_list([("Z" * isa_qc.num_qubits, 1)]).apply_layout(isa_qc.layout)
    estimator_qnn = lib.EstimatorQNN(circuit=isa_qc, observables=op, input_params=input_params,
                                     weight_params=[weight])
    return estimator_qnn.forward([2, 33], [3])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", [qnn_qc_circuit_construction, binding_order],
                         ids=lambda f: f"test_{f.__name__}")
def test_estimator_case(case, device, pass_manager):
    assert_same(case(ours(device), pass_manager), case(theirs(), pass_manager))


# ================================================================================================
# test/neural_networks/test_sampler_qnn.py
# ================================================================================================

SHOTS = 100  # upstream's Sampler(default_shots=100, seed=42)


def interpret_1d(x):
    return sum((s == "1" for s in f"{x:0b}")) % 2


def interpret_2d(x):
    return np.array([interpret_1d(x), 2 * interpret_1d(x)])


# upstream's interpret ids 0, 1, 2: (interpret, output_shape)
INTERPRETS = {0: (None, None), 1: (interpret_1d, 2), 2: (interpret_2d, (2, 3))}


def sampler_setup():
    """Upstream's ``setUp``: a 2-qubit ZZ feature map and RealAmplitudes, measured."""
    num_qubits = 2
    feature_map = zz_feature_map(num_qubits, reps=1)
    var_form = real_amplitudes(num_qubits, reps=1)
    qc = QuantumCircuit(num_qubits)
    qc.append(feature_map, range(2))
    qc.append(var_form, range(2))
    qc.measure_all()
    return qc, list(feature_map.parameters), list(var_form.parameters)


@pytest.fixture(scope="module")
def v2_circuit():
    """Upstream's circuit for its ``"v2"`` sampler: transpiled for an 8-qubit generic backend."""
    qc, input_params, weight_params = sampler_setup()
    backend = GenericBackendV2(num_qubits=8, seed=12345)
    pm = generate_preset_pass_manager(optimization_level=1, backend=backend)
    return pm.run(qc), input_params, weight_params


def get_qnn(lib, qc, interpret_id, input_params, weight_params, input_grads):
    """Upstream's ``_get_qnn`` without the primitives."""
    interpret, output_shape = INTERPRETS[interpret_id]
    return lib.SamplerQNN(circuit=qc, input_params=input_params, weight_params=weight_params,
                          interpret=interpret, output_shape=output_shape, input_gradients=input_grads)


def verify_qnn(qnn, batch_size, input_data, weights):
    """Upstream's ``_verify_qnn`` (dense arrays): the shapes it checks; returns the values."""
    result = qnn.forward(input_data, weights)
    if input_data is None:
        batch_size = 1
    assert isinstance(result, np.ndarray)
    assert result.shape == (batch_size, *qnn.output_shape)
    input_grad, weights_grad = qnn.backward(input_data, weights)
    if qnn.input_gradients and input_data is not None:
        assert isinstance(input_grad, np.ndarray)
        assert input_grad.shape == (batch_size, *qnn.output_shape, qnn.num_inputs)
    else:
        assert input_grad is None
    if weights is not None:
        assert isinstance(weights_grad, np.ndarray)
        assert weights_grad.shape == (batch_size, *qnn.output_shape, qnn.num_weights)
    else:
        assert weights_grad is None
    return result, input_grad, weights_grad


def sampler_qnn_networks(input_params, weight_params, input_grads):
    """The three networks of upstream's ``test_sampler_qnn``: (input_params, weight_params,
    input_gradients, whether it takes inputs, whether it takes weights)."""
    return [
        (input_params, weight_params, True, True, True),  # upstream passes True here, not input_grads
        (None, weight_params + input_params, input_grads, False, True),
        (weight_params + input_params, None, input_grads, True, False),
    ]


def sampler_qnn(lib, circuit, input_params, weight_params, interpret_type, batch_size, input_grads):
    """Upstream's ``test_sampler_qnn`` body: its three networks, verified."""
    results = []
    for inputs, weights, grads, takes_inputs, takes_weights in sampler_qnn_networks(
            input_params, weight_params, input_grads):
        qnn = get_qnn(lib, circuit, interpret_type, inputs, weights, grads)
        input_data = np.zeros((batch_size, qnn.num_inputs)) if takes_inputs else None
        weight_values = np.zeros(qnn.num_weights) if takes_weights else None
        results.append(verify_qnn(qnn, batch_size, input_data, weight_values))
    return results


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("input_grads", [True, False])
@pytest.mark.parametrize("interpret_type", [0, 1, 2])
@pytest.mark.parametrize("sampler_type", ["default", "shots", "v2"])
def test_sampler_qnn(sampler_type, interpret_type, input_grads, device, v2_circuit):
    batch_size = 2  # upstream's BATCH_SIZES
    circuit, input_params, weight_params = v2_circuit if sampler_type == "v2" else sampler_setup()
    expected = sampler_qnn(theirs(), circuit, input_params, weight_params, interpret_type, batch_size,
                           input_grads)
    if sampler_type != "shots":
        lib = ours(device)
        assert_same(sampler_qnn(lib, circuit, input_params, weight_params, interpret_type, batch_size,
                                input_grads), expected)
        return
    lib = ours(device, shots=SHOTS, **({"seed": 42} if device == "default.qubit" else {}))
    got = sampler_qnn(lib, circuit, input_params, weight_params, interpret_type, batch_size, input_grads)
    values = dict.fromkeys(circuit.parameters, 0.0)  # upstream evaluates at zeros
    networks = sampler_qnn_networks(input_params, weight_params, input_grads)
    for (inputs, weights, *_), (result, *grads), (r_result, *r_grads) in zip(networks, got, expected):
        assert_same(result, r_result, atol=binomial_tolerance(SHOTS), where="forward")
        for grad, r_grad, params in zip(grads, r_grads, (inputs, weights)):
            sigma = None if r_grad is None else shift_rule_sigma(circuit, params, values, SHOTS)
            assert_same(grad, r_grad, atol=lambda _: 5 * sigma, where="backward")


def sampler_qnn_gradient(lib, interpret_id, batch_size=2):
    """Upstream's ``test_sampler_qnn_gradient``: backward against central differences of forward."""
    qc, input_params, weight_params = sampler_setup()
    qnn = get_qnn(lib, qc, interpret_id, input_params, weight_params, True)
    input_data = np.ones((batch_size, qnn.num_inputs))
    weights = np.ones(qnn.num_weights)
    input_grad, weights_grad = qnn.backward(input_data, weights)
    eps = 1e-2
    for k in range(qnn.num_inputs):
        delta = np.zeros(input_data.shape)
        delta[:, k] = eps
        f_1, f_2 = qnn.forward(input_data + delta, weights), qnn.forward(input_data - delta, weights)
        grad = (f_1 - f_2) / (2 * eps)
        input_grad_ = input_grad.reshape((batch_size, -1, qnn.num_inputs))[:, :, k].reshape(grad.shape)
        assert round(float(np.max(np.abs(input_grad_ - grad))), 3) == 0.0  # assertAlmostEqual(places=3)
    for k in range(qnn.num_weights):
        delta = np.zeros(weights.shape)
        delta[k] = eps
        f_1, f_2 = qnn.forward(input_data, weights + delta), qnn.forward(input_data, weights - delta)
        grad = (f_1 - f_2) / (2 * eps)
        weights_grad_ = weights_grad.reshape((batch_size, -1, qnn.num_weights))[:, :, k].reshape(grad.shape)
        assert round(float(np.max(np.abs(weights_grad_ - grad))), 3) == 0.0
    return input_grad, weights_grad


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("interpret_id", [0, 1, 2])
def test_sampler_qnn_gradient(interpret_id, device):
    assert_same(sampler_qnn_gradient(ours(device), interpret_id),
                sampler_qnn_gradient(theirs(), interpret_id))


@pytest.mark.parametrize("lib", [ours(device) for device in DEVICES] + [theirs()], ids=lambda lib: lib.name)
def test_sampler_setters_getters(lib):
    """Upstream's ``test_setters_getters`` (SamplerQNN), on both libraries."""
    params = [Parameter("input1"), Parameter("weight1")]
    qc = QuantumCircuit(1)
    qc.h(0)
    qc.ry(params[0], 0)
    qc.rx(params[1], 0)
    qc.measure_all()
    sampler_qnn = lib.SamplerQNN(circuit=qc, input_params=[params[0]], weight_params=[params[1]])
    assert sampler_qnn.input_params == [params[0]]
    assert sampler_qnn.weight_params == [params[1]]
    assert not sampler_qnn.input_gradients
    sampler_qnn.input_gradients = True
    assert sampler_qnn.input_gradients


def sampler_no_parameters(lib):
    """Upstream's ``test_no_parameters`` (SamplerQNN): no inputs, no weights, no parameters."""
    params = [Parameter("p0"), Parameter("p1")]
    qc = QuantumCircuit(1)
    qc.h(0)
    qc.ry(params[0], 0)
    qc.rx(params[1], 0)
    results = []
    sampler_qnn = lib.SamplerQNN(circuit=qc, weight_params=params)  # no inputs
    results.append(verify_qnn(sampler_qnn, 1, input_data=None, weights=[1.0, 2.0]))
    sampler_qnn.input_gradients = True
    results.append(verify_qnn(sampler_qnn, 1, input_data=None, weights=[1.0, 2.0]))
    sampler_qnn = lib.SamplerQNN(circuit=qc, input_params=params)  # no weights
    results.append(verify_qnn(sampler_qnn, 1, input_data=[1.0, 2.0], weights=None))
    sampler_qnn.input_gradients = True
    results.append(verify_qnn(sampler_qnn, 1, input_data=[1.0, 2.0], weights=None))
    qc = qc.assign_parameters([1.0, 2.0])  # no parameters
    sampler_qnn = lib.SamplerQNN(circuit=qc)
    results.append(verify_qnn(sampler_qnn, 1, input_data=None, weights=None))
    sampler_qnn.input_gradients = True
    results.append(verify_qnn(sampler_qnn, 1, input_data=None, weights=None))
    return results


def sampler_qnn_qc_circuit_construction(lib):
    """Upstream's ``test_qnn_qc_circuit_construction`` (SamplerQNN), the pass manager applied first."""
    num_qubits = 2
    feature_map = zz_feature_map(feature_dimension=num_qubits)
    ansatz = real_amplitudes(num_qubits=num_qubits, reps=1)

    def parity(x):
        return f"{bin(x)}".count("1") % 2

    qnn_qc, feature_map_params, ansatz_params = qnn_circuit(num_qubits=num_qubits, feature_map=feature_map,
                                                           ansatz=ansatz)
    qc = QuantumCircuit(num_qubits)
    qc.compose(feature_map, inplace=True)
    qc.compose(ansatz, inplace=True)
    pass_manager = generate_preset_pass_manager(backend=GenericBackendV2(num_qubits=8, seed=12345),
                                                seed_transpiler=12345)
    common_kwargs = dict(interpret=parity, output_shape=2, input_gradients=True)
    sampler_qc = lib.SamplerQNN(circuit=pass_manager.run(qc), input_params=feature_map.parameters,
                                weight_params=ansatz.parameters, **common_kwargs)
    sampler_qnn_qc = lib.SamplerQNN(circuit=pass_manager.run(qnn_qc), input_params=feature_map_params,
                                    weight_params=ansatz_params, **common_kwargs)
    input_data, weights = [1.0, 2.0], [1, 2, 3, 4]
    assert sampler_qnn_qc.input_params == sampler_qc.input_params
    assert sampler_qnn_qc.weight_params == sampler_qc.weight_params
    forward_qc = sampler_qc.forward(input_data=input_data, weights=weights)
    forward_qnn_qc = sampler_qnn_qc.forward(input_data=input_data, weights=weights)
    np.testing.assert_array_almost_equal(forward_qc, forward_qnn_qc)
    backward_qc = sampler_qc.backward(input_data=input_data, weights=weights)
    backward_qnn_qc = sampler_qnn_qc.backward(input_data=input_data, weights=weights)
    np.testing.assert_array_almost_equal(backward_qc[0], backward_qnn_qc[0])
    np.testing.assert_array_almost_equal(backward_qc[1], backward_qnn_qc[1])
    return forward_qc, forward_qnn_qc, backward_qc, backward_qnn_qc


@pytest.mark.parametrize("device", DEVICES)
def test_sampler_no_parameters(device):
    got, expected = sampler_no_parameters(ours(device)), sampler_no_parameters(theirs())
    assert_same(got[:4], expected[:4])
    # a circuit without parameters: qiskit-machine-learning 0.9.1 gives zeros (its sampler's
    # result for an empty parameter array is read as no counts), so Qiskit's Statevector is the
    # oracle of this network
    qc = QuantumCircuit(1)
    qc.h(0)
    qc.ry(1.0, 0)
    qc.rx(2.0, 0)
    probabilities = Statevector(qc).probabilities().reshape(1, 2)
    assert_same(got[4:], [(probabilities, None, None)] * 2)


@pytest.mark.parametrize("device", DEVICES)
def test_sampler_qnn_qc_circuit_construction(device):
    assert_same(sampler_qnn_qc_circuit_construction(ours(device)),
                sampler_qnn_qc_circuit_construction(theirs()))
