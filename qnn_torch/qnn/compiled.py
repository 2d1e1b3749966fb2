"""The compiled path: a QNN traced once into an ATen graph and replayed on every call.

A QNode rebuilds its tape, runs transforms and validates on every call, which costs
milliseconds even for two qubits. The structure of a QNN's circuit does not change between
calls (only the values of inputs and weights do), so the circuit function, the decompositions
and the simulation by :class:`~qnn_torch.simulator.StateVector` are traced once per input
shape with ``make_fx`` and the resulting graph of plain torch operations is replayed: exact,
differentiable by ordinary autograd, and free of PennyLane's per-call overhead. (TorchScript
would replay it faster but its autodiff mishandles complex tensors in torch 2.14.)

Tracing refuses circuits whose gates depend on parameter *values* (data-dependent Python
control flow reads a tensor's value, which raises while tracing); those, and anything the
simulator does not support, run on the QNode instead.
"""

from __future__ import annotations

import threading

import pennylane as qml
import torch
from torch.fx.experimental.proxy_tensor import make_fx

from ..simulator import KERNEL_GATES, StateVector, UnsupportedOperation

__all__ = ["CompiledCircuit", "CompilationError", "PENNYLANE_LOCK"]

PENNYLANE_LOCK = getattr(getattr(qml.queuing, "AnnotatedQueue", None), "_lock", None) or threading.RLock()
"""threading.RLock: held around everything that is not thread-safe: PennyLane's queuing (its
active-context stack is one global list, which ``QueuingManager.stop_recording`` replaces without
a lock), QNode execution and ``make_fx`` tracing (torch.fx patches ``torch.nn.Module`` globally).
It is PennyLane's own queuing lock, so PennyLane circuits built in other threads wait too. The
replay of a traced graph and the NumPy adjoint path run without it."""


class CompilationError(RuntimeError):
    """The circuit cannot be compiled; the QNode path is used instead."""


class CompiledCircuit:
    """Trace ``qnn.circuit`` with :class:`StateVector` and replay the graph.

    Args:
        qnn (QuantumNeuralNetwork): the network whose circuit to compile.
    """

    name = "compiled"

    def __init__(self, qnn):
        self.qnn = qnn
        self.sim = StateVector(qnn.num_qubits)
        self._graphs: dict = {}

    def _flatten(self, op, out: list) -> list:
        """Decompose ``op`` until every operation has a kernel or a matrix."""
        if op.name in KERNEL_GATES:
            out.append(op)
        elif op.has_decomposition:
            for sub in op.decomposition():
                self._flatten(sub, out)
        elif op.has_matrix:
            out.append(op)
        else:
            raise UnsupportedOperation(f"operation {op.name} has neither a decomposition nor a matrix")
        return out

    def program(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """The untraced computation: ``(batch, num_inputs)``, weights -> ``(batch, outputs)``."""
        queued, measurements = self.qnn.queued(x, w)
        ops = []
        for op in queued:
            self._flatten(op, ops)
        state = self.sim.run(ops, self.sim.zero_state(x.shape[0]))
        results = [self.sim.measure(mp, state) for mp in measurements]
        results = [r.reshape(x.shape[0], -1) for r in results]
        return torch.cat(results, dim=1) if len(results) > 1 else results[0]

    def graph(self, x: torch.Tensor, w: torch.Tensor):
        """The traced graph for these shapes (traced on first use)."""
        key = (tuple(x.shape), tuple(w.shape), x.dtype, w.dtype)
        graph = self._graphs.get(key)
        if graph is not None:
            return graph
        with PENNYLANE_LOCK:
            graph = self._graphs.get(key)  # another thread may have traced it meanwhile
            if graph is not None:
                return graph
            try:
                def program(x, w):  # make_fx wants a plain function of the traced tensors
                    return self.program(x, w)

                # one eager run first builds the simulator's constant tensors (permutations,
                # masks), so the trace holds them as constants instead of rebuilding them per call
                self.program(x.detach(), w.detach())
                graph = make_fx(program, tracing_mode="real")(x.detach(), w.detach())
            except Exception as err:  # noqa: BLE001 - any failure means: use the QNode
                raise CompilationError(f"{type(err).__name__}: {err}") from err
            self._graphs[key] = graph
        return graph

    def __call__(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return self.graph(x, w)(x, w)
