"""A circuit's leaves: its gates decomposed into *angle gates* and *fixed gates*.

The adjoint engines see a circuit as a sequence of leaves: gates whose single angle depends on
the inputs or weights and that have a generator, :math:`U(\\theta) = e^{i\\theta H}`
(``("angle", op)``), and gates that depend on neither and have a matrix (``("fixed", op)``).
Anything else is decomposed until it is one of the two. The decisions are recorded
(``replay``) so that the same angles can be collected again while tracing the angle
expressions, which :class:`AnglePrograms` compiles to NumPy once per input shape.
"""

from __future__ import annotations

import torch

from .angles import numpy_program
from ..circuits import PENNYLANE_LOCK
from .base import EngineUnavailable
from .shape_cache import ShapeCache
from .tracing import trace

__all__ = ["AnglePrograms", "circuit_leaves"]


def _flatten(op, replay: list, leaves: list) -> None:
    """Decompose ``op`` (eagerly, with values) recording the decisions in ``replay``."""
    depends = any(isinstance(d, torch.Tensor) and d.requires_grad for d in op.data)
    if depends and op.num_params == 1 and op.has_generator:
        replay.append("angle")
        leaves.append(("angle", op))
    elif not depends and op.has_matrix:
        replay.append("fixed")
        leaves.append(("fixed", op))
    elif op.has_decomposition:
        replay.append("decompose")
        for sub in op.decomposition():
            _flatten(sub, replay, leaves)
    else:
        raise EngineUnavailable(f"operation {op.name} has neither a generator, a matrix nor a decomposition")


def _replay(op, replay: list, position: int, angles: list) -> int:
    """Follow ``replay`` from ``position`` and collect the angle tensors (while tracing)."""
    action = replay[position]
    position += 1
    if action == "angle":
        angles.append(op.data[0])
    elif action == "decompose":
        for sub in op.decomposition():
            position = _replay(sub, replay, position, angles)
    return position


def circuit_leaves(circuit, x: torch.Tensor, w: torch.Tensor) -> tuple[list, list, list]:
    """Queue ``circuit`` (a :class:`~qnn_torch.circuits.CircuitDescription`) with tracked inputs
    and weights (the angles that depend on them are those autograd tracks) and decompose it.

    Returns:
        tuple: ``(replay, leaves, measurements)``; ``leaves`` is a list of ``("angle", op)`` and
        ``("fixed", op)`` in circuit order.

    Raises:
        EngineUnavailable: for an operation with neither a generator, a matrix nor a decomposition.
    """
    with torch.enable_grad():
        x = x.detach().clone().requires_grad_(True)
        w = w.detach().clone().requires_grad_(True)
        ops, measurements = circuit.queue(x, w)
        replay, leaves = [], []
        for op in ops:
            _flatten(op, replay, leaves)
    return replay, leaves, measurements


class AnglePrograms:
    """The angles of a circuit's angle gates as NumPy programs, one per input shape.

    ``programs(x, w, tangents)`` returns ``fn(x, w) -> theta`` (``(B, G)``) or, with
    ``tangents``, ``-> (theta, dtheta)`` with ``dtheta`` ``(B, G, I + P)``: the derivatives of
    every angle with respect to every input, then every weight, of the same sample.

    Args:
        circuit (CircuitDescription): the circuit.
        replay (list[str]): the decisions of :func:`circuit_leaves`.
        num_angles (int): the number of angle gates.
    """

    def __init__(self, circuit, replay: list, num_angles: int):
        self.circuit = circuit
        self.replay = replay
        self.num_angles = num_angles
        self._programs = ShapeCache()
        self._eager_calls = ShapeCache()  # key -> the calls (tokens) eager angles served
        self._eager_only = ShapeCache()  # keys whose angles cannot be compiled -> True

    def after_eager_calls(self, x: torch.Tensor, w: torch.Tensor, tangents: bool, calls: int, call):
        """The program for these shapes, compiled once :meth:`eager` has served ``calls`` calls of
        them; None until then (the caller computes those calls' angles with :meth:`eager`), and
        None for good where the angles cannot be compiled (an operation the NumPy program does not
        translate, or Python control flow on values): those shapes stay eager.

        ``call`` identifies the caller's call (any hashable): the sub-batches of one call count
        once. A large circuit's first call then costs no tracing (a second at 16 qubits), and the
        calls after the next one are faster than eager ones (at 16 qubits, batch 1: 22 ms instead
        of 41 ms per training step)."""
        key = (tuple(x.shape), tuple(w.shape), tangents)
        program = self._programs.get(key)
        if program is not None:
            return program
        if self._eager_only.get(key):
            return None
        served = self._eager_calls.get(key)
        if served is None:
            served = set()
            self._eager_calls.put(key, served)
        if call in served or len(served) < calls:
            served.add(call)
            return None
        try:
            return self(x, w, tangents)
        except EngineUnavailable:
            self._eager_only.put(key, True)
            return None

    def __call__(self, x: torch.Tensor, w: torch.Tensor, tangents: bool):
        key = (tuple(x.shape), tuple(w.shape), tangents)
        program = self._programs.get(key)  # lock-free when cached: the hot path
        if program is not None:
            return program
        with PENNYLANE_LOCK:  # queuing and make_fx are not thread-safe
            program = self._programs.get(key)
            if program is None:  # (another thread may have built it meanwhile)
                graph = trace(self._angles(x.shape[0]), x.detach().cpu(), w.detach().cpu())
                program = numpy_program(graph, tangents)
                self._programs.put(key, program)
        return program

    def nbytes(self) -> int:
        """Bytes of the tables the compiled programs hold (at most :data:`~.base.SHAPE_CACHE_SIZE`
        input shapes are kept)."""
        return self._programs.nbytes()

    def eager(self, x: torch.Tensor, w: torch.Tensor, tangents: bool):
        """The angles (and their tangents) computed by queuing the circuit now, without
        compiling a program: a few milliseconds per call, but no tracing (which costs seconds
        on its first use for large circuits). Returns float64 tensors on ``x``'s device."""
        batch = x.shape[0]
        with torch.enable_grad():
            x = x.detach().to(torch.float64).requires_grad_(tangents)
            w = w.detach().to(torch.float64)
            if tangents:  # one copy of the weights per sample: per-sample derivatives
                w = w.expand(batch, -1).clone() if w.dim() == 1 else w.clone()
                w.requires_grad_(True)
            with PENNYLANE_LOCK:
                collected = self._collect(x, w)
            theta = self._stack(collected, batch).detach()
            if not tangents:
                return theta, None
            # each angle's own (small) graph, one backward each: samples are independent
            columns = []
            for angle in collected:
                if not (isinstance(angle, torch.Tensor) and angle.requires_grad):
                    columns.append(torch.zeros(batch, x.shape[1] + w.shape[-1], dtype=torch.float64, device=x.device))
                    continue
                # angles may share parts of the graph (a template computing all its angles at once)
                gx, gw = torch.autograd.grad(angle.sum(), (x, w), allow_unused=True, retain_graph=True)
                columns.append(torch.cat([torch.zeros_like(x) if gx is None else gx,
                                          torch.zeros_like(w) if gw is None else gw], dim=-1))
        dtheta = torch.stack(columns, dim=1) if columns else torch.zeros(batch, 0, x.shape[1] + w.shape[-1],
                                                                         dtype=torch.float64, device=x.device)
        return theta, dtheta

    def _collect(self, x, w) -> list:
        """The angle tensors of the circuit queued with ``x`` and ``w``, in leaf order."""
        ops, _ = self.circuit.queue(x, w)
        collected: list = []
        position = 0
        for op in ops:
            position = _replay(op, self.replay, position, collected)
        if position != len(self.replay) or len(collected) != self.num_angles:
            raise EngineUnavailable("the circuit's structure changed between calls")
        return collected

    @staticmethod
    def _stack(collected: list, batch: int) -> torch.Tensor:
        if not collected:
            return torch.zeros(batch, 0, dtype=torch.float64)
        return torch.stack([torch.broadcast_to(torch.as_tensor(a, dtype=torch.float64), (batch,)) for a in collected],
                           dim=1)

    def _angles(self, batch: int):
        def angles(x, w):
            return self._stack(self._collect(x, w), batch)

        return angles
