"""BatchedAerDevice: Qiskit Aer with one call per training step, exact without shots."""

from functools import partial

import numpy as np
import pennylane as qml
import pytest
import torch

from qnn_torch import EstimatorQNN, RealAmplitudes, TorchConnector
from qnn_torch.devices.aer import BatchedAerDevice


def small_estimator(**kwargs):
    return EstimatorQNN(2, ansatz=partial(RealAmplitudes, reps=1), **kwargs)


def test_aer_runs_a_training_step_in_one_call_with_one_transpilation():
    qnn = small_estimator(device="qiskit.aer")
    model = TorchConnector(qnn, initial_weights=np.zeros(4))
    for _ in range(3):
        x = torch.rand(6, 2, requires_grad=True)
        model(x).sum().backward()
    device = qnn.spec.device
    assert device.jobs == 3 and device.transpilations == 1  # forward and shifted circuits: one call a step
    assert device.circuits_run == 3 * (6 + 6 * 2 * 10)


def test_aer_with_shots_samples():
    qnn = small_estimator(device="qiskit.aer", shots=20_000)
    x = torch.tensor([[0.2, -0.4], [0.7, 0.1]])
    w = np.array([0.3, -0.5, 0.9, 0.1])
    sampled = TorchConnector(qnn, initial_weights=w)(x).detach()
    exact = TorchConnector(small_estimator(), initial_weights=w)(x).detach()
    assert torch.all((sampled - exact).abs() < 5 / np.sqrt(20_000))
    assert not torch.allclose(sampled, exact, atol=1e-9)


@pytest.mark.parametrize("shots, atol", [(None, 1e-9), (200_000, 5 * 0.5 / np.sqrt(200_000) * 2)])
def test_variance_on_the_aer_device(shots, atol):
    """Variances are sampled or computed from the state, not read from the estimator's precision."""
    def circuit(a):
        qml.RY(a, 0)
        qml.RX(0.4, 1)
        return qml.var(qml.Z(0)), qml.var(qml.Z(0) @ qml.Z(1)), qml.expval(qml.Y(1))

    want = qml.QNode(circuit, qml.device("default.qubit", wires=2))(0.7)
    got = qml.QNode(circuit, BatchedAerDevice(wires=2, shots=shots))(0.7)
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), atol=atol)


def test_exact_probabilities_in_pennylane_wire_order_with_one_transpilation():
    """Probabilities without shots come from one statevector run, in PennyLane's wire order, and
    the circuit of a structure is transpiled once whatever its angles."""
    def circuit(a):
        qml.RY(a, 0)
        qml.CNOT([0, 2])
        qml.RX(0.3, 1)
        return qml.probs(wires=[2, 0, 1])

    device = BatchedAerDevice(wires=3)
    for a in (0.2, 1.1):
        want = qml.QNode(circuit, qml.device("default.qubit", wires=3))(a)
        np.testing.assert_allclose(qml.QNode(circuit, device)(a), want, atol=1e-12)
    assert device.transpilations == 1 and device.jobs == 2


def test_samples_need_shots():
    tape = qml.tape.QuantumScript([qml.Hadamard(0)], [qml.sample(wires=[0])])
    with pytest.raises(ValueError, match="qnn_torch.aer without shots gives expectations, variances and "
                                         "probabilities only"):
        BatchedAerDevice(wires=1).execute([tape])
