"""qiskit-machine-learning's error class, so that a user's ``except QiskitMachineLearningError`` works
after the imports change.

:class:`QiskitMachineLearningError` is a ``qiskit.exceptions.QiskitError``, as qiskit-machine-learning's
is, and a ``ValueError``, as qnn_torch's errors of bad input were before it, so ``except ValueError``
keeps working. Importing ``qiskit.exceptions`` loads Qiskit (about a thousand modules), so the class is
made on first use (PEP 562): networks that never raise it, and ``import qnn_torch``, load no Qiskit.
Code that raises it builds the error with :func:`machine_learning_error`.

**Example**

>>> from qnn_torch.exceptions import QiskitMachineLearningError, machine_learning_error
>>> error = machine_learning_error("input_data has 3 features; the network takes 2.")
>>> isinstance(error, QiskitMachineLearningError) and isinstance(error, ValueError)
True
"""

from __future__ import annotations

import threading

__all__ = ["QiskitMachineLearningError", "machine_learning_error"]  # noqa: F822 - made on first use


def _make_class() -> type:
    from qiskit.exceptions import QiskitError

    class QiskitMachineLearningError(QiskitError, ValueError):
        """An error of qiskit-machine-learning's kind: bad shapes of inputs, weights or outputs, an
        ``interpret`` without ``output_shape``, a sparse connector on a dense network.

        A ``qiskit.exceptions.QiskitError`` (its ``message`` attribute holds the text, and ``str()``
        quotes it, as Qiskit's errors do) and a ``ValueError``.
        """

    QiskitMachineLearningError.__module__ = __name__
    QiskitMachineLearningError.__qualname__ = "QiskitMachineLearningError"
    return QiskitMachineLearningError


def __getattr__(name: str):
    if name != "QiskitMachineLearningError":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    with _LOCK:  # made once, also when two threads raise at once
        if name not in globals():
            globals()[name] = _make_class()  # every later lookup, and pickle, finds this class
    return globals()[name]


_LOCK = threading.Lock()


def machine_learning_error(message: str) -> ValueError:
    """A :class:`QiskitMachineLearningError` with ``message``, to raise (Qiskit loads on this call).

    Args:
        message (str): what went wrong, naming the argument, what was expected and what was given.

    Returns:
        ValueError: the error, an instance of :class:`QiskitMachineLearningError`.
    """
    cls = globals().get("QiskitMachineLearningError") or __getattr__("QiskitMachineLearningError")
    return cls(message)
