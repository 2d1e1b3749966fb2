"""qiskit-machine-learning 0.9's own tests of ``SamplerQNN``, ported to qnn_torch.

Source: https://github.com/qiskit-community/qiskit-machine-learning, tag ``0.9.0`` (commit
1470efa8f6065c594ab44d0c8a976e4bee46b5c7, the head of branch ``stable/0.9``), file
``test/neural_networks/test_sampler_qnn.py``, (C) Copyright IBM 2022, 2025, licensed under the
Apache License, Version 2.0 (http://www.apache.org/licenses/LICENSE-2.0). Modified from the
originals as ``tests/qnn/test_qiskit_ml_ported_estimator.py`` describes (bodies written once for
both libraries, the oracle instead of recorded numbers, seeded backends), and besides:

* in ``test_sampler_qnn``, the ``"shots"`` sampler (upstream ``Sampler(default_shots=100)``)
  becomes ``shots=100`` on the qnn_torch side, compared to the exact oracle within 5 standard
  deviations (binomial for the probabilities; for the gradients, a bound from the parameter-shift
  rule, see :func:`tests.qiskit_ml_port.shift_rule_sigma`); ``default.qubit`` is seeded;
* the ``"v2"`` sampler (upstream ``SamplerV2`` of qiskit-ibm-runtime on a ``GenericBackendV2``)
  keeps its transpiled 8-qubit ISA circuit with measurements; both sides simulate it exactly;
* upstream ``test_qnn_qc_circuit_construction`` gives ``pass_manager=`` to the network; here the
  same pass manager is applied to the circuit first, for both libraries (qiskit-machine-learning
  does the same inside; qnn_torch has no ``pass_manager`` argument);
* in ``test_no_parameters``, the network of a circuit without parameters is compared with
  Qiskit's ``Statevector``: qiskit-machine-learning 0.9.1 returns zeros for it (upstream checks
  only the shapes, so it does not notice).

Cases upstream (ddt expansions counted one each), 45, of which 24 are ported:
``test_sampler_qnn`` (36 = sparse x 3 samplers x 3 interprets x 1 batch size x 2
input_gradients; the 18 dense ones), ``test_sampler_qnn_gradient`` (6 = sparse x 3 interprets;
the 3 dense ones), ``test_setters_getters``, ``test_no_parameters``,
``test_qnn_qc_circuit_construction``.

Ported again with the samplers, gradient, ``pass_manager=`` and ``sparse=`` left in (issue 20), the same
objects given to both libraries and qnn_torch's classes as a user imports them: all 36
``test_sampler_qnn`` cases (``QMLSampler()`` and ``QMLSampler(default_shots=100, seed=42)``, both exact
in qiskit-machine-learning 0.9.1: 1e-6; runtime ``SamplerV2`` on the noisy generic backend with an exact
``ParamShiftSamplerGradient``: forward within 5 standard deviations of two 1024-shot estimates,
gradients 1e-6), 12 more with a sampling ``QMLSampler(shots=100, seed=42)``, the 6
``test_sampler_qnn_gradient`` cases, and ``test_qnn_qc_circuit_construction`` with ``sampler=`` and
``pass_manager=`` on the networks. Sparse cases skip without the ``sparse`` package. """

from __future__ import annotations

import numpy as np
import pytest
from qiskit.circuit import Parameter, QuantumCircuit
from qiskit.circuit.library import real_amplitudes, zz_feature_map
from qiskit.providers.fake_provider import GenericBackendV2
from qiskit.quantum_info import Statevector
from qiskit.transpiler.preset_passmanagers import generate_preset_pass_manager
from qiskit_machine_learning.circuit.library import qnn_circuit

from ..qiskit_ml_port import (DEVICES, assert_same, binomial_tolerance, imported, oracle, ours,
                              shift_rule_sigma, theirs)

# qiskit-machine-learning measures a transpiled circuit by adding a register to it
pytestmark = pytest.mark.filterwarnings(
    "ignore:Trying to add QuantumRegister to a QuantumCircuit having a layout")

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


def _h_ry_rx(params) -> QuantumCircuit:
    """Upstream's one-qubit circuit: H, then RY and RX by the two parameters."""
    qc = QuantumCircuit(1)
    qc.h(0)
    qc.ry(params[0], 0)
    qc.rx(params[1], 0)
    return qc


@pytest.mark.parametrize("lib", [ours(device) for device in DEVICES] + [theirs()], ids=lambda lib: lib.name)
def test_sampler_setters_getters(lib):
    """Upstream's ``test_setters_getters`` (SamplerQNN), on both libraries."""
    params = [Parameter("input1"), Parameter("weight1")]
    qc = _h_ry_rx(params)
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
    qc = _h_ry_rx(params)
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


# ================================================================================================
# the same cases with upstream's samplers, gradient, pass manager and sparse= left in (issue 20)
# ================================================================================================

V2_SHOTS = 1024  # BackendSamplerV2's default shots (qiskit-ibm-runtime's local mode)


def upstream_sampler(sampler_type, circuit):
    """Upstream's samplers, made anew per library (``_get_qnn``'s primitives): ``"default"``
    ``QMLSampler()``; ``"shots"`` ``QMLSampler(default_shots=100, seed=42)``, which is exact in
    qiskit-machine-learning 0.9.1 (only ``shots=`` samples); ``"v2"`` qiskit-ibm-runtime's
    ``SamplerV2`` in a ``Session`` on the 8-qubit generic backend (noisy, sampled), with an exact
    ``ParamShiftSamplerGradient`` and the pass manager; and, not upstream, ``"sampled"``
    ``QMLSampler(shots=100, seed=42)``, which samples."""
    from qiskit_ibm_runtime import SamplerV2, Session
    from qiskit_machine_learning.gradients import ParamShiftSamplerGradient
    from qiskit_machine_learning.primitives import QMLSampler

    if sampler_type == "default":
        return {"sampler": QMLSampler()}
    if sampler_type == "shots":
        return {"sampler": QMLSampler(default_shots=SHOTS, seed=42)}
    if sampler_type == "sampled":
        return {"sampler": QMLSampler(shots=SHOTS, seed=42)}
    backend = GenericBackendV2(num_qubits=8, seed=12345)
    pass_manager = generate_preset_pass_manager(optimization_level=1, backend=backend)
    return {"sampler": SamplerV2(mode=Session(backend=backend)),
            "gradient": ParamShiftSamplerGradient(sampler=QMLSampler(), pass_manager=pass_manager)}


def sparse_type(sparse):
    """Upstream's ``array_type``: ``sparse.SparseArray`` for a sparse network, else ``np.ndarray``."""
    if sparse:
        return pytest.importorskip("sparse").SparseArray
    return np.ndarray


def verify_qnn_any(qnn, batch_size, input_data, weights):
    """Upstream's ``_verify_qnn`` with ``sparse=`` either way: shapes and array types."""
    result = qnn.forward(input_data, weights)
    batch_size = 1 if input_data is None else batch_size
    assert isinstance(result, sparse_type(qnn.sparse))
    assert result.shape == (batch_size, *qnn.output_shape)
    input_grad, weights_grad = qnn.backward(input_data, weights)
    if qnn.input_gradients and input_data is not None:
        assert input_grad.shape == (batch_size, *qnn.output_shape, qnn.num_inputs)
        assert isinstance(input_grad, sparse_type(qnn.sparse))
    else:
        assert input_grad is None
    if weights is not None:
        assert weights_grad.shape == (batch_size, *qnn.output_shape, qnn.num_weights)
        assert isinstance(weights_grad, sparse_type(qnn.sparse))
    else:
        assert weights_grad is None
    return result, input_grad, weights_grad


def sampler_qnn_primitives(lib, sparse, sampler_type, interpret_type, input_grads, circuit, input_params,
                           weight_params, batch_size=2):
    """Upstream's ``test_sampler_qnn`` body with its primitives and ``sparse=``."""
    interpret, output_shape = INTERPRETS[interpret_type]
    results = []
    for inputs, weights, grads, takes_inputs, takes_weights in sampler_qnn_networks(
            input_params, weight_params, input_grads):
        qnn = lib.SamplerQNN(circuit=circuit, input_params=inputs, weight_params=weights, sparse=sparse,
                             interpret=interpret, output_shape=output_shape, input_gradients=grads,
                             **upstream_sampler(sampler_type, circuit))
        input_data = np.zeros((batch_size, qnn.num_inputs)) if takes_inputs else None
        weight_values = np.zeros(qnn.num_weights) if takes_weights else None
        results.append(verify_qnn_any(qnn, batch_size, input_data, weight_values))
    return results


SAMPLER_TYPES = ("default", "shots", "sampled", "v2")


def _sampler_params():
    for sparse in [True, False]:
        for sampler_type in SAMPLER_TYPES:
            yield pytest.param(sparse, sampler_type, id=f"sparse={sparse}-{sampler_type}")


@pytest.mark.filterwarnings("ignore:Options .* have no effect in local testing mode")
@pytest.mark.parametrize("input_grads", [True, False])
@pytest.mark.parametrize("interpret_type", [0, 1, 2])
@pytest.mark.parametrize("sparse, sampler_type", list(_sampler_params()))
def test_sampler_qnn_primitives(sparse, sampler_type, interpret_type, input_grads, v2_circuit):
    """Upstream's 36 ``test_sampler_qnn`` cases (and 12 with a sampling ``QMLSampler``), the
    sampler passed to both libraries: exact ones within 1e-6; ``"sampled"`` within 5 standard
    deviations of the difference of two 100-shot estimates (binomial; parameter-shift bound for
    the gradients); ``"v2"`` forward within 5 standard deviations of two 1024-shot estimates of the
    same noisy distribution, its gradients exact."""
    circuit, input_params, weight_params = v2_circuit if sampler_type == "v2" else sampler_setup()
    args = (sparse, sampler_type, interpret_type, input_grads, circuit, input_params, weight_params)
    expected = oracle(sampler_qnn_primitives, *args)
    got = sampler_qnn_primitives(imported(), *args)
    if sampler_type in ("default", "shots"):
        assert_same(got, expected)
        return
    shots = SHOTS if sampler_type == "sampled" else V2_SHOTS
    values = dict.fromkeys(circuit.parameters, 0.0)  # upstream evaluates at zeros
    networks = sampler_qnn_networks(input_params, weight_params, input_grads)
    for (inputs, weights, *_), (result, *grads), (r_result, *r_grads) in zip(networks, got, expected):
        assert_same(result, r_result, atol=lambda p: np.sqrt(2) * binomial_tolerance(shots)(p),
                    where="forward")
        for grad, r_grad, params in zip(grads, r_grads, (inputs, weights)):
            if sampler_type == "v2" or r_grad is None:
                assert_same(grad, r_grad, where="backward")
                continue
            sigma = np.sqrt(2) * shift_rule_sigma(circuit, params, values, shots)
            assert_same(grad, r_grad, atol=lambda _: 5 * sigma, where="backward")


def sampler_qnn_gradient_sparse(lib, sparse, interpret_id, batch_size=2):
    """Upstream's ``test_sampler_qnn_gradient`` with ``sampler=QMLSampler()`` and ``sparse=``:
    backward against central differences of forward, on the arrays as they come."""
    from qiskit_machine_learning.primitives import QMLSampler

    qc, input_params, weight_params = sampler_setup()
    interpret, output_shape = INTERPRETS[interpret_id]
    qnn = lib.SamplerQNN(sampler=QMLSampler(), circuit=qc, input_params=input_params,
                         weight_params=weight_params, sparse=sparse, interpret=interpret,
                         output_shape=output_shape, input_gradients=True)
    input_data, weights = np.ones((batch_size, qnn.num_inputs)), np.ones(qnn.num_weights)
    input_grad, weights_grad = qnn.backward(input_data, weights)
    eps = 1e-2
    for k in range(qnn.num_inputs):
        delta = np.zeros(input_data.shape)
        delta[:, k] = eps
        f_1, f_2 = qnn.forward(input_data + delta, weights), qnn.forward(input_data - delta, weights)
        grad = (f_1 - f_2) / (2 * eps)
        input_grad_ = input_grad.reshape((batch_size, -1, qnn.num_inputs))[:, :, k].reshape(grad.shape)
        # assertAlmostEqual(places=3); float() since sparse 0.19's np.max of a COO is a 0-d COO
        assert round(float(np.max(np.abs(input_grad_ - grad))), 3) == 0.0
    for k in range(qnn.num_weights):
        delta = np.zeros(weights.shape)
        delta[k] = eps
        f_1, f_2 = qnn.forward(input_data, weights + delta), qnn.forward(input_data, weights - delta)
        grad = (f_1 - f_2) / (2 * eps)
        weights_grad_ = weights_grad.reshape((batch_size, -1, qnn.num_weights))[:, :, k].reshape(grad.shape)
        assert round(float(np.max(np.abs(weights_grad_ - grad))), 3) == 0.0
    return input_grad, weights_grad


@pytest.mark.parametrize("interpret_id", [0, 1, 2])
@pytest.mark.parametrize("sparse", [True, False], ids=["sparse", "dense"])
def test_sampler_qnn_gradient_primitives(sparse, interpret_id):
    """Upstream's six ``test_sampler_qnn_gradient`` cases, exact: 1e-6."""
    expected = oracle(sampler_qnn_gradient_sparse, sparse, interpret_id)  # first: it must pass
    assert_same(sampler_qnn_gradient_sparse(imported(), sparse, interpret_id), expected)


def sampler_qnn_qc_pass_manager(lib):
    """Upstream's ``test_qnn_qc_circuit_construction`` as it is: ``sampler=`` and ``pass_manager=``
    given to the networks (the sampler, ``QMLSampler(default_shots=128, seed=123)``, is exact)."""
    from qiskit_machine_learning.primitives import QMLSampler

    num_qubits = 2
    feature_map = zz_feature_map(feature_dimension=num_qubits)
    ansatz = real_amplitudes(num_qubits=num_qubits, reps=1)
    qnn_qc, feature_map_params, ansatz_params = qnn_circuit(num_qubits=num_qubits, feature_map=feature_map,
                                                            ansatz=ansatz)
    qc = QuantumCircuit(num_qubits)
    qc.compose(feature_map, inplace=True)
    qc.compose(ansatz, inplace=True)
    pass_manager = generate_preset_pass_manager(backend=GenericBackendV2(num_qubits=8, seed=12345),
                                                seed_transpiler=12345)
    common_kwargs = dict(sampler=QMLSampler(default_shots=128, seed=123), interpret=interpret_1d,
                         output_shape=2, input_gradients=True, pass_manager=pass_manager)
    sampler_qc = lib.SamplerQNN(circuit=qc, input_params=feature_map.parameters,
                                weight_params=ansatz.parameters, **common_kwargs)
    sampler_qnn_qc = lib.SamplerQNN(circuit=qnn_qc, input_params=feature_map_params,
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


@pytest.mark.parametrize("lib", [imported],
                         ids=["qnn_torch"])
def test_sampler_qnn_qc_circuit_construction_pass_manager(lib):
    expected = oracle(sampler_qnn_qc_pass_manager)  # first: it must pass
    assert_same(sampler_qnn_qc_pass_manager(lib()), expected)
