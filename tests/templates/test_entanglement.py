"""Entanglement patterns: Qiskit's blocks, in Qiskit's order, and the arguments refused."""

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit.library import n_local
from qiskit.quantum_info import Operator

from qnn_torch import ENTANGLEMENT_PATTERNS, ZZFeatureMap, entangler_map
from qnn_torch.templates.entanglement import validate_entanglement


@pytest.mark.parametrize("pattern", ENTANGLEMENT_PATTERNS)
@pytest.mark.parametrize("n", [2, 3, 5])
@pytest.mark.parametrize("reps", [1, 2])
def test_two_qubit_blocks_are_qiskits(pattern, n, reps):
    """CX on the blocks, repetition by repetition, is Qiskit's entangling layers of an NLocal."""
    ours = QuantumCircuit(n)
    for rep in range(reps):
        for control, target in entangler_map(n, 2, pattern, offset=rep):
            ours.cx(control, target)
    theirs = n_local(n, "ry", "cx", entanglement=pattern, reps=reps, skip_final_rotation_layer=True)
    theirs = theirs.assign_parameters([0.0] * theirs.num_parameters)  # RY(0): the CX layers alone
    assert Operator(ours).equiv(Operator(theirs))


def test_explicit_blocks_of_another_size_are_skipped():
    assert entangler_map(3, 2, ((0, 1), (2,), (1, 2))) == ((0, 1), (1, 2))
    assert entangler_map(3, 2, "circular") == ((2, 0), (0, 1), (1, 2))
    assert validate_entanglement([[0, 2], (1, 0)], 3) == ((0, 2), (1, 0))


@pytest.mark.parametrize("build, error, match", [
    (lambda: ZZFeatureMap(np.zeros(2), wires=[0, 1], entanglement="ring"), ValueError,
     "entanglement must be one of.*'full'.*got 'ring'"),
    (lambda: ZZFeatureMap(np.zeros(2), wires=[0, 1], entanglement=[(0, 5)]), ValueError,
     r"entanglement indices must lie in range\(2\)"),
    (lambda: ZZFeatureMap(np.zeros(2), wires=[0, 1], entanglement=5), TypeError,
     "entanglement must be a string"),
    (lambda: entangler_map(2, 3, "full"), ValueError, "a block of 3 qubits does not fit on 2 wires"),
    (lambda: entangler_map(3, 3, "pairwise"), ValueError, "'pairwise' is defined for blocks of at most 2"),
])
def test_bad_entanglement(build, error, match):
    with pytest.raises(error, match=match):
        build()
