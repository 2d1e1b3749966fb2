"""SamplerQNN on Qiskit circuits: its outcomes are the values of the circuit's classical bits.

The oracle is exact and independent of the converter: Qiskit's ``Statevector`` gives the
probability of every basis state, and Qiskit's ``StatevectorSampler`` runs the circuit's own
measurements on each basis state (one shot, deterministic) to say which outcome that state reports.
qiskit-machine-learning 0.9.1 is not the oracle here: its default sampler renumbers the measured
classical bits, and it drops outcomes at or above ``2**num_qubits`` even with ``interpret``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister
from qiskit.circuit import ParameterVector
from qiskit.primitives import StatevectorSampler
from qiskit.quantum_info import Statevector

from qnn_torch import SamplerQNN, parity

ATOL = 1e-10
ENGINES = [{"engine": "adjoint"}, {"engine": "torch-adjoint"}, {"engine": "compiled"}, {"engine": "qnode"},
           {"device": "qiskit.aer"}]
ENGINE_IDS = ["adjoint", "torch-adjoint", "compiled", "qnode", "qiskit.aer"]
SEEDS = range(8)


def random_measured_circuit(seed: int):
    """A parametrised circuit of 1-3 qubits measured into 1-3 classical registers: bits measured in
    a random order, some twice (the last measurement counts), some never, often more bits than
    qubits."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 4))
    total = int(rng.integers(1, n + 3))
    registers = min(int(rng.integers(0, 3)), total - 1)
    cuts = sorted(rng.choice(np.arange(1, total), size=registers, replace=False))
    sizes = np.diff([0, *cuts, total])
    x, w = ParameterVector("x", n), ParameterVector("w", 2 * n)
    clbits = [ClassicalRegister(int(size), f"c{i}") for i, size in enumerate(sizes)]
    qc = QuantumCircuit(QuantumRegister(n, "q"), *clbits)
    for q in range(n):
        qc.ry(x[q], q)
        qc.rx(w[q], q)
    for q in range(n - 1):
        qc.cx(q, q + 1)
    for q in range(n):
        qc.ry(w[n + q], q)
    measurements = [(int(rng.integers(n)), bit) for bit in range(total) if rng.random() < 0.8]
    measurements += [(int(rng.integers(n)), int(rng.integers(total))) for _ in range(int(rng.integers(0, 3)))]
    for index in rng.permutation(len(measurements)):
        qc.measure(*measurements[index])
    return qc, list(x), list(w)


def reported_outcomes(qc) -> np.ndarray:
    """The outcome (value of all classical bits) that each basis state reports, by Qiskit's own sampler."""
    measured = QuantumCircuit(*qc.qregs, *qc.cregs)
    for item in qc.data:
        if item.operation.name == "measure":
            measured.append(item)
    pubs = []
    for state in range(2**qc.num_qubits):
        prepared = QuantumCircuit(*qc.qregs, *qc.cregs)
        for q in range(qc.num_qubits):
            if state >> q & 1:
                prepared.x(q)
        pubs.append(prepared.compose(measured))
    results = StatevectorSampler().run(pubs, shots=1).result()
    return np.array([next(iter(r.join_data().get_int_counts())) for r in results])


def exact_distribution(qc, x_params, w_params, inputs, weights) -> np.ndarray:
    """``(batch, 2**num_clbits)``: the probability of every outcome of the classical bits."""
    outcomes = reported_outcomes(qc)
    gates = qc.remove_final_measurements(inplace=False)
    rows = []
    for row in np.atleast_2d(inputs):
        bound = gates.assign_parameters({**dict(zip(x_params, row)), **dict(zip(w_params, weights))})
        rows.append(np.bincount(outcomes, Statevector(bound).probabilities(), minlength=2**qc.num_clbits))
    return np.array(rows)


def identity(outcome: int) -> int:
    return outcome


def sampler(qc, x, w, **kwargs) -> SamplerQNN:
    return SamplerQNN(circuit=qc, input_params=x, weight_params=w, **kwargs)


@pytest.mark.parametrize("options", ENGINES, ids=ENGINE_IDS)
@pytest.mark.parametrize("seed", SEEDS)
def test_random_measured_circuits_give_the_exact_distribution(seed, options, rng):
    """``output_shape=2**num_clbits`` with an identity ``interpret`` (qiskit-machine-learning's
    documented way) gives every outcome: rows sum to 1 and equal the exact distribution, gradients
    included. Without ``interpret`` the output keeps qiskit-machine-learning's ``2**num_qubits``
    outcomes, warns exactly when outcomes can fall outside it, and equals the exact distribution there."""
    qc, x, w = random_measured_circuit(seed)
    n, bits = qc.num_qubits, qc.num_clbits
    inputs, weights = rng.uniform(-np.pi, np.pi, (3, n)), rng.uniform(-np.pi, np.pi, 2 * n)
    expected = exact_distribution(qc, x, w, inputs, weights)

    full = sampler(qc, x, w, interpret=identity, output_shape=2**bits, **options)
    out = full.forward(inputs, weights)
    np.testing.assert_allclose(out, expected, atol=ATOL)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, atol=ATOL)
    step = 1e-6
    shifted = [exact_distribution(qc, x, w, inputs, weights + step * e) for e in np.eye(2 * n)]
    unshifted = [exact_distribution(qc, x, w, inputs, weights - step * e) for e in np.eye(2 * n)]
    finite_differences = np.stack([(a - b) / (2 * step) for a, b in zip(shifted, unshifted)], axis=-1)
    np.testing.assert_allclose(full.backward(inputs, weights)[1], finite_differences, atol=1e-6)

    lost = bool(expected[:, 2**n:].any()) or reported_outcomes(qc).max() >= 2**n
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        default = sampler(qc, x, w, **options)
    messages = [str(c.message) for c in caught if "classical bits" in str(c.message)]
    assert len(messages) == int(lost), messages
    if lost:
        assert f"interpret=lambda b: b, output_shape=2**{bits}" in messages[0]
    out = default.forward(inputs, weights)
    assert default.output_shape == (2**n,)
    padded = np.pad(expected, ((0, 0), (0, max(2**n - 2**bits, 0))))  # fewer bits than qubits: padded
    np.testing.assert_allclose(out, padded[:, :2**n], atol=ATOL)
    if not lost:
        np.testing.assert_allclose(out.sum(axis=1), 1.0, atol=ATOL)


def test_the_seeds_cover_the_cases():
    """The random circuits include more bits than qubits with outcomes lost by default, several
    registers, repeated and unmeasured bits."""
    circuits = [random_measured_circuit(seed)[0] for seed in SEEDS]
    assert any(reported_outcomes(qc).max() >= 2**qc.num_qubits for qc in circuits)
    assert any(len(qc.cregs) > 1 for qc in circuits)
    assert any(qc.num_clbits > qc.num_qubits for qc in circuits)
    measures = [[tuple(qc.find_bit(c).index for c in item.clbits) for item in qc.data
                 if item.operation.name == "measure"] for qc in circuits]
    assert any(len(set(m)) < len(m) for m in measures)  # a bit measured twice
    assert any(len(set(m)) < qc.num_clbits for m, qc in zip(measures, circuits))  # a bit never measured


def three_bits_on_two_qubits():
    """Two qubits, bits (a0, a1, b0): qubit 0 into b0 (bit 2), qubit 1 into a0 (bit 0)."""
    x, w = ParameterVector("x", 2), ParameterVector("w", 2)
    qc = QuantumCircuit(QuantumRegister(2, "q"), ClassicalRegister(2, "a"), ClassicalRegister(1, "b"))
    qc.ry(x[0], 0)
    qc.ry(x[1], 1)
    qc.cx(0, 1)
    qc.ry(w[0], 0)
    qc.rx(w[1], 1)
    qc.measure(0, 2)
    qc.measure(1, 0)
    return qc, list(x), list(w)


def test_an_interpret_counts_every_outcome(rng):
    """``interpret`` sees every outcome the bits can read, also those at or above ``2**num_qubits``
    (qiskit-machine-learning's forward pass drops them, its gradients do not)."""
    qc, x, w = three_bits_on_two_qubits()
    inputs, weights = rng.uniform(-1, 1, (4, 2)), rng.uniform(-1, 1, 2)
    expected = exact_distribution(qc, x, w, inputs, weights)
    qnn = sampler(qc, x, w, interpret=parity, output_shape=2)
    odd = np.array([parity(k) for k in range(8)], dtype=bool)
    by_parity = np.stack([expected[:, ~odd].sum(axis=1), expected[:, odd].sum(axis=1)], axis=1)
    np.testing.assert_allclose(qnn.forward(inputs, weights), by_parity, atol=ATOL)


def test_an_interpret_that_cannot_place_an_outcome_says_how(rng):
    qc, x, w = three_bits_on_two_qubits()
    with pytest.raises(ValueError, match=r"interpret\(4\) returned 4.*3 classical bits read outcomes up to "
                                         r"5.*output_shape=2\*\*3"):
        sampler(qc, x, w, interpret=identity, output_shape=4)
    table = [0, 1, 1, 0]
    with pytest.raises(IndexError) as info:
        sampler(qc, x, w, interpret=table.__getitem__, output_shape=2)
    assert any("3 classical bits read outcomes up to 5" in note for note in info.value.__notes__)


def test_a_default_output_that_loses_outcomes_warns_and_says_how(rng):
    qc, x, w = three_bits_on_two_qubits()
    with pytest.warns(UserWarning, match=r"SamplerQNN: the circuit's 3 classical bits read outcomes up to "
                                         r"5, but without interpret the output holds the 4 outcomes below "
                                         r"2\*\*2"):
        qnn = sampler(qc, x, w)
    inputs, weights = rng.uniform(-1, 1, (2, 2)), rng.uniform(-1, 1, 2)
    assert (qnn.forward(inputs, weights).sum(axis=1) < 1 - 1e-3).all()  # as in qiskit-machine-learning


def test_sampled_backend_gives_every_outcome_within_shot_noise(rng):
    """On a (noiseless) Qiskit backend with shots the full distribution sums to 1 and each outcome is
    within 5 standard deviations of its exact probability."""
    from qiskit.providers.fake_provider import GenericBackendV2

    qc, x, w = three_bits_on_two_qubits()
    shots = 4000
    backend = GenericBackendV2(2, noise_info=False, seed=3)
    qnn = sampler(qc, x, w, interpret=identity, output_shape=8, device=backend, shots=shots,
                  device_options={"simulator": {"seed_simulator": 7}})
    inputs, weights = rng.uniform(-1, 1, (2, 2)), rng.uniform(-1, 1, 2)
    expected = exact_distribution(qc, x, w, inputs, weights)
    out = qnn.forward(inputs, weights)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, atol=1e-12)
    sigma = np.sqrt(expected * (1 - expected) / shots)
    assert (np.abs(out - expected) <= 5 * sigma + 1e-12).all(), (out, expected)
    assert expected[:, 4:].sum() > 0.1  # outcomes above 2**num_qubits carry real probability here


# ---------------------------------------------------------------- set_interpret, output_shape alone
# circuits without measurements, where qiskit-machine-learning 0.9.1 is the oracle


def _zz_ra_pair(**kwargs):
    from qiskit_machine_learning.neural_networks import SamplerQNN as QkSamplerQNN

    from .. import qiskit_reference as ref

    qc, inputs, weights = ref.zz_ra_circuit(2, fm_reps=1, ra_reps=1)
    common = dict(circuit=qc, input_params=inputs, weight_params=weights, input_gradients=True, **kwargs)
    return SamplerQNN(**common), QkSamplerQNN(**common)


def interpret_3(x):
    return x % 3


@pytest.mark.parametrize("first, then", [((None, None), (parity, 2)), ((parity, 2), (interpret_3, 3)),
                                         ((parity, 2), (None, None))])
def test_set_interpret_as_qiskit_machine_learning(first, then, rng):
    from qnn_torch import TorchConnector

    ours, theirs = _zz_ra_pair(interpret=first[0], output_shape=first[1])
    model = TorchConnector(ours, initial_weights=np.zeros(4))
    model(np.zeros((1, 2), dtype=np.float32))  # engines built for the first head
    ours.set_interpret(*then)
    theirs.set_interpret(*then)
    assert ours.output_shape == theirs.output_shape and ours.interpret is then[0]
    x, w = rng.uniform(-1, 1, (3, 2)), rng.uniform(-1, 1, 4)
    np.testing.assert_allclose(ours.forward(x, w), theirs.forward(x, w), atol=1e-6)
    for mine, oracle in zip(ours.backward(x, w), theirs.backward(x, w)):
        np.testing.assert_allclose(mine, oracle, atol=1e-6)
    model.weight.data = torch.as_tensor(w, dtype=torch.float32)
    assert model(torch.as_tensor(x, dtype=torch.float32)).shape == (3, *theirs.output_shape)


def test_set_interpret_keeps_device_and_budget():
    qnn = SamplerQNN(2, engine="qnode", memory_budget=10**8)
    spec = qnn.spec
    qnn.set_interpret(parity, 2)
    assert qnn.spec is spec and qnn.memory_budget == 10**8 and qnn.engine == "qnode"
    assert qnn.forward([0.1, 0.2], np.zeros(8)).shape == (1, 2)


def test_set_interpret_without_output_shape_changes_nothing():
    from qnn_torch import QiskitMachineLearningError

    qnn = SamplerQNN(2)
    with pytest.raises(QiskitMachineLearningError, match="output_shape is required with interpret"):
        qnn.set_interpret(parity)
    assert qnn.output_shape == (4,) and qnn.interpret is None


def test_output_shape_without_interpret_is_ignored_with_a_warning(rng):
    with pytest.warns(UserWarning, match="output_shape=3 is ignored without interpret: the output is the 4"):
        ours, theirs = _zz_ra_pair(output_shape=3)  # qiskit-machine-learning logs a warning
    assert ours.output_shape == theirs.output_shape == (4,)
    x, w = rng.uniform(-1, 1, (2, 2)), rng.uniform(-1, 1, 4)
    np.testing.assert_allclose(ours.forward(x, w), theirs.forward(x, w), atol=1e-6)
