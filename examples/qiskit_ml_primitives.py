"""A qiskit-machine-learning 0.9 script that chooses where to run by passing primitives: an Aer
estimator (local simulation) and an IBM Runtime estimator on a fake backend (a noisy local copy of
an IBM device; ``mode=`` a real backend, ``Session`` or ``Batch`` runs on IBM hardware). It runs
with qnn_torch by changing its imports only:

.. code-block:: python

    # qiskit-machine-learning 0.9
    from qiskit_machine_learning.connectors import TorchConnector
    from qiskit_machine_learning.neural_networks import EstimatorQNN
    # qnn_torch
    from qnn_torch import EstimatorQNN, TorchConnector

.. code-block:: bash

    python examples/qiskit_ml_primitives.py                        # qnn_torch
    python examples/qiskit_ml_primitives.py --library qiskit-ml    # the same script on qiskit-ml

Everything below ``main``'s import lines is the qiskit-machine-learning script as its users write it:
an ISA circuit and observable for the backend, ``estimator=``, ``gradient=`` and
``pass_manager=`` on the network, two Adam steps of a ``TorchConnector``.
"""

from __future__ import annotations

import argparse

import torch
from qiskit import QuantumCircuit
from qiskit.circuit import ParameterVector
from qiskit.quantum_info import SparsePauliOp
from qiskit.transpiler.preset_passmanagers import generate_preset_pass_manager
from qiskit_aer.primitives import EstimatorV2 as AerEstimator
from qiskit_ibm_runtime import EstimatorV2 as RuntimeEstimator
from qiskit_ibm_runtime.fake_provider import FakeManilaV2
from qiskit_machine_learning.gradients import ParamShiftEstimatorGradient


def circuit() -> tuple[QuantumCircuit, ParameterVector, ParameterVector]:
    """Two qubits: angle-encoded inputs, one entangling layer, trainable RY rotations."""
    x, theta = ParameterVector("x", 2), ParameterVector("theta", 2)
    qc = QuantumCircuit(2)
    for q in range(2):
        qc.ry(x[q], q)
    qc.cx(0, 1)
    for q in range(2):
        qc.ry(theta[q], q)
    return qc, x, theta


def train(EstimatorQNN, TorchConnector, estimator, backend=None, steps: int = 2) -> list[float]:
    """Builds the network for ``estimator`` (an ISA circuit when there is a backend) and trains it."""
    qc, x, theta = circuit()
    observable = SparsePauliOp("ZZ")
    pass_manager = None
    if backend is not None:
        pass_manager = generate_preset_pass_manager(backend=backend, optimization_level=1, seed_transpiler=7)
        qc = pass_manager.run(qc)
        observable = observable.apply_layout(qc.layout)
    qnn = EstimatorQNN(circuit=qc, estimator=estimator, observables=observable, input_params=list(x),
                       weight_params=list(theta), pass_manager=pass_manager,
                       gradient=ParamShiftEstimatorGradient(estimator, pass_manager=pass_manager))
    torch.manual_seed(7)
    model = TorchConnector(qnn, initial_weights=[0.1, -0.2])
    data, target = torch.rand(4, 2) * 3.14, torch.tensor([[1.0], [-1.0], [1.0], [-1.0]])
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(data), target)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A qiskit-ml script with primitives passed in")
    parser.add_argument("--library", choices=["qnn_torch", "qiskit-ml"], default="qnn_torch")
    args = parser.parse_args(argv)
    if args.library == "qiskit-ml":
        from qiskit_machine_learning.connectors import TorchConnector
        from qiskit_machine_learning.neural_networks import EstimatorQNN
    else:
        from qnn_torch import EstimatorQNN, TorchConnector

    aer = AerEstimator(options={"default_precision": 0.01, "run_options": {"seed": 7}})
    print("Aer EstimatorV2, losses:", train(EstimatorQNN, TorchConnector, aer))
    backend = FakeManilaV2()
    runtime = RuntimeEstimator(mode=backend, options={"default_shots": 1000})
    print("IBM Runtime EstimatorV2 on FakeManilaV2, losses:",
          train(EstimatorQNN, TorchConnector, runtime, backend=backend))


if __name__ == "__main__":
    main()
