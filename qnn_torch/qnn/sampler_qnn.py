"""Probability networks: qiskit-machine-learning's ``SamplerQNN``."""

from __future__ import annotations

import warnings

import numpy as np
import pennylane as qml
import torch

from ..exceptions import machine_learning_error
from .interpret import interpret_matrix, outcome_matrix
from .circuit_form import CircuitForm
from .neural_network import QuantumNeuralNetwork
from .qiskit_arguments import take_qiskit_arguments

__all__ = ["SamplerQNN"]


class SamplerQNN(QuantumNeuralNetwork):
    r"""A network whose outputs are measurement probabilities, optionally grouped into classes.

    Without ``interpret`` the output is the ``2**n`` probabilities in Qiskit's order (index
    bit ``i`` is qubit ``i``). With ``interpret`` (an ``int -> int`` written for Qiskit, e.g.
    :func:`~qnn_torch.parity`) the probabilities of the basis states mapped to each class are
    summed, differentiably.

    For a Qiskit circuit the outcomes are, as in qiskit-machine-learning, the values of its
    classical bits (bit ``i`` is classical bit ``i``, set by the final measurement into it;
    every qubit is measured into its own bit when the circuit has no classical bits), and a
    transpiled circuit has ``2**k`` outcomes for its ``k`` logical qubits.

    Args:
        num_qubits (int): number of qubits.
        interpret (Callable[[int], int] or None): maps a basis-state index to a class.
        output_shape (int or tuple or None): the number of classes; required with ``interpret``,
            as in Qiskit; without ``interpret`` ignored with a warning, as in Qiskit.
        sparse (bool): return ``sparse.COO`` arrays from :meth:`forward` and :meth:`backward`, as
            qiskit-machine-learning does (needs the optional ``sparse`` package:
            ``pip install "qnn_torch[sparse]"``); a :class:`~qnn_torch.TorchConnector` then returns
            torch sparse COO tensors if it is sparse too (``TorchConnector(qnn, sparse=True)``).
        **kwargs: ``feature_map``, ``ansatz``, ``num_inputs``, ``num_weights``, ``device``,
            ``shots``, ``diff_method`` as for :class:`~qnn_torch.EstimatorQNN`; ``sampler`` (a
            Qiskit V2 sampler, qiskit-machine-learning's argument), ``gradient`` and
            ``pass_manager`` as ``estimator``, ``gradient`` and ``pass_manager`` there.

    Raises:
        QiskitMachineLearningError: (a ``ValueError``) for ``interpret`` without ``output_shape``, or
            an ``output_shape`` that is not a positive integer or a tuple of them.
        ValueError: for an ``interpret`` that returns a class outside ``output_shape``.
        ImportError: for ``sparse=True`` without the ``sparse`` package.

    **Example**

    >>> from qnn_torch import parity
    >>> qnn = SamplerQNN(2, interpret=parity, output_shape=2)
    >>> qnn.output_shape
    (2,)
    """

    _probabilities = True

    def __init__(self, num_qubits: int | None = None, *, interpret=None, output_shape=None,
                 sparse: bool = False, **kwargs):
        self._qiskit = take_qiskit_arguments("sampler", "SamplerQNN", kwargs)
        form = self._circuit_form(num_qubits, kwargs)
        self._qiskit = self._qiskit.run_options(form, kwargs, "SamplerQNN")
        self.interpret = interpret
        shape, self._interpret_head = _outputs(form, interpret, output_shape)
        super().__init__(form, output_shape=shape, sparse=sparse, **kwargs)

    def set_interpret(self, interpret=None, output_shape=None) -> None:
        """Change ``interpret`` and ``output_shape``, as qiskit-machine-learning's ``set_interpret``.

        The network is described again with the new head, on the same device with the same options
        (its engines are chosen again for the new outputs); a :class:`~qnn_torch.TorchConnector`
        wrapping it keeps its weights and gives outputs of the new shape.

        Args:
            interpret (Callable[[int], int] or None): as for the constructor; None for the
                probabilities themselves.
            output_shape (int or tuple or None): as for the constructor: required with
                ``interpret``; without it, ignored with a warning.

        Raises:
            QiskitMachineLearningError: (a ``ValueError``) for ``interpret`` without ``output_shape``.

        **Example**

        >>> from qnn_torch import parity
        >>> qnn = SamplerQNN(2)
        >>> qnn.set_interpret(parity, 2)
        >>> qnn.output_shape
        (2,)
        """
        shape, head = _outputs(self._form, interpret, output_shape)
        self.interpret, self._output_shape, self._interpret_head = interpret, shape, head
        self._redescribe()

    @property
    def sampler(self):
        """The ``sampler=`` argument as given (None: the ``device`` argument decides)."""
        return self._qiskit.primitive

    def _measure(self):
        # reversed wires: PennyLane's wire 0 is the most significant bit, Qiskit's the least
        return qml.probs(wires=list(reversed(range(self.num_qubits))))

    def _head(self) -> torch.Tensor | None:
        return self._interpret_head


def _outputs(form: CircuitForm, interpret, output_shape) -> tuple[tuple[int, ...], torch.Tensor | None]:
    """The output shape and the head of a sampler network on ``form``'s circuit.

    The outcomes are the basis states, or for a Qiskit circuit what its classical bits read; with
    ``interpret`` the head sums the probabilities of the outcomes into classes, without it the head
    keeps the outcomes below ``2**k`` (``k`` the logical qubits), or there is no head when the
    outcomes are the basis states themselves.
    """
    outcomes, size = None, 2**form.num_qubits
    if form.converted is not None:  # a Qiskit circuit: what its classical bits read
        size = 2**form.converted.num_virtual_qubits
        outcomes = form.converted.outcomes()
        if size == 2**form.num_qubits and np.array_equal(outcomes, np.arange(size)):
            outcomes = None  # every qubit measured into its own bit: the probabilities as they are
    beyond = _beyond(form, outcomes, size)
    if interpret is None:
        if output_shape is not None:  # qiskit-machine-learning ignores it too, and says so
            warnings.warn(f"SamplerQNN: output_shape={output_shape!r} is ignored without interpret: the "
                          f"output is the {size} probabilities (as in qiskit-machine-learning).",
                          UserWarning, stacklevel=3)
        if beyond:
            warnings.warn(f"SamplerQNN: the circuit's {beyond}, but without interpret the output holds "
                          f"the {size} outcomes below 2**{size.bit_length() - 1} (as in "
                          "qiskit-machine-learning): the probability of the others is dropped and rows "
                          "can sum to less than 1. "
                          f"{_how_to_keep(form)}", UserWarning, stacklevel=3)
        head = None if outcomes is None else torch.as_tensor(
            outcome_matrix(outcomes, form.num_qubits, size), dtype=torch.float64)
        return (size,), head
    if output_shape is None:
        raise machine_learning_error(
            "output_shape is required with interpret (the number of classes interpret "
            "returns), as in Qiskit; got output_shape=None."
        )
    # every outcome the bits can read goes through interpret, also those at or above
    # 2**num_qubits (qiskit-machine-learning's forward pass drops those, its gradients not)
    note = f"The circuit's {beyond}. {_how_to_keep(form)}" if beyond else None
    matrix, shape = interpret_matrix(interpret, output_shape, form.num_qubits, outcomes, note)
    return shape, torch.as_tensor(matrix, dtype=torch.float64)


def _beyond(form: CircuitForm, outcomes, size: int) -> str | None:
    """What the classical bits read when they can read an outcome of ``size`` or more, else None."""
    if outcomes is None or outcomes.max() < size:
        return None
    return f"{form.converted.num_clbits} classical bits read outcomes up to {outcomes.max()}"


def _how_to_keep(form: CircuitForm) -> str:
    bits = form.converted.num_clbits
    return (f"To keep every outcome, pass interpret=lambda b: b, output_shape=2**{bits} ({2**bits} "
            "outputs, qiskit-machine-learning's documented form), or an interpret that maps every "
            "outcome to a class.")
