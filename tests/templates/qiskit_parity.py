"""Templates against Qiskit's circuit library: a template's matrix in Qiskit's qubit order equals
Qiskit's ``Operator`` of the same circuit (a helper module, not a test module)."""

import numpy as np
import pytest
from qiskit.exceptions import QiskitError
from qiskit.quantum_info import Operator

from ..conftest import qiskit_order_matrix

QUBITS = [1, 2, 3, 4, 5]
ATOL = 1e-10


def qiskit_operator(build, values):
    """Bind ``values`` (in the circuit's parameter-vector order) and return the matrix."""
    try:
        circuit = build()
    except (QiskitError, ValueError) as err:  # Qiskit refuses this combination
        return err
    # bind by vector index: a parameter the circuit does not use is absent from it
    binding = {p: values[p.index] for p in circuit.parameters}
    return Operator(circuit.assign_parameters(binding)).data


def assert_same_as_qiskit(pl_build, qk_build, values, n):
    """The template ``pl_build()`` equals Qiskit's circuit ``qk_build()`` bound to ``values``, or both
    refuse the combination."""
    expected = qiskit_operator(qk_build, values)
    if isinstance(expected, Exception):
        with pytest.raises(ValueError):
            qiskit_order_matrix(pl_build(), n)
        return
    got = qiskit_order_matrix(pl_build(), n)
    assert np.allclose(got, expected, atol=ATOL)
