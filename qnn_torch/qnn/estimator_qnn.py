"""Expectation-value networks: qiskit-machine-learning's ``EstimatorQNN``."""

from __future__ import annotations

from copy import copy

import pennylane as qml

from .neural_network import QuantumNeuralNetwork
from .observables import to_pennylane_observables
from .qiskit_arguments import take_qiskit_arguments

__all__ = ["EstimatorQNN"]


class EstimatorQNN(QuantumNeuralNetwork):
    r"""A network whose outputs are expectation values :math:`\langle\psi(x, w)|O_k|\psi(x, w)\rangle`.

    Args:
        num_qubits (int): number of qubits.
        feature_map: default :class:`~qnn_torch.ZZFeatureMap` (reps=2); a template class, a
            ``functools.partial`` of one, a PennyLane template, or ``fn(params, wires)`` with
            ``num_inputs``.
        ansatz: default :class:`~qnn_torch.RealAmplitudes` (reps=3); same forms, with
            ``num_weights`` for a plain function.
        observables: ``None`` for Qiskit's default (Z on every qubit, one output), or one or
            several PennyLane observables or Qiskit ``SparsePauliOp``\ s (little-endian labels).
        num_inputs (int or None): parameter count of a plain-function feature map.
        num_weights (int or None): parameter count of a plain-function ansatz.
        device: ``"default.qubit"``, ``"lightning.qubit"``, ``"qiskit.aer"``, ``"ibm:<name>"``, a
            Qiskit ``Backend`` or a PennyLane device.
        shots (int or None): ``None`` for exact expectation values.
        diff_method (str or None): override the automatic choice.
        estimator: qiskit-machine-learning's argument: a Qiskit V2 estimator to run on instead of
            ``device`` (see :mod:`qnn_torch.qnn.qiskit_arguments` for where each one runs).
        gradient: None, :class:`~qnn_torch.SPSA`, or a qiskit-machine-learning estimator gradient
            (see :mod:`qnn_torch.qnn.gradients`).
        default_precision (float): the precision the forward pass asks of ``estimator``
            (qiskit-machine-learning's default 0.015625; exact estimators ignore it).
        pass_manager: transpiles a Qiskit ``circuit`` (without a layout) once, as in
            qiskit-machine-learning; the outputs are those of its logical qubits.

    **Example**

    >>> qnn = EstimatorQNN(2)
    >>> qnn.num_inputs, qnn.num_weights, qnn.output_shape
    (2, 8, (1,))
    """

    def __init__(self, num_qubits: int | None = None, *, observables=None, **kwargs):
        self._qiskit = take_qiskit_arguments("estimator", "EstimatorQNN", kwargs)
        form = self._circuit_form(num_qubits, kwargs)
        self._qiskit = self._qiskit.run_options(form, kwargs, "EstimatorQNN")
        if observables is None and form.converted is not None:
            observables = _logical_z(form.num_qubits, form.converted.logical_qubits)
        self._observables = None if observables is None else (
            observables if isinstance(observables, (list, tuple)) else (observables,))
        self._pennylane_observables = to_pennylane_observables(observables, form.num_qubits)
        super().__init__(form, output_shape=(len(self._pennylane_observables),), **kwargs)

    @property
    def observables(self):
        """The observables, one per output, as given (a single one as a 1-tuple), as
        qiskit-machine-learning returns them; the default is the product of Z on every qubit (on
        the logical qubits of a transpiled circuit, a Qiskit ``SparsePauliOp``, for a network
        built from a Qiskit circuit)."""
        return copy(self._pennylane_observables if self._observables is None else self._observables)

    @property
    def estimator(self):
        """The ``estimator=`` argument as given (None: the ``device`` argument decides)."""
        return self._qiskit.primitive

    @property
    def default_precision(self) -> float:
        """float: the precision the forward pass asks of the estimator (qiskit-machine-learning's
        ``default_precision``)."""
        return self._qiskit.default_precision

    def _measure(self):
        # a list, not a tuple: tuples of expectations get a wrong batched shape (PennyLane <= 0.45.1)
        return [qml.expval(o) for o in self._pennylane_observables]

    def _head(self) -> None:
        return None  # the outputs are the expectation values


def _logical_z(num_qubits: int, logical_qubits):
    """qiskit-machine-learning's default observable: Z on each logical qubit, as a SparsePauliOp."""
    from qiskit.quantum_info import SparsePauliOp

    return SparsePauliOp.from_sparse_list([("Z" * len(logical_qubits), list(logical_qubits), 1.0)],
                                          num_qubits=num_qubits)
