"""Helpers of the tests ported from qiskit-machine-learning 0.9 (``tests/qnn/test_qiskit_ml_ported_*.py``,
``tests/test_torch_connector_ported*.py``, ``tests/test_example_qiskit_ml_primitives.py``).

A ported case is written once, as a function of a :class:`Library` (the classes a
qiskit-machine-learning user imports), and run twice: with qiskit-machine-learning's classes, the
oracle, and with qnn_torch's, either on a given device (:func:`ours`) or exactly as a
qiskit-machine-learning user calls them, with the same primitives, gradients, pass managers and
``sparse=`` (:func:`imported`). The values it returns are compared by :func:`assert_same`.

The cases that pass what qnn_torch gained in issue 20 (primitives, gradients, ``sparse``,
``pass_manager``, ``default_precision``, the ``NeuralNetwork`` base class, qiskit-ml's error class)
run their oracle side first, through :func:`oracle`, so that a failure of qiskit-machine-learning
itself is told apart from one of qnn_torch.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable, NamedTuple

import numpy as np
import torch

ATOL = 1e-6
"""Exact devices: every output and gradient within 1e-6 of qiskit-machine-learning's."""

DEVICES = ["default.qubit", "qiskit.aer"]
"""Each ported case runs on the default engine and on Qiskit Aer, both exact (shots=None)."""


class Library(NamedTuple):
    """The classes a qiskit-machine-learning user imports, and the error its input checks raise."""

    name: str
    EstimatorQNN: Any
    SamplerQNN: Any
    TorchConnector: Any
    input_error: type
    NeuralNetwork: Any = None


def theirs() -> Library:
    """qiskit-machine-learning 0.9 with its default, exact primitives: the oracle."""
    from qiskit_machine_learning import QiskitMachineLearningError
    from qiskit_machine_learning.connectors import TorchConnector
    from qiskit_machine_learning.neural_networks import EstimatorQNN, NeuralNetwork, SamplerQNN

    return Library("qiskit-machine-learning", EstimatorQNN, SamplerQNN, TorchConnector,
                   QiskitMachineLearningError, NeuralNetwork)


class _MissingError(Exception):
    """Stands for qnn_torch's ``QiskitMachineLearningError`` while it has none: nothing raises it."""


class _MissingClass:
    """Stands for qnn_torch's ``NeuralNetwork`` while it has none: constructing a subclass raises."""

    def __init__(self, *args, **kwargs):
        raise ImportError("qnn_torch has no NeuralNetwork (issue 20)")


def imported() -> Library:
    """qnn_torch's classes as a qiskit-machine-learning user imports them: the same arguments
    (primitives, gradients, ``sparse``, ``pass_manager``), no ``device=``. A class qnn_torch lacks
    becomes a stand-in (:class:`_MissingError`, :class:`_MissingClass`), so that only the cases that
    use it fail."""
    import qnn_torch

    return Library("qnn_torch as imported", qnn_torch.EstimatorQNN, qnn_torch.SamplerQNN,
                   qnn_torch.TorchConnector, getattr(qnn_torch, "QiskitMachineLearningError", _MissingError),
                   getattr(qnn_torch, "NeuralNetwork", _MissingClass))


def ours(device: str = "default.qubit", shots: int | None = None, **options) -> Library:
    """qnn_torch's classes on ``device`` (qiskit-machine-learning's primitives become ``device=``)."""
    import qnn_torch

    kwargs = {"device": device, "shots": shots}
    if options:
        kwargs["device_options"] = options
    return Library(f"qnn_torch on {device}", partial(qnn_torch.EstimatorQNN, **kwargs),
                   partial(qnn_torch.SamplerQNN, **kwargs), qnn_torch.TorchConnector, ValueError)


def as_array(value):
    """NumPy for a tensor (detached; dense if sparse) or a ``sparse`` array, the value itself
    otherwise."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        return (value.to_dense() if value.is_sparse else value).numpy()
    if not isinstance(value, np.ndarray) and hasattr(value, "todense"):  # sparse.SparseArray
        return np.asarray(value.todense())
    return value


def assert_same(ours_value, theirs_value, atol=ATOL, where="result"):
    """Recursively: the same structure, ``None`` where qiskit-machine-learning gives ``None``,
    arrays of the same shape within ``atol`` (a number, or a function of the oracle's array)."""
    ours_value, theirs_value = as_array(ours_value), as_array(theirs_value)
    if theirs_value is None or ours_value is None:
        assert ours_value is None and theirs_value is None, (
            f"{where}: qnn_torch gives {type(ours_value).__name__}, qiskit-machine-learning "
            f"{type(theirs_value).__name__}")
        return
    if isinstance(theirs_value, dict):
        assert set(ours_value) == set(theirs_value), where
        for key in theirs_value:
            assert_same(ours_value[key], theirs_value[key], atol, f"{where}[{key!r}]")
        return
    if isinstance(theirs_value, (list, tuple)) and not _numeric(theirs_value):
        assert len(ours_value) == len(theirs_value), where
        for i, (a, b) in enumerate(zip(ours_value, theirs_value)):
            assert_same(a, b, atol, f"{where}[{i}]")
        return
    if isinstance(theirs_value, str):
        assert ours_value == theirs_value, where
        return
    a, b = np.asarray(ours_value), np.asarray(theirs_value)
    assert a.shape == b.shape, f"{where}: shape {a.shape}, qiskit-machine-learning {b.shape}"
    tolerance = np.broadcast_to(atol(b) if callable(atol) else atol, b.shape)
    bad = ~(np.abs(a - b) <= tolerance)
    assert not bad.any(), (
        f"{where}: {bad.sum()} of {b.size} values differ from qiskit-machine-learning's by more than the "
        f"tolerance; worst {np.max(np.abs(a - b) - tolerance):.3g} above it at "
        f"{np.argwhere(bad)[0].tolist()} "
        f"(qnn_torch {a[bad][0]!r}, qiskit-machine-learning {b[bad][0]!r})")


def _numeric(value) -> bool:
    """Whether a list or tuple is a vector of numbers (a leaf), not a sequence of results."""
    return all(isinstance(v, (int, float, np.number)) and not isinstance(v, bool) for v in value)


def binomial_tolerance(shots: int):
    """5 sigma of a probability estimated from ``shots`` samples, plus one count for the
    discreteness of rare outcomes (an outcome of probability 1e-4 is seen once in 1% of runs)."""
    return lambda p: 5 * np.sqrt(np.clip(p * (1 - p), 0, None) / shots) + 1 / shots


_SHIFTABLE = {"rx", "ry", "rz", "p"}  # rotations exp(-i theta G) with G of eigenvalues +-1/2
_FIXED = {"h", "cx", "x", "sx", "measure", "barrier"}


def shift_rule_sigma(circuit, parameters, values, shots: int) -> np.ndarray:
    """An upper bound on the standard deviation of a parameter-shift gradient of a probability
    (or a sum of probabilities of one sample) estimated with ``shots`` samples per circuit.

    Each gate ``g`` whose angle ``theta_g`` depends on parameter ``p`` contributes
    ``(P(theta_g + pi/2) - P(theta_g - pi/2)) / 2`` times ``d theta_g / d p``; the two estimates
    have variance at most ``1 / (4 shots)`` each, so the gradient's variance is at most
    ``sum_g (d theta_g / d p)**2 / (8 shots)``.

    Args:
        circuit (QuantumCircuit): the circuit (composite gates are decomposed).
        parameters (Sequence[Parameter]): the parameters differentiated, in order.
        values (dict): a value for every parameter of the circuit.
        shots (int): the shots per circuit.

    Returns:
        numpy.ndarray: one bound per parameter.
    """
    from qiskit.circuit import ParameterExpression

    flat = circuit
    for _ in range(10):
        if {inst.operation.name for inst in flat.data} <= _SHIFTABLE | _FIXED:
            break
        flat = flat.decompose()
    else:
        others = set(flat.count_ops()) - _SHIFTABLE - _FIXED
        raise ValueError(f"gates without a two-term shift rule: {others}")
    squares = np.zeros(len(parameters))
    for inst in flat.data:
        for angle in inst.operation.params:
            if not isinstance(angle, ParameterExpression):
                continue
            for k, param in enumerate(parameters):
                if param in angle.parameters:
                    derivative = angle.gradient(param)
                    if isinstance(derivative, ParameterExpression):
                        derivative = derivative.bind({q: values[q] for q in derivative.parameters}).numeric()
                    squares[k] += float(derivative) ** 2
    return np.sqrt(squares / (8 * shots))


class OracleFailed(Exception):
    """qiskit-machine-learning failed a ported case: the test is broken, not qnn_torch."""


def oracle(case: Callable, *args, **kwargs) -> Any:
    """Runs ``case`` with qiskit-machine-learning (the :func:`theirs` library first); a failure is
    raised as :class:`OracleFailed`, so that it reads as a broken test."""
    try:
        return case(theirs(), *args, **kwargs)
    except Exception as error:  # noqa: BLE001 - re-raised with its cause
        raise OracleFailed(f"qiskit-machine-learning fails the ported case {case.__name__}: "
                           f"{type(error).__name__}: {error}") from error


def precision_tolerance(precision: float, samples: int = 2):
    """5 standard deviations of the difference of ``samples`` independent estimates whose standard
    deviation is at most ``precision`` each (an estimator's precision, or one over the square root of
    its shots for a Pauli term of coefficient 1, times the sum of the coefficients' magnitudes)."""
    return 5 * precision * np.sqrt(samples)


def shift_rule_factor(circuit, parameters, values) -> np.ndarray:
    """``sqrt(sum_g (d theta_g / d p)**2)`` per parameter ``p`` over the gates ``g`` whose angle
    depends on it: a parameter-shift gradient built from estimates of standard deviation ``s`` each
    has a standard deviation of at most ``s`` times this over the square root of 2."""
    return shift_rule_sigma(circuit, parameters, values, shots=1) * np.sqrt(8)
