"""A circuit decomposed into leaf gates: each engine says which operations are leaves for it.

Templates and composite gates decompose into smaller operations, and those again, until every
operation is one an engine applies directly. :func:`decompose` walks the operations depth first,
in circuit order, and asks a *leaf rule* of each: a leaf's kind, or None to decompose it further.
The engines differ only in their rule:

* the adjoint engines (:func:`circuit_leaves`): *angle gates*, whose single angle depends on the
  inputs or weights and that have a generator, :math:`U(\\theta) = e^{i\\theta H}`
  (``"angle"``), and *fixed gates*, which depend on neither and have a matrix (``"fixed"``);
* the torch state-vector simulator: gates it has a kernel for, and other operations with a
  matrix (:mod:`~qnn_torch.engines.torch_traced`);
* the memory estimate: gates with a matrix on at most two wires
  (:meth:`~qnn_torch.engines.base.Engine.num_gates`).

The adjoint engines record the walk's decisions (``"angle"``, ``"fixed"`` or ``"decompose"``)
so that :func:`replay_angles` collects the same angles again while the angle expressions are
traced (:mod:`~qnn_torch.engines.angle_programs`). A template that computes the angles of its
gates at once (``compute_angles``, next to its ``compute_decomposition``) and whose gates are all
leaves is recorded as ``("template", count)``: the replay takes its angles as one
:class:`AngleBlock` and skips its ``count`` gates, which it never builds, so that a traced program
has a few operations per template instead of several per gate. A template that also describes its
gates (``compute_gates``: their classes, wires and fixed parameters) is not decomposed for the
adjoint engines' analysis either: its gates come as
:class:`~qnn_torch.engines.leaf_matrices.LeafGate` leaves, never built (the templates' tests hold
``compute_gates`` and ``compute_angles`` to their decompositions, configuration by configuration).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from pennylane.operation import Operator

from ..circuits import CircuitDescription
from .errors import EngineUnavailable
from .leaf_matrices import LeafGate
from .structure_key import SharedAnalyses, structure_key

__all__ = ["AngleBlock", "angle_columns", "angle_or_fixed", "circuit_leaves", "decompose", "queue_tracked",
           "queued_leaves", "replay_angles", "shared_analysis"]

TEMPLATE = "template"
"""str: the decision of a template whose angles :func:`replay_angles` takes at once."""


class AngleBlock(NamedTuple):
    """The angles of consecutive angle gates computed at once by a template, ``(..., k)``."""

    angles: Any


def angle_columns(collected: list) -> list:
    """The angles :func:`replay_angles` collected, one per angle gate (blocks split into columns)."""
    columns: list = []
    for angle in collected:
        if isinstance(angle, AngleBlock):
            columns.extend(angle.angles[..., j] for j in range(angle.angles.shape[-1]))
        else:
            columns.append(angle)
    return columns


def _angle_function(op, name: str = "compute_angles") -> Callable | None:
    """``compute_angles`` (or another ``name``) of ``op``'s class, if the class that defines its
    ``compute_decomposition`` defines it too and no class overrides ``decomposition`` (a subclass
    with other gates does not inherit angles that are not its own)."""
    if type(op).decomposition is not Operator.decomposition:
        return None
    for klass in type(op).__mro__:
        if "compute_decomposition" in vars(klass):
            function = vars(klass).get(name)
            return None if function is None else getattr(type(op), name)
    return None


def _described_gates(op) -> list[tuple] | None:
    """The leaves of a template that describes its gates (``compute_gates``, next to its
    ``compute_decomposition`` and ``compute_angles``) and whose parameters all depend on the inputs
    or weights: ``[(kind, LeafGate)]``, its angle gates those whose angles ``compute_angles`` gives;
    None for any other operation (it is decomposed)."""
    describe = _angle_function(op, "compute_gates")
    if describe is None or _angle_function(op) is None or not op.data:
        return None
    if not all(isinstance(d, torch.Tensor) and d.requires_grad for d in op.data):
        return None
    return [("angle", LeafGate(cls, wires, None)) if data is None else ("fixed", LeafGate(cls, wires, data))
            for cls, wires, data in describe(op.wires, **op.hyperparameters)]


def _one_block(op, decisions: list, leaves: list) -> bool:
    """Whether the angle gates of ``op``'s decomposition, walked into ``decisions`` and ``leaves``,
    are all leaves and their angles are ``op``'s ``compute_angles``, value for value: the condition
    for :func:`replay_angles` to take them as one block."""
    function = _angle_function(op)
    if function is None or any(d not in ("angle", "fixed") for d in decisions):
        return False
    angles = [leaf.data[0] for kind, leaf in leaves if kind == "angle"]
    with torch.no_grad():
        try:
            block = torch.as_tensor(function(*op.data, **op.hyperparameters))
        except Exception:  # noqa: BLE001 - a template's own code: no block, the gates as they are
            return False
        if block.shape[-1:] != (len(angles),):
            return False
        if not angles:
            return True
        shape = block.shape[:-1]
        if not all(isinstance(a, torch.Tensor) and a.shape == shape and a.dtype == block.dtype
                   for a in angles):
            angles = [torch.as_tensor(a, dtype=block.dtype) for a in angles]
            try:  # the block's batch shape is the gates' own, not a broadcast of it
                if torch.broadcast_shapes(*(a.shape for a in angles)) != shape:
                    return False
            except RuntimeError:
                return False
            angles = [a.broadcast_to(shape) for a in angles]
        return torch.equal(torch.stack(angles, dim=-1), block)


def decompose(ops, leaf_kind: Callable[[object], str | None], decisions: list | None = None,
              described: bool = False) -> list[tuple]:
    """``ops`` decomposed depth first, in order, into ``(kind, op)`` leaves.

    Args:
        ops (Iterable[Operator]): the operations.
        leaf_kind (Callable): ``leaf_kind(op)`` gives a leaf's kind, or None for an operation to
            decompose (it must then have a decomposition); it may raise
            :class:`~qnn_torch.engines.errors.EngineUnavailable` for an operation it cannot take.
        decisions (list or None): if given, every operation's kind, or ``"decompose"``, is appended
            in the order of the walk; a template whose angles :func:`replay_angles` can take at
            once gets ``("template", number of its gates)`` instead of ``"decompose"``.
        described (bool): with the adjoint engines' rule (:func:`angle_or_fixed`): a template that
            describes its gates (``compute_gates``) gives them as
            :class:`~qnn_torch.engines.leaf_matrices.LeafGate` leaves, without building them, and
            ``("template", its gates)``.
    """
    leaves: list[tuple] = []

    def walk(op):
        kind = leaf_kind(op)
        gates = _described_gates(op) if described and kind is None else None
        if gates is not None:
            if decisions is not None:
                decisions.append((TEMPLATE, len(gates)))
                decisions.extend(gate_kind for gate_kind, _ in gates)
            leaves.extend(gates)
            return
        if decisions is not None:
            decisions.append("decompose" if kind is None else kind)
        if kind is None:
            first_decision, first_leaf = len(decisions or ()), len(leaves)
            for sub in op.decomposition():
                walk(sub)
            if decisions is not None and _one_block(op, decisions[first_decision:], leaves[first_leaf:]):
                decisions[first_decision - 1] = (TEMPLATE, len(decisions) - first_decision)
        else:
            leaves.append((kind, op))

    for op in ops:
        walk(op)
    return leaves


def angle_or_fixed(op) -> str | None:
    """The adjoint engines' leaf rule: ``"angle"``, ``"fixed"``, or None to decompose ``op`` (whose
    parameters that depend on inputs or weights are tensors that require grad).

    Raises:
        EngineUnavailable: for an operation with neither a generator, a matrix nor a decomposition.
    """
    depends = any(isinstance(d, torch.Tensor) and d.requires_grad for d in op.data)
    if depends and op.num_params == 1 and op.has_generator:
        return "angle"
    if not depends and op.has_matrix:
        return "fixed"
    if op.has_decomposition:
        return None
    raise EngineUnavailable(f"operation {op.name} has neither a generator, a matrix nor a decomposition")


def queue_tracked(circuit: CircuitDescription, x: torch.Tensor, w: torch.Tensor) -> tuple:
    """Queue ``circuit`` with tracked copies of ``x`` and ``w`` on the CPU (leaves that require grad:
    the parameters that depend on them are those autograd tracks).

    Returns:
        tuple: ``(ops, measurements, x, w)``, with the tracked copies.
    """
    with torch.enable_grad():
        x = x.detach().cpu().clone().requires_grad_(True)
        w = w.detach().cpu().clone().requires_grad_(True)
        ops, measurements = circuit.queue(x, w)
    return ops, measurements, x, w


def circuit_leaves(circuit: CircuitDescription, x: torch.Tensor, w: torch.Tensor) -> tuple[list, list, list]:
    """Queue ``circuit`` with tracked inputs and weights (:func:`queue_tracked`) and decompose it
    into angle and fixed gates.

    Returns:
        tuple: ``(decisions, leaves, measurements)``; ``leaves`` is a list of ``("angle", op)`` and
        ``("fixed", op)`` in circuit order.

    Raises:
        EngineUnavailable: for an operation with neither a generator, a matrix nor a decomposition.
    """
    return queued_leaves(queue_tracked(circuit, x, w))


def queued_leaves(queued: tuple) -> tuple[list, list, list]:
    """:func:`circuit_leaves` of a circuit :func:`queue_tracked` queued already."""
    ops, measurements, _, _ = queued
    decisions: list = []
    with torch.enable_grad():
        leaves = decompose(ops, angle_or_fixed, decisions, described=True)
    return decisions, leaves, measurements


def shared_analysis(shared: SharedAnalyses, circuit: CircuitDescription, x: torch.Tensor, w: torch.Tensor,
                    settings: tuple, analyse: Callable[[tuple], object]):
    """An engine's analysis of ``circuit``, shared with the live engines of circuits of the same
    structure (:mod:`~qnn_torch.engines.structure_key`).

    Args:
        shared (SharedAnalyses): the engine's analyses.
        circuit (CircuitDescription): the circuit.
        x (torch.Tensor): inputs.
        w (torch.Tensor): weights.
        settings (tuple): the engine's settings its analysis reads (part of the key).
        analyse (Callable): ``analyse(queued)`` analyses the circuit queued by :func:`queue_tracked`
            (:func:`queued_leaves` gives its leaves).

    Returns:
        SharedEntry: the analysis as ``value``, and the cache for the angle programs (which keeps
        the entry alive while the engine's angle programs hold it).
    """
    queued = queue_tracked(circuit, x, w)
    key = structure_key(circuit, *queued)
    return shared.get_or_make(None if key is None else (settings, key), lambda: analyse(queued))


def replay_angles(ops, decisions: list) -> list:
    """The angle of every angle gate of ``ops``, following the ``decisions`` of
    :func:`circuit_leaves` instead of deciding again (the angles may be traced tensors); a
    template's angles come as one :class:`AngleBlock` (:func:`angle_columns` splits them).

    Raises:
        EngineUnavailable: if the operations end before the decisions do.
    """
    angles: list = []
    position = 0

    def walk(op):
        nonlocal position
        action = decisions[position]
        position += 1
        if action == "angle":
            angles.append(op.data[0])
        elif isinstance(action, tuple):  # (TEMPLATE, its gates' decisions)
            angles.append(AngleBlock(type(op).compute_angles(*op.data, **op.hyperparameters)))
            position += action[1]
        elif action == "decompose":
            for sub in op.decomposition():
                walk(sub)

    for op in ops:
        walk(op)
    if position != len(decisions):
        raise EngineUnavailable("the circuit's structure changed between calls")
    return angles
