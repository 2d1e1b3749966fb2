"""RealAmplitudes: Qiskit's real_amplitudes gate for gate, and its input checks."""

import numpy as np
import pytest
from qiskit.circuit.library import real_amplitudes

from qnn_torch import ENTANGLEMENT_PATTERNS, RealAmplitudes

from .qiskit_parity import QUBITS, assert_same_as_qiskit


@pytest.mark.parametrize("n", QUBITS)
@pytest.mark.parametrize("reps", [0, 1, 2, 3])
@pytest.mark.parametrize("entanglement", ENTANGLEMENT_PATTERNS)
@pytest.mark.parametrize("skip", [False, True])
def test_real_amplitudes_equals_qiskit(n, reps, entanglement, skip, rng):
    (num,) = RealAmplitudes.shape(n, reps=reps, skip_final_rotation_layer=skip)
    w = rng.uniform(-np.pi, np.pi, num)
    if num == 0:  # Qiskit's circuit is empty: the identity
        op = RealAmplitudes(w, wires=range(n), reps=reps, entanglement=entanglement,
                            skip_final_rotation_layer=skip)
        assert op.decomposition() == []
        return
    assert_same_as_qiskit(
        lambda: RealAmplitudes(w, range(n), reps=reps, entanglement=entanglement,
                               skip_final_rotation_layer=skip),
        lambda: real_amplitudes(n, reps=reps, entanglement=entanglement, skip_final_rotation_layer=skip),
        w,
        n,
    )


def test_real_amplitudes_explicit_pairs_equal_qiskit(rng):
    pairs = [(2, 0), (0, 1), (1, 2), (2, 1)]
    w = rng.uniform(-np.pi, np.pi, 9)
    assert_same_as_qiskit(
        lambda: RealAmplitudes(w, range(3), reps=2, entanglement=pairs),
        lambda: real_amplitudes(3, reps=2, entanglement=pairs),
        w,
        3,
    )


def test_qiskit_defaults():
    """Qiskit's defaults: reps=3, reverse_linear entanglement, a final rotation layer."""
    ra = RealAmplitudes(np.zeros(12), wires=range(3))
    assert ra.hyperparameters == {"reps": 3, "entanglement": "reverse_linear",
                                  "skip_final_rotation_layer": False}
    assert RealAmplitudes.shape(3) == (12,)
    assert RealAmplitudes.shape(3, reps=1, skip_final_rotation_layer=True) == (3,)


@pytest.mark.parametrize("build, error, match", [
    (lambda: RealAmplitudes(np.zeros(7), wires=[0, 1], reps=3), ValueError,
     "weights must have length 8.*got length 7"),
    (lambda: RealAmplitudes(np.zeros(8), wires=[0, 1], reps=-1), ValueError,
     "reps must be an integer >= 0; got -1"),
    (lambda: RealAmplitudes(np.zeros(8), wires=[0, 1], entanglement="all"), ValueError, "got 'all'"),
    (lambda: RealAmplitudes(np.full(8, np.nan), wires=[0, 1]), ValueError, "weights must be finite"),
    (lambda: RealAmplitudes(np.zeros(8), wires=[0, 1], skip_final_rotation_layer="no"), TypeError,
     "skip_final_rotation_layer must be a bool"),
    (lambda: RealAmplitudes.shape(0), ValueError, "n_wires must be a positive integer; got 0"),
])
def test_bad_input(build, error, match):
    with pytest.raises(error, match=match):
        build()
