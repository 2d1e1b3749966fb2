"""Fixtures shared by the engine tests."""

import pytest

from qnn_torch.engines import ENGINES


@pytest.fixture
def engine_for():
    """A factory: the engine ``name`` on a network's circuit description and device, built as the
    chain builds it (on exact ``default.qubit`` the QNode engine differentiates by backprop)."""

    def make(name, qnn):
        return ENGINES[name].build(qnn.description, qnn.spec, None)

    return make
