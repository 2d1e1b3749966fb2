"""The reference every contender is held to: outputs by Qiskit's ``Statevector`` and gradients of
``mean(sum(outputs))`` by PennyLane's adjoint differentiation, both in float64, on fixed check
samples; the two libraries' outputs are checked against each other first.

NumPy, Qiskit and PennyLane are imported by the functions that need them.
"""

from __future__ import annotations

from typing import Callable

__all__ = ["check_data", "pennylane_gradients", "qiskit_outputs", "reference"]


def check_data(seed: int, samples: int, num_inputs: int, num_weights: int):
    """Check inputs ``(samples, num_inputs)`` in [0, 1) and weights in [-1, 1) drawn with ``seed``:
    float64 values that float32 holds exactly (several contenders keep float32 weights)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, (samples, num_inputs)).astype(np.float32).astype(np.float64)
    return x, rng.uniform(-1, 1, num_weights).astype(np.float32).astype(np.float64)


def qiskit_outputs(circuit, params, values, observables):
    """Expectation values ``(B, K)`` of ``observables`` on ``circuit`` bound to each row of
    ``values`` (columns in the order of ``params``), by Qiskit's ``Statevector`` (float64)."""
    import numpy as np
    from qiskit.quantum_info import Statevector

    out = np.empty((len(values), len(observables)))
    for b, row in enumerate(values):
        state = Statevector(circuit.assign_parameters(dict(zip(params, row))))
        out[b] = [state.expectation_value(o).real for o in observables]
    return out


def pennylane_gradients(num_qubits: int, body, measure, x, w, device: str = "default.qubit") -> dict:
    """Outputs ``(B, K)`` and the gradients of ``mean(sum(outputs, 1))`` with respect to the inputs
    ``x`` ``(B, I)`` and weights ``w`` ``(P,)`` of ``body(inputs, weights)`` measured by
    ``measure()`` (a list of expectation values), by PennyLane's ``default.qubit`` with adjoint
    differentiation in float64 (memory of a few state vectors, whatever the circuit's depth), or
    by another ``device`` (``default.qubit`` densifies a Z string on every wire: 64 GiB at 16)."""
    import pennylane as qml
    import torch

    @qml.qnode(qml.device(device, wires=num_qubits), diff_method="adjoint", interface="torch")
    def qnode(inputs, weights):
        body(inputs, weights)
        return measure()

    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    wt = torch.tensor(w, dtype=torch.float64, requires_grad=True)
    out = torch.stack([r.reshape(len(x)) for r in qnode(xt, wt)], dim=1)
    out.sum(1).mean().backward()
    return {"outputs": out.detach().numpy(), "grad_inputs": xt.grad.numpy(), "grad_weights": wt.grad.numpy()}


def reference(qiskit: tuple, pennylane: tuple[Callable, Callable], x, w, device: str = "default.qubit",
              tolerance: float = 1e-10) -> dict:
    """The reference on the check samples ``x`` and weights ``w``.

    Args:
        qiskit (tuple): ``(circuit, input_params, weight_params, observables)``, the network in Qiskit.
        pennylane (tuple): ``(body, measure)``, the same network for :func:`pennylane_gradients`.
        x, w: the check inputs ``(B, I)`` and weights ``(P,)``.
        device (str): PennyLane's device for the gradients.
        tolerance (float): how far the two libraries' outputs may differ.

    Returns:
        dict: ``outputs`` (Qiskit's), ``grad_inputs`` and ``grad_weights`` (PennyLane's).

    Raises:
        AssertionError: the two networks' outputs differ by more than ``tolerance``.
    """
    import numpy as np

    circuit, inputs, weights, observables = qiskit
    values = np.hstack([x, np.tile(w, (len(x), 1))])
    out_qiskit = qiskit_outputs(circuit, inputs + weights, values, observables)
    ref = pennylane_gradients(circuit.num_qubits, *pennylane, x, w, device)
    err = float(np.max(np.abs(ref["outputs"] - out_qiskit)))
    if err > tolerance:
        raise AssertionError(f"the PennyLane and the Qiskit forms of the network differ by {err:.2e} "
                             f"at n={circuit.num_qubits}")
    return {**ref, "outputs": out_qiskit}
