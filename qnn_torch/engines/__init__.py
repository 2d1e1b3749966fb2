"""Engines: the ways a QNN's circuit is run, behind one contract.

**The contract** (:mod:`qnn_torch.engines.base`). An engine is built from a
:class:`~qnn_torch.circuits.CircuitDescription` (qubits, input and weight counts, the circuit
function and its ``queue(x, w) -> (ops, measurements)``, whether it measures probabilities, the
head matrix, the output size), never from the QNN, and provides::

    values(x, w) -> torch.Tensor                      # (B, K) float64
    values_and_jacobians(x, w, want_x, want_w)
        -> (torch.Tensor, list[torch.Tensor])          # (B, K) detached; [(B, K, I)], [(B, K, P)]

for inputs ``x`` ``(B, I)`` and weights ``w`` ``(P,)`` or ``(B, P)``, results in ``x``'s dtype
and on its device. Jacobians are eager and per sample. ``Engine.builds_graph`` says whether
:meth:`values` is differentiable by autograd (needed for second derivatives). An engine that
cannot run a circuit raises :class:`EngineUnavailable`, at construction or on a call; any other
exception is a bug and propagates to the user.

**Devices, precision, memory** (class attributes and methods of :class:`Engine`, with defaults
in :mod:`.base`; an engine overrides what it does better):

* ``devices`` -- the torch device types the engine computes on where the tensors are (default
  ``{"cpu"}``; ``torch-traced``: ``{"cpu", "cuda", "meta"}``, its simulator builds its tables
  on the inputs' device). ``supports_device(device)`` answers per instance (a QNode engine
  could depend on its PennyLane device). The QNN gives an engine tensors only on a device it
  supports: others are copied to the CPU, and the results copied back to the inputs' device.
* ``dtypes`` -- the real dtypes it computes in (default float64 only; ``torch-traced`` also
  float32, a complex64 state). With ``precision="single"`` the QNN passes float32 to engines
  that list it and float64 to the others.
* ``bytes_per_sample(dtype, call)`` -- an upper bound of the memory one sample holds during
  ``call`` (``"values"``, ``"graph"``, ``"jacobians"``); default eight state vectors, plus two
  per gate with an autograd graph (``num_gates()`` counts the decomposed gates), plus one per
  output for an adjoint sweep. The QNN splits a batch into chunks that fit its
  ``memory_budget`` (:mod:`qnn_torch.engines.memory`) and refuses a call of which not even one
  sample fits, before any engine runs.
* ``cache_bytes()`` -- what the engine's per-shape caches (compiled programs, traced graphs; at
  most :data:`~.shape_cache.SHAPE_CACHE_SIZE` shapes, least recently used dropped) hold now; the QNN
  takes it from the budget before the samples share the rest.

**The engines** (:data:`ENGINES`; a new engine is one module and one line in :mod:`.registry`):

=================  =========================================================================
``engine=``        what it is
=================  =========================================================================
``"adjoint"``      NumPy state vector; Jacobians by one adjoint sweep (:mod:`.numpy_adjoint`)
``"torch-adjoint"`` torch state vector, gates fused into blocks of a few wires (:mod:`.fusion`);
                   Jacobians by one adjoint sweep (:mod:`.torch_adjoint`)
``"compiled"``     the circuit traced once per shape through the torch state-vector simulator
                   (:mod:`.statevector`, :mod:`.torch_traced`); autograd
``"qnode"``        PennyLane's QNode on any device, any ``diff_method`` (:mod:`.qnode`)
=================  =========================================================================

**Choice and hand-over** (:class:`~.chain.EngineChain`). ``engine="auto"`` chains, in their
:attr:`~.base.Engine.order`, the engines that :meth:`~.base.Engine.accepts` the circuit: on exact
``default.qubit`` (no shots) ``"adjoint"`` (up to :data:`~.numpy_adjoint.AUTO_MAX_QUBITS` qubits,
:data:`~.numpy_adjoint.MAX_QUBITS_PROBABILITIES` for probabilities, and no ``diff_method``
given), ``"torch-adjoint"`` (unless a ``diff_method`` other than ``"adjoint"`` is given, or the
outputs are more than :data:`~.torch_adjoint.MAX_OUTPUTS`: probabilities of a large register
without ``interpret``), ``"compiled"`` (unless a ``diff_method`` other than ``"backprop"`` is
given); ``"qnode"`` ends every chain, and is the whole chain on other devices. Any other
``engine=`` puts that engine first, before ``"qnode"``, and makes its :class:`EngineUnavailable`
an error instead of a hand-over. Each call runs the first engine of the chain; a call that needs
an autograd graph (second derivatives) skips engines without one, and a call on tensors outside
the CPU takes the first engine that computes on their device (when none does, the first engine,
on CPU copies). When an engine raises :class:`EngineUnavailable` it leaves the chain for good, a
``RuntimeWarning`` names it and its successor, and ``qnn.engine_fallback`` keeps the reason.
``qnn.engine`` is the name of the chain's first engine (the one CPU calls take).

**Bit order.** Qiskit's qubit ``i`` is PennyLane's wire ``i``, and Qiskit is little-endian: qubit
0 is the least significant bit of a basis-state index, while PennyLane's wire 0 is the most
significant. Hence Qiskit's probability vector is ``qml.probs(wires=reversed(wires))``,
Qiskit's ``Operator`` is ``qml.matrix(op, wire_order=reversed(wires))``, and a ``SparsePauliOp``
label is read right to left (``"ZI"`` is Z on qubit 1). The engines' simulators use PennyLane's
order internally.
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
