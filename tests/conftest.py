"""Shared fixtures and helpers for the qnn_torch test suite."""

import numpy as np
import pennylane as qml
import pytest


def qiskit_order_matrix(op, n_wires):
    """The matrix of a PennyLane op on wires 0..n-1 in Qiskit's little-endian order."""
    return qml.matrix(op, wire_order=list(reversed(range(n_wires))))


@pytest.fixture
def rng():
    """A fresh, seeded NumPy generator per test."""
    return np.random.default_rng(1234)
