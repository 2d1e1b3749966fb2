"""The traced torch engine (``engine="compiled"``): the QNode engine's numbers, one trace per input
shape, and the hand-over for circuits it cannot trace or simulate."""

import pennylane as qml
import pytest
import torch

from qnn_torch import EstimatorQNN
from qnn_torch.engines import EngineUnavailable, TorchTracedEngine, torch_traced
from qnn_torch.engines.statevector import UnsupportedOperation
from tests.engines.cases import CASES, assert_equals_the_qnode_engine


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("batch", [1, 5])
def test_equals_the_qnode_engine(case, batch, rng):
    assert_equals_the_qnode_engine("compiled", case, batch, rng)


def test_one_trace_per_input_shape(monkeypatch, rng):
    traces = []
    original = torch_traced.trace
    monkeypatch.setattr(torch_traced, "trace", lambda *args: traces.append(1) or original(*args))
    qnn = EstimatorQNN(2)
    engine = TorchTracedEngine(qnn.description)
    w = torch.tensor(rng.uniform(-1, 1, 8))
    for batch in (3, 3, 2, 3):
        engine.values(torch.tensor(rng.uniform(-1, 1, (batch, 2))), w)
    assert len(traces) == 2


def test_value_dependent_circuit_is_unavailable():
    def branching(x, wires):
        if x[..., 0].sum() > 0:  # reads a value: cannot be traced
            qml.RX(x[..., 0], wires[0])

    qnn = EstimatorQNN(1, feature_map=branching, num_inputs=1, num_weights=1, engine="qnode",
                       ansatz=lambda w, wires: qml.RZ(w[..., 0], wires[0]))
    with pytest.raises(EngineUnavailable, match="data-dependent"):
        TorchTracedEngine(qnn.description).values(torch.tensor([[0.5]], dtype=torch.float64),
                                                  torch.tensor([0.3], dtype=torch.float64))


class _Opaque(qml.operation.Operation):
    """A gate with neither a matrix nor a decomposition."""

    num_wires = 1
    num_params = 0


def test_an_operation_without_matrix_or_decomposition_is_unsupported():
    qnn = EstimatorQNN(1, circuit=lambda x, w: _Opaque(wires=0), num_inputs=1, num_weights=0, engine="qnode")
    with pytest.raises(UnsupportedOperation, match="_Opaque has neither a decomposition nor a matrix"):
        TorchTracedEngine(qnn.description).values(torch.zeros(1, 1, dtype=torch.float64),
                                                  torch.zeros(0, dtype=torch.float64))
