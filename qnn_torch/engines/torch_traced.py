"""The traced torch engine (``engine="compiled"``): a circuit traced once into an ATen graph and
replayed on every call.

A QNode rebuilds its tape, runs transforms and validates on every call, which costs
milliseconds even for two qubits. The structure of a QNN's circuit does not change between
calls (only the values of inputs and weights do), so the circuit function, the decompositions
and the simulation by :class:`~qnn_torch.engines.statevector.StateVector` are traced once per
input shape with ``make_fx`` and the resulting graph of plain torch operations is replayed:
exact, differentiable by ordinary autograd, and free of PennyLane's per-call overhead.
(TorchScript would replay it faster but its autodiff mishandles complex tensors in torch 2.14.)

Vector-Jacobian products are plain backpropagation: :meth:`TorchTracedEngine.forward_for_vjp`
keeps the replayed graph and :meth:`TorchTracedEngine.vjp` runs one backward pass through it with
the incoming gradient (one pass whatever the number of outputs, where Jacobians take one per
output). The graph's own saved tensors are packed by any ``saved_tensors_hooks`` active during
the forward pass, as every autograd graph's are.

Tracing refuses circuits whose gates depend on parameter *values* (data-dependent Python
control flow reads a tensor's value); those, and operations or measurements the simulator does
not support, raise :class:`~qnn_torch.engines.errors.EngineUnavailable`.
"""

from __future__ import annotations

import torch

from ..circuits import PENNYLANE_LOCK, CircuitDescription
from .base import VJPEngine, exact_simulation
from .jacobians import autograd_jacobians, graph_inputs
from .shape_cache import ShapeCache
from .tracing import trace
from .decomposition import decompose
from .statevector import KERNEL_GATES, StateVector, UnsupportedOperation

__all__ = ["TorchTracedEngine"]


def _kernel_or_matrix(op) -> str | None:
    """The simulator's leaf rule: a gate it has a kernel for, else (when ``op`` does not decompose)
    an operation with a matrix."""
    if op.name in KERNEL_GATES:
        return "kernel"
    if op.has_decomposition:
        return None
    if op.has_matrix:
        return "matrix"
    raise UnsupportedOperation(f"operation {op.name} has neither a decomposition nor a matrix")


class _Graph:
    """A replayed graph kept for a backward pass: its outputs and leaves (opaque to
    :func:`~.saved_tensors.take_tensors`: the graph's saved tensors went through the hooks when it
    was built)."""

    def __init__(self, out: torch.Tensor, x: torch.Tensor, w: torch.Tensor):
        self.out, self.x, self.w = out, x, w


class TorchTracedEngine(VJPEngine):
    """Trace the circuit through :class:`StateVector` once per input shape and replay the graph.

    Args:
        circuit (CircuitDescription): the circuit to run.
    """

    name = "compiled"
    order = 2
    builds_graph = True
    devices = frozenset({"cpu", "cuda", "meta"})
    dtypes = (torch.float64, torch.float32)

    @classmethod
    def accepts(cls, circuit: CircuitDescription, spec, diff_method: str | None) -> bool:
        """Exact ``default.qubit`` without a ``diff_method`` other than ``"backprop"``."""
        return exact_simulation(spec) and diff_method in (None, "backprop")

    def __init__(self, circuit):
        super().__init__(circuit)
        self._sims: dict = {}  # one simulator (and its constant tables) per device and dtype
        self._graphs = ShapeCache()  # traced graphs by input shape, dtype and device

    def simulator(self, device: torch.device, dtype: torch.dtype) -> StateVector:
        """The simulator for inputs on ``device`` in ``dtype`` (float32: a complex64 state)."""
        key = (device, dtype)
        sim = self._sims.get(key)
        if sim is None:
            complex_dtype = torch.complex64 if dtype == torch.float32 else torch.complex128
            sim = self._sims[key] = StateVector(self.circuit.num_qubits, device=device, dtype=complex_dtype)
        return sim

    def program(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """The untraced computation: ``(batch, num_inputs)``, weights -> ``(batch, outputs)``."""
        queued, measurements = self.circuit.queue(x, w)
        ops = [op for _, op in decompose(queued, _kernel_or_matrix)]
        sim = self.simulator(x.device, x.dtype)
        state = sim.run(ops, sim.zero_state(x.shape[0]))
        results = [sim.measure(mp, state).reshape(x.shape[0], -1) for mp in measurements]
        out = torch.cat(results, dim=1) if len(results) > 1 else results[0]
        head = self.circuit.head
        return out if head is None else out @ head.to(out)

    def graph(self, x: torch.Tensor, w: torch.Tensor):
        """The traced graph for these shapes (traced on first use)."""
        key = (tuple(x.shape), tuple(w.shape), x.dtype, w.dtype, x.device)
        graph = self._graphs.get(key)
        if graph is not None:
            return graph
        with PENNYLANE_LOCK:
            graph = self._graphs.get(key)  # another thread may have traced it meanwhile
            if graph is not None:
                return graph
            # one eager run first builds the simulator's constant tensors (permutations,
            # masks), so the trace holds them as constants instead of rebuilding them per call
            self.program(x.detach(), w.detach())
            graph = trace(lambda x, w: self.program(x, w), x.detach(), w.detach())
            self._graphs.put(key, graph)
        return graph

    def cache_bytes(self) -> int:
        """Bytes of the constants of the traced graphs kept (at most
        :data:`~.shape_cache.SHAPE_CACHE_SIZE` shapes)."""
        return self._graphs.nbytes()

    def values(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return self.graph(x, w)(x, w)

    def values_and_jacobians(self, x, w, want_x, want_w):
        x, w = graph_inputs(x, w, want_x, want_w)
        with torch.enable_grad():
            out = self.values(x, w)
        # a plain torch graph: its backward needs no lock
        return out.detach(), autograd_jacobians(out, x, w, want_x, want_w)

    def forward_for_vjp(self, x: torch.Tensor, w: torch.Tensor):
        """The outputs ``(B, K)`` (detached) and the graph that computed them, for :meth:`vjp`."""
        x, w = x.detach().requires_grad_(True), w.detach().requires_grad_(True)
        with torch.enable_grad():
            out = self.values(x, w)
        return out.detach(), _Graph(out, x, w)

    def vjp(self, saved: _Graph, grad_output: torch.Tensor, want_x: bool, want_w: bool) -> list[torch.Tensor]:
        """``grad_output^T J`` by one backward pass through the kept graph: the input gradient
        ``(B, I)`` if ``want_x``, then the weight gradient (the weights' shape) if ``want_w``. The
        graph is retained: a backward pass of the model with ``retain_graph=True`` may call again."""
        targets = [t for t, want in ((saved.x, want_x), (saved.w, want_w)) if want]
        if not targets:
            return []
        if not saved.out.requires_grad:  # the outputs depend on neither inputs nor weights
            return [torch.zeros_like(t) for t in targets]
        g = grad_output.to(device=saved.out.device, dtype=saved.out.dtype)
        with torch.enable_grad():
            grads = torch.autograd.grad(saved.out, targets, g, retain_graph=True, allow_unused=True)
        return [torch.zeros_like(t) if grad is None else grad for grad, t in zip(grads, targets)]
