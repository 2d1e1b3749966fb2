"""The QNode engine: PennyLane's differentiation method and batch splitting for each device and
measurement, its result cache, and networks whose outputs do not depend on the batch."""

import pennylane as qml
import pytest
import torch

from qnn_torch import EstimatorQNN, SamplerQNN
from qnn_torch.devices import resolve_device
from qnn_torch.engines import QNodeEngine
from qnn_torch.engines.qnode import _ResultCache


@pytest.mark.parametrize("kind, asked, shots, expected", [
    (EstimatorQNN, None, None, ("backprop", False)),
    (EstimatorQNN, "adjoint", None, ("adjoint", False)),
    (SamplerQNN, "adjoint", None, ("parameter-shift", True)),  # PennyLane's adjoint takes expectations only
    (EstimatorQNN, "parameter-shift", None, ("parameter-shift", True)),
    (EstimatorQNN, None, 100, ("parameter-shift", True)),
])
def test_the_diff_method_and_the_batch_split(kind, asked, shots, expected):
    circuit = kind(2).description
    spec = resolve_device("default.qubit", 2, shots)
    assert QNodeEngine.diff_method_for(circuit, spec, asked) == expected
    engine = QNodeEngine.build(circuit, spec, asked)
    assert (engine.diff_method, engine.broadcast_expand) == expected


def test_a_failed_run_is_run_again():
    """PennyLane marks a pending circuit with None; a run that failed leaves the mark, which the
    cache treats as absent."""
    cache = _ResultCache(maxsize=4)
    cache["circuit"] = None
    assert "circuit" not in cache
    cache["circuit"] = 1.0
    assert "circuit" in cache


def test_outputs_that_do_not_depend_on_the_batch_give_a_row_per_sample():
    qnn = EstimatorQNN(1, feature_map=lambda x, wires: None, num_inputs=1,
                       ansatz=lambda w, wires: qml.RY(w[..., 0], wires[0]), num_weights=1, engine="qnode")
    engine = QNodeEngine.build(qnn.description, qnn.spec, None)
    out = engine.values(torch.zeros(3, 1, dtype=torch.float64), torch.tensor([0.4], dtype=torch.float64))
    assert out.shape == (3, 1) and torch.allclose(out, torch.cos(torch.tensor(0.4, dtype=torch.float64)))


def test_memory_of_a_device_that_differentiates_itself():
    qnn = EstimatorQNN(3, observables=[qml.Z(0), qml.Z(1)])
    state = 16 * 2**3
    adjoint = QNodeEngine.build(qnn.description, qnn.spec, "adjoint")
    assert adjoint.bytes_per_sample(call="jacobians") == state * (8 + 2)
    backprop = QNodeEngine.build(qnn.description, qnn.spec, None)
    assert backprop.bytes_per_sample(call="jacobians") == state * (8 + 2 * backprop.num_gates())
