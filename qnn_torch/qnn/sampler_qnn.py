"""Probability networks: Qiskit's ``SamplerQNN`` (formerly ``CircuitQNN``)."""

from __future__ import annotations

import pennylane as qml
import torch

from .interpret import interpret_matrix
from .neural_network import QuantumNeuralNetwork

__all__ = ["SamplerQNN"]


class SamplerQNN(QuantumNeuralNetwork):
    r"""A network whose outputs are measurement probabilities, optionally grouped into classes.

    Without ``interpret`` the output is the ``2**n`` probabilities in Qiskit's order (index
    bit ``i`` is qubit ``i``). With ``interpret`` (an ``int -> int`` written for Qiskit, e.g.
    :func:`~qnn_torch.parity`) the probabilities of the basis states mapped to each class are
    summed, differentiably.

    Args:
        num_qubits (int): number of qubits.
        interpret (Callable[[int], int] or None): maps a basis-state index to a class.
        output_shape (int or tuple or None): the number of classes; required with ``interpret``,
            as in Qiskit.
        **kwargs: ``feature_map``, ``ansatz``, ``num_inputs``, ``num_weights``, ``device``,
            ``shots``, ``diff_method`` as for :class:`~qnn_torch.EstimatorQNN`.

    Raises:
        ValueError: for ``interpret`` without ``output_shape`` (or the reverse), or an
            ``interpret`` that returns a class outside ``output_shape``.

    **Example**

    >>> from qnn_torch import parity
    >>> qnn = SamplerQNN(2, interpret=parity, output_shape=2)
    >>> qnn.output_shape
    (2,)
    """

    _supports_adjoint_diff = False  # PennyLane's diff_method="adjoint" takes expectations only
    _probabilities = True

    def __init__(self, num_qubits: int | None = None, *, interpret=None, output_shape=None, **kwargs):
        super().__init__(num_qubits, **kwargs)
        if interpret is None:
            if output_shape is not None:
                raise ValueError(
                    "output_shape is only meaningful with interpret: without interpret the output "
                    f"is the {2 ** self.num_qubits} probabilities; got output_shape={output_shape!r}."
                )
            self.interpret = None
            self.output_shape = (2**self.num_qubits,)
            self._head = None
        else:
            if output_shape is None:
                raise ValueError(
                    "output_shape is required with interpret (the number of classes interpret "
                    "returns), as in Qiskit; got output_shape=None."
                )
            matrix, self.output_shape = interpret_matrix(interpret, output_shape, self.num_qubits)
            self.interpret = interpret
            self._head = torch.as_tensor(matrix, dtype=torch.float64)

    def _measure(self):
        # reversed wires: PennyLane's wire 0 is the most significant bit, Qiskit's the least
        return qml.probs(wires=list(reversed(range(self.num_qubits))))

    def postprocess(self, result: torch.Tensor) -> torch.Tensor:
        """Sum the probabilities into the classes of ``interpret``."""
        if self._head is None:
            return result
        return result @ self._head.to(result)
