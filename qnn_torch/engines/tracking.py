"""``qml.Tracker`` reports for the engines that compute without the network's device.

PennyLane's simulators report every execution to the device's tracker. The engines of this
package compute without the device, so the chain reports their calls as a simulator would:
``batches``, ``simulations``, ``executions`` (one per sample), ``results`` and ``resources`` for
values; ``execute_and_derivative_batches``, ``executions`` and ``derivatives`` for values with
Jacobians; ``vjp_batches`` and ``vjps`` for a vector-Jacobian product.
"""

from __future__ import annotations

import pennylane as qml
import torch

from ..circuits import PENNYLANE_LOCK, CircuitDescription
from .base import Engine

__all__ = ["active_tracker", "circuit_resources", "report"]


def active_tracker(device, engine: Engine):
    """The active ``qml.Tracker`` of ``device`` when ``engine`` computes without the device (which
    then does not see the call), else None."""
    tracker = getattr(device, "tracker", None)
    if tracker is None or not tracker.active or engine.runs_on_device:
        return None
    return tracker


def circuit_resources(circuit: CircuitDescription):
    """The circuit's gate and measurement counts, as ``qml.specs`` gives them."""
    with PENNYLANE_LOCK:
        ops, measurements = circuit.queue(torch.zeros(1, circuit.num_inputs, dtype=torch.float64),
                                          torch.zeros(circuit.num_weights, dtype=torch.float64))
        return qml.tape.QuantumScript(ops, measurements).specs["resources"]


def report(tracker, kind: str, batch: int, resources=None, out: torch.Tensor | None = None) -> None:
    """Report one engine call on ``batch`` samples to ``tracker``.

    Args:
        tracker (qml.Tracker): an active tracker.
        kind (str): ``"values"``, ``"jacobians"`` (values with Jacobians) or ``"vjp"``.
        batch (int): the samples of the call.
        resources: the circuit's resources (:func:`circuit_resources`); not needed for ``"vjp"``.
        out (torch.Tensor or None): the outputs of a ``"values"`` call.
    """
    if kind == "vjp":
        tracker.update(vjp_batches=1, vjps=batch)
    elif kind == "jacobians":
        tracker.update(resources=resources)
        tracker.update(execute_and_derivative_batches=1, executions=batch, derivatives=batch)
    else:
        tracker.update(batches=1)
        tracker.record()
        results = None if out.is_meta else out.detach().cpu().numpy()  # meta tensors hold no values
        tracker.update(simulations=1, executions=batch, results=results, resources=resources)
    tracker.record()
