"""Engines: the ways a QNN's circuit is run, behind one contract, and the chain that picks one.

docs/design.md tells how the pieces fit; this is the short version.

**The contract** (:mod:`.base`). An engine is built from a
:class:`~qnn_torch.circuits.CircuitDescription` (qubits, input and weight counts, the circuit
function and its ``queue(x, w) -> (ops, measurements)``, whether it measures probabilities, the
head matrix, the output size), never from the QNN, and provides::

    values(x, w) -> torch.Tensor                      # (B, K)
    values_and_jacobians(x, w, want_x, want_w)
        -> (torch.Tensor, list[torch.Tensor])          # (B, K) detached; [(B, K, I)], [(B, K, P)]

for inputs ``x`` ``(B, I)`` and weights ``w`` ``(P,)`` or ``(B, P)``, results in ``x``'s dtype
and on its device; a :class:`VJPEngine` also gives ``forward_for_vjp`` and ``vjp``. Each engine
class declares its ``name`` (the ``engine=`` value), its ``order`` in a chain, what it
``accepts`` under ``engine="auto"``, its ``refusal`` of an explicit ``engine=``, the devices and
dtypes it computes in and what a sample costs in memory. An engine that cannot run a circuit
raises :class:`EngineUnavailable`; any other exception is a bug and propagates to the user.

**The engines** (:data:`ENGINES`, in :mod:`.registry`):

===================  ========================================================================
``engine=``          what it is
===================  ========================================================================
``"adjoint"``        NumPy state vector; Jacobians by one adjoint sweep (:mod:`.numpy_adjoint`)
``"torch-adjoint"``  torch state vector, gates fused into a few wires each (:mod:`.fusion`);
                     Jacobians by one adjoint sweep (:mod:`.torch_adjoint`)
``"compiled"``       the circuit traced once per shape through the torch state-vector simulator
                     (:mod:`.statevector`, :mod:`.torch_traced`); autograd (vector-Jacobian
                     products: one backward pass through the kept graph)
``"qnode"``          PennyLane's QNode on any device, any ``diff_method`` (:mod:`.qnode`)
===================  ========================================================================

**The chain** (:class:`EngineChain`, :mod:`.chain`). ``engine="auto"`` chains, in their order,
the engines that accept the circuit: on exact ``default.qubit`` (no shots) ``"adjoint"`` (up to
:data:`~.numpy_adjoint.AUTO_MAX_QUBITS` qubits, :data:`~.numpy_adjoint.MAX_QUBITS_PROBABILITIES`
for probabilities, and no ``diff_method`` given), ``"torch-adjoint"`` (unless a ``diff_method``
other than ``"adjoint"`` is given, or the outputs are more than
:data:`~.torch_adjoint.MAX_OUTPUTS` expectation values; probabilities of any count),
``"compiled"`` (unless a ``diff_method`` other than ``"backprop"`` is given); ``"qnode"`` ends
every chain, and is the whole chain on other devices. Any other ``engine=`` puts that engine
first, before ``"qnode"``, and makes its :class:`EngineUnavailable` an error instead of a
hand-over. Each call runs the first engine of the chain; a call that needs an autograd graph
(second derivatives) skips engines without one, and a call on tensors outside the CPU takes the
first engine that computes on their device (:mod:`.placement`; when none does, the first engine,
on CPU copies). A batch runs in chunks that fit the memory budget (:mod:`.memory`). When an
engine raises :class:`EngineUnavailable` it leaves the chain for good, a ``RuntimeWarning`` names
it and its successor, and ``qnn.engine_fallback`` keeps the reason. ``qnn.engine`` is the name of
the chain's first engine (the one CPU calls take).

**Bit order.** Qiskit's qubit ``i`` is PennyLane's wire ``i``, and Qiskit is little-endian: qubit
0 is the least significant bit of a basis-state index, while PennyLane's wire 0 is the most
significant (:mod:`.bit_order`). Hence Qiskit's probability vector is
``qml.probs(wires=reversed(wires))``, Qiskit's ``Operator`` is ``qml.matrix(op,
wire_order=reversed(wires))``, and a ``SparsePauliOp`` label is read right to left (``"ZI"`` is Z
on qubit 1). The engines' simulators use PennyLane's order internally.
"""

from .base import Engine, VJPEngine
from .errors import EngineUnavailable
from .chain import PRECISIONS, EngineChain
from .numpy_adjoint import AUTO_MAX_QUBITS, MAX_QUBITS, MAX_QUBITS_PROBABILITIES, NumpyAdjointEngine
from .qnode import QNodeEngine
from .registry import ENGINE_CHOICES, ENGINES
from .torch_adjoint import TorchAdjointEngine
from .torch_traced import TorchTracedEngine

__all__ = [
    "AUTO_MAX_QUBITS",
    "ENGINES",
    "ENGINE_CHOICES",
    "MAX_QUBITS",
    "MAX_QUBITS_PROBABILITIES",
    "PRECISIONS",
    "Engine",
    "EngineChain",
    "EngineUnavailable",
    "NumpyAdjointEngine",
    "QNodeEngine",
    "TorchAdjointEngine",
    "TorchTracedEngine",
    "VJPEngine",
]
