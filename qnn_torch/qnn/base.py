"""``NeuralNetwork``: qiskit-machine-learning's abstract network, the class users subclass.

The public :meth:`NeuralNetwork.forward` and :meth:`NeuralNetwork.backward` check and flatten what
they are given, call the subclass's ``_forward`` / ``_backward`` on rows ``(batch, num_inputs)`` and
give the results the shape of the inputs back. A subclass implements only those two methods, in
NumPy; :class:`~qnn_torch.TorchConnector` takes it as it takes the package's own networks.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from numbers import Integral

import numpy as np

from ..exceptions import machine_learning_error
from .validation import check_real_dtype

__all__ = ["NeuralNetwork"]


class NeuralNetwork(ABC):
    """A network with ``num_inputs`` inputs, ``num_weights`` weights and outputs of ``output_shape``.

    Subclasses implement ``_forward(input_data, weights)`` returning ``(batch, *output_shape)`` and
    ``_backward(input_data, weights)`` returning the input gradients ``(batch, *output_shape,
    num_inputs)`` (or None) and the weight gradients ``(batch, *output_shape, num_weights)`` (or
    None), NumPy arrays or, for a sparse network, ``sparse`` arrays. ``input_data`` reaches them as
    float64 rows ``(batch, num_inputs)`` or None, ``weights`` as a float64 vector or None.

    Args:
        num_inputs (int): the number of input features, at least 0.
        num_weights (int): the number of trainable weights, at least 0.
        sparse (bool): whether the outputs are sparse arrays.
        output_shape (int or tuple[int, ...]): the shape of one sample's outputs, every entry positive.
        input_gradients (bool): whether :meth:`backward` computes gradients with respect to the inputs.

    Raises:
        QiskitMachineLearningError: (a ``ValueError``) for a negative ``num_inputs`` or
            ``num_weights``, or an ``output_shape`` with an entry below 1.

    **Example**

    >>> import numpy as np
    >>> class Double(NeuralNetwork):
    ...     def _forward(self, input_data, weights):
    ...         return 2 * input_data * weights
    ...     def _backward(self, input_data, weights):
    ...         eye = np.eye(self.num_inputs)
    ...         input_grad = np.broadcast_to(2 * weights[:, None] * eye, (len(input_data), 2, 2))
    ...         return input_grad, 2 * input_data[:, :, None] * eye
    >>> net = Double(num_inputs=2, num_weights=2, sparse=False, output_shape=2)
    >>> net.forward([1.0, 2.0], [3.0, 4.0])
    array([[ 6., 16.]])
    >>> net.backward([[1.0, 2.0]], [3.0, 4.0])[1].shape
    (1, 2, 2)
    """

    # pylint: disable=too-many-positional-arguments
    def __init__(self, num_inputs: int, num_weights: int, sparse: bool, output_shape,
                 input_gradients: bool = False) -> None:
        for name, value in (("num_inputs", num_inputs), ("num_weights", num_weights)):
            if not isinstance(value, Integral) or isinstance(value, bool) or value < 0:
                raise machine_learning_error(f"{name} must be an integer >= 0; got {value!r}.")
        self._num_inputs, self._num_weights = int(num_inputs), int(num_weights)
        self._sparse = bool(sparse)
        # None: a subclass works the shape out later (and sets _output_shape)
        self._output_shape = None if output_shape is None else self._validate_output_shape(output_shape)
        self.input_gradients = input_gradients

    # ------------------------------------------------------------------ properties

    @property
    def num_inputs(self) -> int:
        """int: the number of input features."""
        return self._num_inputs

    @property
    def num_weights(self) -> int:
        """int: the number of trainable weights."""
        return self._num_weights

    @property
    def sparse(self) -> bool:
        """bool: whether :meth:`forward` and :meth:`backward` return ``sparse`` arrays."""
        return self._sparse

    @property
    def output_shape(self) -> tuple[int, ...]:
        """tuple[int, ...]: the shape of one sample's outputs."""
        return self._output_shape

    @property
    def input_gradients(self) -> bool:
        """bool: whether :meth:`backward` computes gradients with respect to the inputs (and so
        whether a :class:`~qnn_torch.TorchConnector` passes gradients to earlier layers); settable."""
        return self._input_gradients

    @input_gradients.setter
    def input_gradients(self, value: bool) -> None:
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"input_gradients must be True or False; got {value!r}.")
        self._input_gradients = bool(value)

    # ------------------------------------------------------------------ checks and shapes

    @staticmethod
    def _validate_output_shape(output_shape) -> tuple[int, ...]:
        shape = (output_shape,) if isinstance(output_shape, Integral) else output_shape
        try:
            shape = tuple(shape)
        except TypeError:
            shape = None
        if not shape or not all(isinstance(s, Integral) and not isinstance(s, bool) and s > 0 for s in shape):
            raise machine_learning_error(
                f"output_shape must be a positive integer or a tuple of them; got {output_shape!r}.")
        return tuple(int(s) for s in shape)

    def _validate_input(self, input_data) -> tuple[np.ndarray | None, tuple[int, ...] | None]:
        """Rows ``(batch, num_inputs)`` of ``input_data`` (None stays None) and its original shape."""
        if input_data is None:
            return None, None
        array = np.array(check_real_dtype(input_data, "input_data"), dtype=float)
        if array.ndim == 0:  # one number: one sample of one feature
            return array.reshape(1, 1), array.shape
        if array.shape[-1] != self.num_inputs:
            raise machine_learning_error(
                f"input_data must have last dimension {self.num_inputs} (the network's num_inputs); "
                f"got shape {array.shape}.")
        return array.reshape(-1, self.num_inputs), array.shape

    def _validate_weights(self, weights) -> np.ndarray | None:
        """``weights`` as a float64 vector ``(num_weights,)`` (None stays None)."""
        if weights is None:
            return None
        array = np.array(check_real_dtype(weights, "weights"), dtype=float)
        if array.size != self.num_weights:
            raise ValueError(f"weights must have {self.num_weights} values (the network's num_weights); "
                             f"got shape {array.shape}.")
        return array.reshape(self.num_weights)

    def _validate_forward_output(self, output, shape: tuple[int, ...] | None):
        """``output`` ``(rows, *output_shape)`` with the inputs' leading dimensions for rows."""
        if shape is not None and len(shape) >= 2:
            output = output.reshape((*shape[:-1], *self.output_shape))
        return output

    def _validate_backward_output(self, input_grad, weight_grad, shape: tuple[int, ...] | None):
        """The gradients with the inputs' leading dimensions; empty ones are None."""
        grads = []
        for grad, size in ((input_grad, self.num_inputs), (weight_grad, self.num_weights)):
            if grad is not None and np.prod(grad.shape) == 0:
                grad = None
            if grad is not None and shape is not None and len(shape) >= 2:
                grad = grad.reshape((*shape[:-1], *self.output_shape, size))
            grads.append(grad)
        return tuple(grads)

    # ------------------------------------------------------------------ the template methods

    def forward(self, input_data, weights):
        """The network's outputs for ``input_data`` and ``weights``.

        Args:
            input_data (array_like or float or None): ``(num_inputs,)``, ``(..., num_inputs)``, or
                one number for a network of one input; None for a network without inputs.
            weights (array_like or None): ``(num_weights,)``; None for a network without weights.

        Returns:
            numpy.ndarray or sparse.COO: ``(1, *output_shape)`` for one sample, else
            ``(*leading dimensions, *output_shape)``; sparse when :attr:`sparse`.

        Raises:
            QiskitMachineLearningError: (a ``ValueError``) when the last dimension of ``input_data``
                is not :attr:`num_inputs`.
            ValueError: when ``weights`` do not have :attr:`num_weights` values.
            TypeError: for complex or bool values.
        """
        rows, shape = self._validate_input(input_data)
        return self._validate_forward_output(self._forward(rows, self._validate_weights(weights)), shape)

    def backward(self, input_data, weights):
        """The gradients of the outputs with respect to the inputs and the weights, per sample.

        Args:
            input_data (array_like or float or None): as for :meth:`forward`.
            weights (array_like or None): as for :meth:`forward`.

        Returns:
            tuple: the input gradients ``(..., *output_shape, num_inputs)`` (None unless
            :attr:`input_gradients`, or without inputs) and the weight gradients ``(...,
            *output_shape, num_weights)`` (None without weights); sparse when :attr:`sparse`.

        Raises:
            QiskitMachineLearningError, ValueError, TypeError: as :meth:`forward`.
        """
        rows, shape = self._validate_input(input_data)
        input_grad, weight_grad = self._backward(rows, self._validate_weights(weights))
        return self._validate_backward_output(input_grad, weight_grad, shape)

    @abstractmethod
    def _forward(self, input_data: np.ndarray | None, weights: np.ndarray | None):
        """The outputs ``(batch, *output_shape)`` for rows ``input_data`` ``(batch, num_inputs)``."""

    @abstractmethod
    def _backward(self, input_data: np.ndarray | None, weights: np.ndarray | None):
        """The input and weight gradients (each an array or None) for rows ``input_data``."""
