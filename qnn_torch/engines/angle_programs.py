"""The angles of a circuit's angle gates, as NumPy programs generated once per input shape.

The adjoint engines need, on every call, the angle of every angle gate
(:mod:`~qnn_torch.engines.decomposition`) and its derivatives with respect to every input and
weight. The angles are small expressions the templates write in torch; :class:`AnglePrograms`
traces them once per input shape and generates a NumPy program from the graph
(:mod:`~qnn_torch.engines.numpy_codegen`), or computes them eagerly with autograd where a program
would cost more than it saves (the first calls of large circuits) or cannot be generated.
"""

from __future__ import annotations

import torch

from ..circuits import PENNYLANE_LOCK, CircuitDescription
from .errors import EngineUnavailable
from .decomposition import AngleBlock, angle_columns, replay_angles
from .numpy_codegen import numpy_program
from .shape_cache import ShapeCache
from .tracing import record

__all__ = ["AnglePrograms"]


class AnglePrograms:
    """The angles of a circuit's angle gates as NumPy programs, one per input shape.

    ``programs(x, w, tangents)`` returns ``fn(x, w) -> theta`` (``(B, G)``) or, with
    ``tangents``, ``-> (theta, dtheta)`` with ``dtheta`` ``(B, G, I + P)``: the derivatives of
    every angle with respect to every input, then every weight, of the same sample.

    Args:
        circuit (CircuitDescription): the circuit.
        decisions (list[str]): the decisions of
            :func:`~qnn_torch.engines.decomposition.circuit_leaves`.
        num_angles (int): the number of angle gates.
        programs (ShapeCache or None): where the programs are kept: a
            :class:`~qnn_torch.engines.structure_key.SharedEntry` shared with the engines of circuits
            of the same structure, or None for this circuit's own.
    """

    def __init__(self, circuit: CircuitDescription, decisions: list, num_angles: int,
                 programs: ShapeCache | None = None):
        self.circuit = circuit
        self.decisions = decisions
        self.num_angles = num_angles
        self._programs = ShapeCache() if programs is None else programs
        self._eager_calls = ShapeCache()  # key -> the calls (tokens) eager angles served
        self._eager_only = ShapeCache()  # keys whose angles no program can compute -> True

    def after_eager_calls(self, x: torch.Tensor, w: torch.Tensor, tangents: bool, calls: int, call):
        """The program for these shapes, generated once :meth:`eager` has served ``calls`` calls of
        them; None until then (the caller computes those calls' angles with :meth:`eager`), and
        None for good where no program can be generated (an operation the NumPy programs do not
        translate, or Python control flow on values): those shapes stay eager.

        ``call`` identifies the caller's call (any hashable): the sub-batches of one call count
        once. A large circuit's first call then costs no tracing, and the calls after the next one
        run the program, faster than eager angles (benchmarks/results/scaling.txt)."""
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
        with PENNYLANE_LOCK:  # queuing and tracing are not thread-safe
            program = self._programs.get(key)
            if program is None:  # (another thread may have built it meanwhile)
                graph = record(self._angles(x.shape[0]), x.detach().cpu(), w.detach().cpu())
                program = numpy_program(graph, tangents)
                self._programs.put(key, program)
        return program

    def nbytes(self) -> int:
        """Bytes of the tables the generated programs hold (at most
        :data:`~.shape_cache.SHAPE_CACHE_SIZE` input shapes are kept)."""
        return self._programs.nbytes()

    def eager(self, x: torch.Tensor, w: torch.Tensor, tangents: bool):
        """The angles (and their tangents) computed by queuing the circuit now, without
        generating a program: a few milliseconds per call, but no tracing (which costs seconds
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
            collected = angle_columns(collected)
            if not tangents:
                return theta, None
            # each angle's own (small) graph, one backward each: samples are independent
            columns = []
            for angle in collected:
                if not (isinstance(angle, torch.Tensor) and angle.requires_grad):
                    columns.append(torch.zeros(batch, x.shape[1] + w.shape[-1], dtype=torch.float64,
                                               device=x.device))
                    continue
                # angles may share parts of the graph (a template computing all its angles at once)
                gx, gw = torch.autograd.grad(angle.sum(), (x, w), allow_unused=True, retain_graph=True)
                columns.append(torch.cat([torch.zeros_like(x) if gx is None else gx,
                                          torch.zeros_like(w) if gw is None else gw], dim=-1))
        dtheta = torch.stack(columns, dim=1) if columns else torch.zeros(batch, 0, x.shape[1] + w.shape[-1],
                                                                         dtype=torch.float64, device=x.device)
        return theta, dtheta

    def _collect(self, x, w) -> list:
        """The angle tensors of the circuit queued with ``x`` and ``w``, in leaf order (a
        template's as one :class:`~.decomposition.AngleBlock`)."""
        ops, _ = self.circuit.queue(x, w)
        collected = replay_angles(ops, self.decisions)
        count = sum(a.angles.shape[-1] if isinstance(a, AngleBlock) else 1 for a in collected)
        if count != self.num_angles:
            raise EngineUnavailable("the circuit's structure changed between calls")
        return collected

    @staticmethod
    def _stack(collected: list, batch: int) -> torch.Tensor:
        """The angles ``(batch, G)``: single angles stacked, templates' blocks concatenated."""
        if not collected:
            return torch.zeros(batch, 0, dtype=torch.float64)
        parts, run = [], []
        for a in collected + [None]:
            if not isinstance(a, AngleBlock) and a is not None:
                run.append(torch.broadcast_to(torch.as_tensor(a, dtype=torch.float64), (batch,)))
                continue
            if run:
                parts.append(torch.stack(run, dim=1))
                run = []
            if a is not None:
                block = torch.as_tensor(a.angles, dtype=torch.float64)
                parts.append(torch.broadcast_to(block, (batch, block.shape[-1])))
        if len(parts) == 1 and not isinstance(collected[0], AngleBlock):
            return parts[0]
        return torch.cat(parts, dim=1)  # a copy, also of one block (never the weights themselves)

    def _angles(self, batch: int):
        def angles(x, w):
            return self._stack(self._collect(x, w), batch)

        return angles
