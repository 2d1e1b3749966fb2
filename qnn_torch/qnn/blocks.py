"""Turn a feature-map or ansatz argument into a circuit block with a known parameter count.

Accepted forms:

* a template class with a ``shape`` staticmethod (``RealAmplitudes``,
  ``qml.StronglyEntanglingLayers``) or a ``functools.partial`` of one; keywords of ``shape``
  that the template's constructor does not take (``n_layers``) may be given in the partial;
* a template class that takes one feature per wire (``ZZFeatureMap``, ``qml.AngleEmbedding``)
  or a partial of one;
* a plain function ``fn(params, wires)``, whose parameter count must be given explicitly.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from functools import partial
from typing import Callable

import numpy as np
import pennylane as qml

__all__ = ["CircuitBlock", "resolve_block"]


@dataclass(frozen=True)
class CircuitBlock:
    """A circuit piece: ``apply(params, wires)`` queues gates taking ``num_params`` values.

    Attributes:
        apply (Callable): called with a tensor of shape ``(num_params,)`` or
            ``(batch, num_params)`` and the wires.
        num_params (int): the number of parameters the block consumes.
        name (str): a readable name for messages and ``repr``.
    """

    apply: Callable
    num_params: int
    name: str


@dataclass(frozen=True)
class _TemplateCall:
    """``apply(params, wires)`` for a template class: the flat parameters reshaped to the
    template's shape, a leading batch kept (a module-level class, so that networks pickle)."""

    template: type
    shape: tuple
    args: tuple
    keywords: tuple

    def __call__(self, params, wires):
        batch = params.shape[:-1]
        return self.template(params.reshape(*batch, *self.shape), *self.args, wires=wires,
                             **dict(self.keywords))


def _unwrap(spec):
    """Return the underlying callable and the partial's keywords."""
    if isinstance(spec, partial):
        return spec.func, dict(spec.keywords), tuple(spec.args)
    return spec, {}, ()


def _shape_params(cls, keywords, num_qubits):
    """Call ``cls.shape`` with the wire count and any of its keywords found in ``keywords``."""
    sig = inspect.signature(cls.shape).parameters
    kwargs = {}
    for name, param in sig.items():
        if name in ("n_wires", "num_wires"):
            kwargs[name] = num_qubits
        elif name in keywords:
            kwargs[name] = keywords[name]
        elif param.default is inspect.Parameter.empty:
            if name == "n_layers":
                kwargs[name] = 1
            else:
                raise TypeError(
                    f"cannot size {cls.__name__}: its shape() needs {name!r}; give it in a "
                    f"functools.partial, e.g. partial({cls.__name__}, {name}=...)."
                )
    return tuple(int(s) for s in np.atleast_1d(cls.shape(**kwargs)))


def _check_options(cls, shape, args, keywords, num_qubits: int, role: str, name: str) -> None:
    """Build the template once, unqueued, so that its options are checked now, not at the first call."""
    try:
        with qml.QueuingManager.stop_recording():
            cls(np.zeros(shape), *args, wires=range(num_qubits), **keywords)
    except (ValueError, TypeError) as err:
        raise type(err)(f"{role} {name} on {num_qubits} qubits: {err}") from None


def resolve_block(spec, num_qubits: int, num_params: int | None, role: str, argument: str) -> CircuitBlock:
    """Resolve ``spec`` for ``num_qubits`` wires.

    Args:
        spec: the template class, partial or function.
        num_qubits (int): the number of wires the block acts on.
        num_params (int or None): the explicit parameter count (required for plain functions).
        role (str): ``"feature_map"`` or ``"ansatz"``, for messages.
        argument (str): the keyword that gives the count explicitly (``num_inputs``/``num_weights``).

    Returns:
        CircuitBlock: the resolved block.

    Raises:
        TypeError: if ``spec`` is not callable or its parameter count cannot be told.
        ValueError: if an explicit count contradicts the template's.
    """
    if not callable(spec):
        raise TypeError(
            f"{role} must be a template class, a functools.partial of one, or a function "
            f"(params, wires); got {spec!r}."
        )
    func, keywords, args = _unwrap(spec)
    name = getattr(func, "__name__", repr(func))
    if inspect.isclass(func):
        init_params = inspect.signature(func.__init__).parameters
        if hasattr(func, "shape"):
            shape = _shape_params(func, keywords, num_qubits)
            # keywords that only size the weights (n_layers) are not constructor arguments
            ctor_kw = {k: v for k, v in keywords.items() if k in init_params}
        else:
            shape = (num_qubits,)  # one feature per wire
            ctor_kw = keywords
        count = int(np.prod(shape))

        apply = _TemplateCall(func, shape, args, tuple(ctor_kw.items()))

        if num_params is not None and int(num_params) != count:
            raise ValueError(
                f"{argument} must be {count} for {role} {name} on {num_qubits} qubits; got {num_params}."
            )
        _check_options(func, shape, args, ctor_kw, num_qubits, role, name)
        return CircuitBlock(apply, count, name)
    if num_params is None:
        raise TypeError(
            f"{role} {name} is a plain function: give its parameter count explicitly with "
            f"{argument}=..."
        )
    if isinstance(num_params, bool) or not isinstance(num_params, (int, np.integer)) or num_params < 0:
        raise ValueError(f"{argument} must be a non-negative integer; got {num_params!r}.")

    return CircuitBlock(spec, int(num_params), name)


def _no_gates(params, wires) -> None:
    """The feature-map and ansatz blocks of a network given as one circuit function."""


def whole_circuit(circuit, num_inputs, num_weights, feature_map,
                  ansatz) -> tuple[Callable, CircuitBlock, CircuitBlock]:
    """Check a whole-circuit function ``circuit(inputs, weights)`` and its parameter counts.

    Returns:
        tuple: ``circuit`` and two gate-free blocks that carry the counts of inputs and weights.

    Raises:
        TypeError: if ``circuit`` is not callable or a count is missing.
        ValueError: if ``feature_map`` or ``ansatz`` is given too, or a count is negative.
    """
    if feature_map is not None or ansatz is not None:
        raise ValueError("circuit replaces feature_map and ansatz: give either circuit, or feature_map and "
                         f"ansatz; got circuit and {'feature_map' if feature_map is not None else 'ansatz'}.")
    if not callable(circuit):
        raise TypeError(f"circuit must be a function (inputs, weights) queuing the circuit; got {circuit!r}.")
    name = getattr(circuit, "__name__", repr(circuit))
    counts = []
    for argument, value in (("num_inputs", num_inputs), ("num_weights", num_weights)):
        if value is None:
            raise TypeError(f"circuit {name} is a function: give {argument}=... (its number of "
                            f"{argument[4:]}).")
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"{argument} must be a non-negative integer; got {value!r}.")
        counts.append(int(value))
    return (circuit, CircuitBlock(_no_gates, counts[0], f"{name} (inputs)"),
            CircuitBlock(_no_gates, counts[1], f"{name} (weights)"))
