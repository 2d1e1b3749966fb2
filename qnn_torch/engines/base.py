"""The engine contract: what every way of running a QNN's circuit provides.

An engine is built from a :class:`~qnn_torch.circuits.CircuitDescription` (never from the QNN)
and answers two questions about a batch of inputs ``x`` ``(B, num_inputs)`` and weights ``w``
``(num_weights,)`` or ``(B, num_weights)``, tensors of one dtype on one device:

* :meth:`Engine.values` -- the outputs ``(B, K)``; differentiable by autograd when the class says
  :attr:`Engine.builds_graph` and grad mode is on.
* :meth:`Engine.values_and_jacobians` -- the outputs (detached) and, eagerly, the wanted
  per-sample Jacobians ``(B, K, num_inputs)`` then ``(B, K, num_weights)``.

Results have the dtype and device of ``x``. The caller (the QNN) only ever passes a device the
engine supports (:meth:`Engine.supports_device`, from the class's :attr:`Engine.devices`) and a
dtype in :attr:`Engine.dtypes`; float64 is always among them. What a sample costs in memory is
:meth:`Engine.bytes_per_sample`, which the QNN uses to split a batch into chunks.

An engine that cannot run a circuit raises :class:`EngineUnavailable` (at construction or on a
call) and the QNN hands over to the next engine; any other exception is a bug and propagates.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np

import torch
from torch.fx.experimental.proxy_tensor import make_fx

from ..circuits.lock import PENNYLANE_LOCK

__all__ = ["SHAPE_CACHE_SIZE", "Engine", "EngineUnavailable", "PENNYLANE_LOCK", "ShapeCache",
           "autograd_jacobians", "graph_inputs", "trace"]

SHAPE_CACHE_SIZE = 4
"""int: the most input shapes (batch sizes) whose compiled programs or traced graphs an engine
keeps; a new shape beyond them drops the least recently used (a program holds 1 to 15 MiB of
tables at 14 to 18 qubits and batch 8 to 64)."""


class EngineUnavailable(RuntimeError):
    """This engine cannot run this circuit: hand over to the next engine."""


class ShapeCache:
    """Programs or graphs by input shape: at most :data:`SHAPE_CACHE_SIZE`, the least recently used
    dropped first; safe to share between threads.

    Args:
        size (int): the most entries kept.
    """

    def __init__(self, size: int = SHAPE_CACHE_SIZE):
        self.size = size
        self._entries: dict = {}  # insertion order is recency: a hit moves its key to the end
        self._lock = threading.Lock()

    def get(self, key):
        """The entry for ``key`` (now the most recently used), or None."""
        with self._lock:
            value = self._entries.pop(key, None)
            if value is not None:
                self._entries[key] = value
            return value

    def put(self, key, value) -> None:
        """Keep ``value`` for ``key``, dropping the least recently used entry beyond :attr:`size`."""
        with self._lock:
            self._entries.pop(key, None)
            self._entries[key] = value
            while len(self._entries) > self.size:
                self._entries.pop(next(iter(self._entries)))

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key) -> bool:  # a look that does not count as a use
        return key in self._entries

    def nbytes(self) -> int:
        """Bytes of the arrays and tensors the entries hold (a generated program's tables, a traced
        graph's constants)."""
        with self._lock:
            values = list(self._entries.values())
        return sum(_held_bytes(v) for v in values)


def _held_bytes(entry) -> int:
    """Bytes of the NumPy arrays in a generated function's namespace, or of the tensors a traced
    graph module holds."""
    if isinstance(entry, torch.nn.Module):
        tensors = [v for v in vars(entry).values() if isinstance(v, torch.Tensor)]
        tensors += list(entry.buffers()) + list(entry.parameters())
        return sum(t.numel() * t.element_size() for t in tensors)
    namespace = getattr(entry, "__globals__", None) or {}
    return sum(v.nbytes for v in namespace.values() if isinstance(v, np.ndarray))


class Engine(ABC):
    """One way of running a circuit description.

    Args:
        circuit (CircuitDescription): what to run.

    Raises:
        EngineUnavailable: if this engine cannot run ``circuit``.
    """

    name: ClassVar[str]
    """str: the key in :data:`qnn_torch.engines.ENGINES`, saying what the engine is."""
    label: ClassVar[str]
    """str: the user-facing ``engine=`` value and what ``qnn.engine`` reports."""
    builds_graph: ClassVar[bool]
    """bool: whether :meth:`values` is differentiable by autograd (a torch graph)."""
    supports_vjp: ClassVar[bool] = False
    """bool: whether the engine also provides ``forward_for_vjp(x, w) -> (outputs, saved)`` and
    ``vjp(saved, grad_output, want_x, want_w) -> [grad_x, grad_w]``: a backward pass computed
    when the gradient arrives, at the cost of one sweep whatever the number of outputs, instead
    of eager Jacobians."""
    runs_on_device: ClassVar[bool] = False
    """bool: whether the engine runs the circuit on the network's PennyLane device (which then
    reports the calls to ``qml.Tracker`` itself); the others compute without it, and the network
    reports their calls."""
    devices: ClassVar[frozenset[str]] = frozenset({"cpu"})
    """frozenset[str]: the torch device types (``"cpu"``, ``"cuda"``, ``"meta"``) whose tensors the
    engine computes on where they are; tensors on any other device reach it copied to the CPU."""
    dtypes: ClassVar[tuple[torch.dtype, ...]] = (torch.float64,)
    """tuple[torch.dtype, ...]: the real dtypes the engine computes in (float64 always; float32
    means a complex64 state, used when the QNN asks for ``precision="single"``)."""

    def __init__(self, circuit):
        self.circuit = circuit
        self._num_gates: int | None = None

    def supports_device(self, device: torch.device) -> bool:
        """Whether the engine computes on tensors on ``device`` without copying them to the CPU
        (by default: whether its type is in :attr:`devices`)."""
        return torch.device(device).type in self.devices

    def state_bytes(self, dtype: torch.dtype = torch.float64) -> int:
        """Bytes of one state vector of the circuit's register for real dtype ``dtype``."""
        return 2**self.circuit.num_qubits * (8 if dtype == torch.float32 else 16)

    def num_gates(self) -> int:
        """The circuit's gates after decomposing templates (counted once, on first use)."""
        if self._num_gates is None:
            c = self.circuit
            with PENNYLANE_LOCK:  # decomposing queues: PennyLane's queue is global, not per thread
                ops, _ = c.queue(torch.zeros(1, c.num_inputs, dtype=torch.float64),
                                 torch.zeros(c.num_weights, dtype=torch.float64))
                count, todo = 0, list(ops)
                while todo:
                    op = todo.pop()
                    if (op.has_matrix and len(op.wires) <= 2) or not op.has_decomposition:
                        count += 1
                    else:
                        todo += op.decomposition()
            self._num_gates = count
        return self._num_gates

    def bytes_per_sample(self, dtype: torch.dtype = torch.float64, call: str = "values") -> int:
        """Memory one sample of a batch may hold at once (an upper bound), in bytes.

        Args:
            dtype (torch.dtype): the real dtype of the call.
            call (str): ``"values"`` (:meth:`values` without a graph), ``"graph"``
                (:meth:`values` building an autograd graph) or ``"jacobians"``
                (:meth:`values_and_jacobians`).

        The default is conservative: eight state vectors; with a graph two more per gate (autograd
        keeps intermediate states: 0.3 to 0.4 state vectors per gate were measured for the traced
        torch engine and PennyLane's backprop at 10 to 14 qubits), and an engine that builds graphs
        is taken to take its Jacobians by autograd; an engine without graphs is taken to sweep one
        bra per output for its Jacobians (adjoint differentiation). Engines that know better
        override it.
        """
        states = 8
        if call == "graph" or (call == "jacobians" and self.builds_graph):
            states += 2 * self.num_gates()
        elif call == "jacobians":
            states += self.circuit.output_size
        return self.state_bytes(dtype) * states

    def cache_bytes(self) -> int:
        """Bytes the engine's per-shape caches (compiled programs, traced graphs) hold now; the
        network counts them in its memory budget. 0 for an engine without such caches."""
        return 0

    @abstractmethod
    def values(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """The outputs ``(B, K)`` for a non-empty batch, in ``x``'s dtype and on its device."""

    @abstractmethod
    def values_and_jacobians(self, x: torch.Tensor, w: torch.Tensor, want_x: bool,
                             want_w: bool) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The outputs ``(B, K)`` (detached) and the list of wanted per-sample Jacobians:
        ``(B, K, num_inputs)`` if ``want_x``, then ``(B, K, num_weights)`` if ``want_w``."""


def trace(fn, *args) -> torch.fx.GraphModule:
    """``make_fx(fn)(*args)``; a circuit whose gates depend on parameter *values* (data-dependent
    Python control flow, which tracing cannot follow) raises :class:`EngineUnavailable`."""
    try:
        return make_fx(fn, tracing_mode="real")(*args)
    except RuntimeError as err:
        if isinstance(err, EngineUnavailable) or "data-dependent" not in str(err):
            raise
        raise EngineUnavailable(f"{type(err).__name__}: {err}") from err


def autograd_jacobians(out: torch.Tensor, x: torch.Tensor, w: torch.Tensor, want_x: bool,
                       want_w: bool) -> list[torch.Tensor]:
    """Per-sample Jacobians ``(B, K, P)`` of ``out`` (B, K) for ``x`` and/or ``w`` (one copy of the
    weights per sample, or ``(P,)`` for a batch of one), by one backward sweep per output."""
    targets = [t for t, want in ((x, want_x), (w, want_w)) if want]
    k_out = out.shape[1]
    if not out.requires_grad:  # the outputs do not depend on inputs or weights at all
        return [torch.zeros(out.shape[0], k_out, t.shape[-1], dtype=t.dtype, device=t.device)
                for t in targets]
    rows = [[] for _ in targets]
    with torch.enable_grad():  # backward runs without grad mode
        for k in range(k_out):
            grads = torch.autograd.grad(out[:, k].sum(), targets, retain_graph=k < k_out - 1,
                                        allow_unused=True)
            for row, g, t in zip(rows, grads, targets):
                g = torch.zeros_like(t) if g is None else g
                row.append(g.reshape(out.shape[0], -1))  # unbatched weights (batch 1) get their row
    return [torch.stack(row, dim=1) for row in rows]


def graph_inputs(x: torch.Tensor, w: torch.Tensor, want_x: bool, want_w: bool):
    """Leaves for :func:`autograd_jacobians`: ``x`` and, if wanted, one copy of ``w`` per sample."""
    batch = x.shape[0]
    x = x.detach().requires_grad_(want_x)
    w = w.detach()
    if want_w:
        # one copy of the weights per sample, so that each sample gets its own Jacobian row
        w = (w.expand(batch, -1).clone() if batch > 1 else w).requires_grad_(True)
    return x, w
