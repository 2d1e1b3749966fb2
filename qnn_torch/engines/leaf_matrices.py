"""The matrices of leaf gates on their own wires, computed once per gate and kept for the process.

The adjoint engines analyse a circuit gate by gate: a fixed gate's matrix, an angle gate's
generator :math:`H` with :math:`U(\\theta) = e^{i\\theta H}`. ``qml.matrix`` costs a fraction of a
millisecond a gate, and a circuit repeats the same few gates (``H`` and ``CNOT`` on the same wires
in every repetition of a feature map; the same generator for every ``RY`` on a wire), so
:func:`fixed_matrix` and :func:`generator_matrix` keep what they computed for PennyLane's standard
gates, keyed by the gate's class, number of wires (the matrix is on the gate's wires in its own
order, whatever their labels), hyperparameter ``pauli_word`` and, for a fixed gate, its parameters
with their types. The arrays are ``qml.matrix``'s own numbers (complex128, the gate's
wires in its order) and read-only, as they are shared. Other operations (templates'
``QubitUnitary``, controlled gates of any base) are computed every time.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pennylane as qml

__all__ = ["CACHE_SIZE", "LeafGate", "fixed_matrix", "generator_matrix"]

CACHE_SIZE = 4096
"""int: the most matrices kept (each at most a few wires wide); the cache starts again when full."""

_STANDARD_NAMES = (
    "Identity", "Hadamard", "PauliX", "PauliY", "PauliZ", "S", "T", "SX", "CNOT", "CZ", "CY", "CH", "SWAP",
    "ISWAP", "SISWAP", "ECR", "Toffoli", "CCZ", "CSWAP", "PhaseShift", "RX", "RY", "RZ", "Rot", "U1", "U2",
    "U3", "CRX", "CRY", "CRZ", "CRot", "ControlledPhaseShift", "IsingXX", "IsingYY", "IsingZZ", "IsingXY",
    "MultiRZ", "PauliRot", "PSWAP",
)
_STANDARD = frozenset(filter(None, (getattr(qml, name, None) for name in _STANDARD_NAMES)))
_cache: dict = {}

# the generators of the rotations templates use most, written out: the numbers of
# ``qml.matrix(qml.generator(op, format="observable"))`` bit for bit (signs of zeros included: Python's
# ``-0.5j`` has a real part -0.0), without the operator arithmetic that costs PennyLane's first call
# about 1.5 ms (RY's, in a fresh process)
_GENERATORS = {
    qml.RX: ((0.0, -0.5), (-0.5, 0.0)),
    qml.RY: ((0.0, 0.5j), (complex(0.0, -0.5), 0.0)),
    qml.RZ: ((-0.5, 0.0), (0.0, 0.5)),
    qml.PhaseShift: ((0.0, 0.0), (0.0, 1.0)),
    qml.U1: ((0.0, 0.0), (0.0, 1.0)),
}


class LeafGate(NamedTuple):
    """A gate a template describes without building it (its ``compute_gates``): what the adjoint
    engines read of a leaf operator, ``wires`` and ``name``, with its class and a fixed gate's
    parameters; :func:`fixed_matrix` and :func:`generator_matrix` give the operator's own.

    **Example**

    >>> gate = LeafGate(qml.RX, (2,), (0.5,))
    >>> gate.name, bool(np.array_equal(fixed_matrix(gate), qml.matrix(qml.RX(0.5, wires=2))))
    ('RX', True)
    """

    cls: type
    wires: tuple
    data: tuple | None  # a fixed gate's parameters; None for an angle gate

    @property
    def name(self) -> str:
        return self.cls.__name__

    @property
    def hyperparameters(self) -> dict:
        return {}

    def operator(self):
        """The PennyLane operator (an angle gate at angle 0: its generator does not depend on it)."""
        data = (0.0,) * self.cls.num_params if self.data is None else self.data
        return self.cls(*data, wires=self.wires)


def _operator(op):
    return op.operator() if isinstance(op, LeafGate) else op


def _parameter_key(value):
    """A scalar parameter with its type (a float32 angle gives another matrix), or None."""
    if isinstance(value, (bool, int, float, complex)):
        return type(value), value
    shape, dtype = getattr(value, "shape", None), getattr(value, "dtype", None)
    if shape is None or tuple(shape) != () or getattr(value, "requires_grad", False):
        return None
    return type(value), str(dtype), str(getattr(value, "device", "")), value.item()


def _key(op, with_parameters: bool):
    cls = op.cls if isinstance(op, LeafGate) else type(op)
    if cls not in _STANDARD:
        return None
    parameters = ()
    if with_parameters:
        parameters = tuple(_parameter_key(d) for d in op.data)
        if None in parameters:
            return None
    num_wires = cls.num_wires  # a standard gate's class fixes it, or None
    if num_wires is None:
        num_wires = len(op.wires)  # (a controlled gate builds its wires anew each time)
    return cls, num_wires, op.hyperparameters.get("pauli_word"), parameters


def _kept(key, compute) -> np.ndarray:
    matrix = _cache.get(key) if key is not None else None
    if matrix is None:
        # a copy: PennyLane may hand out its own constant (read-only here, as the copy is shared)
        matrix = np.array(qml.math.toarray(compute()), dtype=np.complex128, copy=True)
        matrix.setflags(write=False)
        if key is not None:
            if len(_cache) >= CACHE_SIZE:
                _cache.clear()
            _cache[key] = matrix
    return matrix


def fixed_matrix(op) -> np.ndarray:
    """A fixed gate's matrix on its own wires, ``qml.matrix(op, wire_order=op.wires)``.

    Args:
        op (Operator or LeafGate): a gate whose parameters depend on no input or weight.

    Returns:
        numpy.ndarray: the read-only complex128 matrix ``(2**k, 2**k)`` of the gate's ``k`` wires.

    **Example**

    >>> fixed_matrix(qml.CNOT([3, 1])).real.astype(int).tolist()
    [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]]
    """
    return _kept(_key(op, True), lambda: qml.matrix(_operator(op), wire_order=op.wires))


def generator_matrix(op) -> np.ndarray:
    """An angle gate's generator ``H``, ``U(theta) = exp(i theta H)``, on the gate's own wires.

    Args:
        op (Operator or LeafGate): a gate with one parameter and a generator.

    Returns:
        numpy.ndarray: the read-only complex128 matrix ``(2**k, 2**k)`` of the gate's ``k`` wires.

    **Example**

    >>> generator_matrix(qml.RY(0.3, wires=2)).tolist()
    [[0j, 0.5j], [-0.5j, 0j]]
    """
    written = _GENERATORS.get(op.cls if isinstance(op, LeafGate) else type(op))

    def compute():
        if written is not None:
            return np.array(written, dtype=np.complex128)
        return qml.matrix(qml.generator(_operator(op), format="observable"), wire_order=op.wires)

    return _kept(_key(op, False), compute)
