"""Tracing hands over only for circuits whose operations depend on values."""

import pytest
import torch

from qnn_torch.engines import EngineUnavailable
from qnn_torch.engines.tracing import trace


def test_trace_gives_the_graph_of_the_function():
    graph = trace(lambda x, y: torch.sin(x) * y, torch.ones(3), torch.ones(3))
    x, y = torch.linspace(0, 1, 3), torch.full((3,), 2.0)
    assert torch.equal(graph(x, y), torch.sin(x) * y)


def test_trace_hands_over_only_for_value_dependent_circuits():
    def branching(x):
        return x * 2 if x.sum() > 0 else x

    with pytest.raises(EngineUnavailable, match="data-dependent"):
        trace(branching, torch.ones(2))

    def broken(x):
        raise RuntimeError("a bug in a simulator")

    with pytest.raises(RuntimeError, match="a bug in a simulator") as info:
        trace(broken, torch.ones(2))
    assert not isinstance(info.value, EngineUnavailable)
