"""The package's one lock around everything in PennyLane and torch.fx that is not thread-safe."""

from __future__ import annotations

from .._compat import pennylane_queue_lock

__all__ = ["PENNYLANE_LOCK"]

PENNYLANE_LOCK = pennylane_queue_lock()
"""threading.RLock: held around everything that is not thread-safe: PennyLane's queuing (its
active-context stack is one global list, which ``QueuingManager.stop_recording`` replaces without
a lock), QNode execution and ``make_fx`` tracing (torch.fx patches ``torch.nn.Module`` globally).
It is PennyLane's own queuing lock, so PennyLane circuits built in other threads wait too. The
replay of a traced graph and the NumPy adjoint programs run without it."""
