"""EngineUnavailable: the one error an engine hands over on, and the refusals that are one."""

import pytest

from qnn_torch import EstimatorQNN
from qnn_torch.engines import EngineUnavailable, NumpyAdjointEngine
from qnn_torch.engines.numpy_codegen import UnsupportedGraph
from qnn_torch.engines.statevector import UnsupportedOperation


def test_refusals_are_engine_unavailable():
    assert issubclass(EngineUnavailable, RuntimeError)
    assert issubclass(UnsupportedGraph, EngineUnavailable)
    assert issubclass(UnsupportedOperation, EngineUnavailable)
    with pytest.raises(EngineUnavailable, match="at most 8 qubits"):
        NumpyAdjointEngine(EstimatorQNN(9, engine="qnode").description)
