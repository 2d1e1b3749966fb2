"""PauliFeatureMap: Qiskit's pauli_feature_map gate for gate (any Pauli words, patterns and explicit
blocks), and its input checks."""

import numpy as np
import pytest
from qiskit.circuit.library import pauli_feature_map

from qnn_torch import ENTANGLEMENT_PATTERNS, PauliFeatureMap

from .qiskit_parity import QUBITS, assert_same_as_qiskit

PAULI_SETS = [("Z", "ZZ"), ("X", "YY", "ZXZ"), ("Y", "XZ"), ("IZ", "XIY", "YX")]


@pytest.mark.parametrize("n", QUBITS)
@pytest.mark.parametrize("reps", [1, 2, 3])
@pytest.mark.parametrize("entanglement", ENTANGLEMENT_PATTERNS)
@pytest.mark.parametrize("paulis", PAULI_SETS)
def test_pauli_feature_map_equals_qiskit(n, reps, entanglement, paulis, rng):
    paulis = tuple(p for p in paulis if len(p) <= n) or ("X",)
    x = rng.uniform(-np.pi, np.pi, n)
    assert_same_as_qiskit(
        lambda: PauliFeatureMap(x, range(n), reps=reps, paulis=paulis, entanglement=entanglement, alpha=1.3),
        lambda: pauli_feature_map(n, reps=reps, paulis=list(paulis), entanglement=entanglement, alpha=1.3),
        x,
        n,
    )


@pytest.mark.parametrize(
    "blocks", [[(0, 2), (1,), (2, 1)], [(2,), (0, 1, 2), (1, 0)], [(1, 2)]]
)
def test_pauli_feature_map_explicit_blocks_equal_qiskit(blocks, rng):
    n, paulis = 3, ("Z", "XY", "ZZZ")
    by_size = {k: [b for b in blocks if len(b) == k] for k in (1, 2, 3)}
    x = rng.uniform(-np.pi, np.pi, n)
    assert_same_as_qiskit(
        lambda: PauliFeatureMap(x, range(n), reps=2, paulis=paulis, entanglement=blocks),
        lambda: pauli_feature_map(n, reps=2, paulis=list(paulis), entanglement=by_size),
        x,
        n,
    )


@pytest.mark.parametrize("build, error, match", [
    (lambda: PauliFeatureMap(np.zeros(2), wires=[0, 1], paulis=("ZZZ",)), ValueError,
     "paulis must be words of at most 2 letters.*got 'ZZZ' of length 3"),
    (lambda: PauliFeatureMap(np.zeros(2), wires=[0, 1], paulis=("ZQ",)), ValueError,
     "paulis must be words over"),
    (lambda: PauliFeatureMap(np.zeros(2), wires=[0, 1], paulis=()), ValueError, "at least one Pauli word"),
    (lambda: PauliFeatureMap(np.zeros(2), wires=[0, 1], paulis=(1,)), TypeError, "paulis must be a sequence"),
    (lambda: PauliFeatureMap(np.zeros(3), wires=[0, 1, 2], paulis=("ZZZ",), entanglement="pairwise"),
     ValueError, "pairwise"),
    (lambda: PauliFeatureMap(np.zeros(2), wires=[0, 1], alpha="big"), TypeError,
     "alpha must be a real number"),
])
def test_bad_input(build, error, match):
    with pytest.raises(error, match=match):
        build()
