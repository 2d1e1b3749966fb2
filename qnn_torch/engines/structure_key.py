"""A circuit's structure as an exact key, and the analyses that live engines of one structure share.

Two networks built alike (the same templates with the same options, wires, observables and head)
have the same plan and the same angle programs: analysing and tracing the second again costs
tens of milliseconds for nothing. :func:`structure_key` turns a queued circuit into a key that
holds everything the adjoint engines' analysis reads, and :class:`SharedAnalyses` hands a second
engine of an equal key what the first one built.

The key is exact or absent. It holds, for every operation queued at the top level, its class,
wires, hyperparameters and parameters, and for every measurement its class, wires and observable:
numbers by their bits (``0.0`` and ``-0.0`` differ), arrays and untracked tensors by their bytes,
dtype and shape. A parameter that depends on the inputs or weights must be the tracked inputs or
weights themselves or a view of them that autograd tracks (a template's ``params.reshape(...)``):
then its values and derivatives are those of the inputs' or weights' storage at a known shape,
strides and offset, and the template's decomposition (a function of its class, parameters, wires
and hyperparameters) makes the same gates with the same angle expressions. Anything else (an angle
computed from an input in user code, a detached input, a value of a type not listed here) gives
None: the circuit is analysed on its own, as before.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Hashable

import numpy as np
import pennylane as qml
import torch

from .._compat import autograd_view_base
from .shape_cache import ShapeCache

__all__ = ["SharedAnalyses", "SharedEntry", "structure_key"]


class _Unkeyable(Exception):
    """A value the key cannot hold exactly."""


def _tensor(value: torch.Tensor, tracked: dict) -> tuple:
    if value.requires_grad:  # the tracked inputs or weights themselves, or a view autograd tracks
        base = value if value.grad_fn is None else autograd_view_base(value)
        source = tracked.get(id(base))
        if source is None or tracked[source] is not base:
            raise _Unkeyable  # computed from the inputs or weights, not just a view of them
        return source, str(value.dtype), tuple(value.shape), value.stride(), value.storage_offset()
    data = value.detach().resolve_conj().resolve_neg().cpu().contiguous().reshape(-1)
    return "tensor", str(value.dtype), tuple(value.shape), data.view(torch.uint8).numpy().tobytes()


def _frozen(value, tracked: dict) -> Hashable:
    """``value`` as an exact, hashable key, or :class:`_Unkeyable`."""
    if value is None or isinstance(value, (bool, str, type)):  # a class (a rotation's gate) by identity
        return type(value), value
    if isinstance(value, (int, np.integer)):
        return type(value), int(value)
    if isinstance(value, (float, np.floating)):
        return type(value), float(value).hex()
    if isinstance(value, (complex, np.complexfloating)):
        return type(value), float(value.real).hex(), float(value.imag).hex()
    if isinstance(value, torch.Tensor):
        return _tensor(value, tracked)
    if isinstance(value, np.ndarray) and value.dtype != object:
        return "array", value.dtype.str, value.shape, np.ascontiguousarray(value).tobytes()
    if isinstance(value, (tuple, list)):
        return type(value), tuple(_frozen(v, tracked) for v in value)
    if isinstance(value, dict):
        return dict, tuple((_frozen(k, tracked), _frozen(v, tracked)) for k, v in value.items())
    if isinstance(value, qml.wires.Wires):
        return "wires", _frozen(value.labels, tracked)
    if isinstance(value, qml.operation.Operator):
        return (type(value), _frozen(value.wires, tracked), _frozen(value.hyperparameters, tracked),
                _frozen(tuple(value.data), tracked))
    raise _Unkeyable


def _measurement(mp, tracked: dict) -> Hashable:
    obs = mp.obs
    if obs is not None and not isinstance(obs, qml.operation.Operator):
        raise _Unkeyable  # a mid-circuit measurement's value
    return type(mp), _frozen(mp.wires, tracked), _frozen(obs, tracked)


def structure_key(circuit, ops: list, measurements: list, x: torch.Tensor,
                  w: torch.Tensor) -> Hashable | None:
    """The exact key of a queued circuit's structure, or None where none can be made.

    Args:
        circuit (CircuitDescription): the circuit (its counts, head and kind of outputs enter the key).
        ops (list[Operator]): the operations it queued with the tracked ``x`` and ``w``.
        measurements (list): the measurements it returned.
        x (torch.Tensor): the tracked inputs the circuit was queued with (a leaf that requires grad).
        w (torch.Tensor): the tracked weights (likewise).

    Returns:
        Hashable or None: equal for two circuits only if the adjoint engines' analysis of them
        reads the same operations, parameters, wires and measurements.

    **Example**

    >>> import torch
    >>> from qnn_torch import EstimatorQNN
    >>> from qnn_torch.engines.decomposition import queue_tracked
    >>> circuit = EstimatorQNN(2).description
    >>> args = (torch.zeros(1, 2), torch.zeros(8))
    >>> structure_key(circuit, *queue_tracked(circuit, *args)) == structure_key(
    ...     EstimatorQNN(2).description, *queue_tracked(circuit, *args))
    True
    """
    tracked = {id(x): "x", id(w): "w", "x": x, "w": w}
    head = circuit.head
    try:
        return (circuit.num_qubits, circuit.num_inputs, circuit.num_weights, circuit.probabilities,
                circuit.output_size, _frozen(head, {}), tuple(_frozen(op, tracked) for op in ops),
                tuple(_measurement(mp, tracked) for mp in measurements))
    except _Unkeyable:
        return None


class SharedEntry(ShapeCache):
    """What the engines of one structure share: the angle programs by input shape (a
    :class:`~.shape_cache.ShapeCache`) and the engine's analysis, :attr:`value`. An engine's angle
    programs hold it, which keeps it alive.

    Args:
        value: the analysis.
    """

    def __init__(self, value):
        super().__init__()
        self.value = value


class SharedAnalyses:
    """Analyses by structure key, shared by the engines alive that hold them: an entry lives as long
    as one engine refers to it, so that nothing outlives the networks that use it.

    **Example**

    >>> shared = SharedAnalyses()
    >>> entry = shared.get_or_make(("a key",), lambda: "a plan")
    >>> entry.value, shared.get_or_make(("a key",), lambda: "another plan") is entry
    ('a plan', True)
    """

    def __init__(self):
        self._entries: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
        self._lock = threading.Lock()

    def get_or_make(self, key: Hashable | None, make) -> SharedEntry:
        """The entry for ``key``, its value made by ``make()`` if no live engine holds one (always
        made for a None key). The caller keeps the entry for as long as it uses the value."""
        if key is not None:
            with self._lock:
                entry = self._entries.get(key)
            if entry is not None:
                return entry
        entry = SharedEntry(make())
        if key is not None:
            with self._lock:
                entry = self._entries.setdefault(key, entry)
        return entry

    def __len__(self) -> int:
        return len(self._entries)
