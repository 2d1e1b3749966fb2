"""A Qiskit V2 primitive as the device: what ``estimator=`` and ``sampler=`` run on when they sample.

qiskit-machine-learning chooses where a network runs by the primitive it is given. A primitive that
computes exactly (qiskit-machine-learning's ``QMLEstimator``/``QMLSampler`` in their exact modes, a
``StatevectorEstimator`` asked for precision 0) needs no device: the networks run it on their exact
engines (:func:`primitive_route`); Qiskit's sampling statevector primitives mostly run there too, with
their own random draws added (:mod:`qnn_torch.qnn.statevector_draws`, which decides before this
module is asked). Every other primitive runs **as given**, through its own ``run``,
on :class:`PrimitiveDevice`: the batching of :class:`~qnn_torch.devices.remote.BatchedRemoteDevice`
(each circuit structure converted and transpiled once, a whole training step -- its forward pass
and every parameter-shift circuit -- in one ``run`` call) with the user's primitive doing the work,
so its options (noise model, method, seed, shots, precision, resilience, twirling, session or batch
mode) are honoured because they are its own.

Precision and shots as qiskit-machine-learning uses them: an ``EstimatorQNN`` runs its forward
pass at its ``default_precision`` and its gradient circuits at the estimator's own default; a
``SamplerQNN`` runs both at the sampler's default shots.
"""

from __future__ import annotations

import copy
from contextlib import contextmanager
from dataclasses import dataclass

from pennylane.tape import QuantumScript

from .remote import BatchedRemoteDevice
from .spec import DeviceSpec

__all__ = ["PrimitiveDevice", "PrimitiveRoute", "primitive_kind", "primitive_route"]


def primitive_kind(primitive) -> str | None:
    """``"estimator"`` or ``"sampler"`` for a Qiskit V2 primitive, else None."""
    from qiskit.primitives import BaseEstimatorV2, BaseSamplerV2

    if isinstance(primitive, BaseEstimatorV2):
        return "estimator"
    if isinstance(primitive, BaseSamplerV2):
        return "sampler"
    return None


def _module(primitive) -> str:
    return type(primitive).__module__.split(".")[0]


def _is_statevector(primitive) -> bool:
    from qiskit.primitives import StatevectorEstimator, StatevectorSampler

    return isinstance(primitive, (StatevectorEstimator, StatevectorSampler))


def exact_primitive(primitive, precision: float) -> bool:
    """Whether ``primitive`` computes exact results when run at ``precision`` (estimators; None for
    its default) or its default shots (samplers).

    Exact: qiskit-machine-learning's ``QMLEstimator`` with ``default_precision=0`` (it ignores
    the precision it is run with) and ``QMLSampler`` without shots; Qiskit's
    ``StatevectorEstimator`` run at precision 0. ``StatevectorSampler`` always samples.
    """
    name = type(primitive).__name__
    if _module(primitive) == "qiskit_machine_learning" and name == "QMLEstimator":
        return float(primitive.default_precision) == 0.0
    if _module(primitive) == "qiskit_machine_learning" and name == "QMLSampler":
        return getattr(primitive.options, "default_shots", None) is None
    if _is_statevector(primitive) and primitive_kind(primitive) == "estimator":
        used = primitive.default_precision if precision is None else precision
        return float(used) == 0.0
    return False


@dataclass(frozen=True)
class PrimitiveRoute:
    """Where a network given a primitive runs.

    Attributes:
        primitive: the primitive as given.
        kind (str): ``"estimator"`` or ``"sampler"``.
        exact (bool): True: the exact engines (no device); False: :attr:`spec`'s device.
        spec (DeviceSpec or None): the :class:`PrimitiveDevice` and how to run it.
        label (str): a short name of the route, for messages.
    """

    primitive: object
    kind: str
    exact: bool
    spec: DeviceSpec | None
    label: str


def primitive_route(primitive, kind: str, num_qubits: int, precision: float | None = None,
                    gradient_exact: bool = True) -> PrimitiveRoute:
    """The route of a network's ``estimator=`` or ``sampler=`` argument.

    Args:
        primitive: a Qiskit ``BaseEstimatorV2`` (``kind="estimator"``) or ``BaseSamplerV2``.
        kind (str): the kind the network needs.
        num_qubits (int): the circuit's qubits.
        precision (float or None): the precision the forward pass is run at (an
            ``EstimatorQNN``'s ``default_precision``); None for samplers.
        gradient_exact (bool): whether the gradient's primitive is exact too; a sampled gradient
            puts the network on the primitive's device even when its forward pass is exact.

    Returns:
        PrimitiveRoute: the exact engines, or a :class:`PrimitiveDevice` running ``primitive``.

    Raises:
        TypeError: for an object that is not a V2 primitive of ``kind`` (the message names the
            argument, what was given and what is accepted).
    """
    argument = "estimator" if kind == "estimator" else "sampler"
    if primitive_kind(primitive) != kind:
        accepted = ("a Qiskit BaseEstimatorV2 (StatevectorEstimator, QMLEstimator, qiskit_aer.primitives."
                    "EstimatorV2, qiskit_ibm_runtime.EstimatorV2, BackendEstimatorV2, ...)"
                    if kind == "estimator" else
                    "a Qiskit BaseSamplerV2 (StatevectorSampler, QMLSampler, "
                    "qiskit_aer.primitives.SamplerV2, "
                    "qiskit_ibm_runtime.SamplerV2, BackendSamplerV2, ...)")
        raise TypeError(f"{argument} must be None or {accepted}; got {primitive!r} "
                        f"({type(primitive).__name__}).")
    name = type(primitive).__name__
    if exact_primitive(primitive, precision) and gradient_exact:
        return PrimitiveRoute(primitive, kind, True, None, f"{name} (exact)")
    device = PrimitiveDevice(num_qubits, primitive, precision=precision)
    spec = DeviceSpec(device, "device", None, f"backend:{device.backend.name}", broadcast_expand=True)
    return PrimitiveRoute(primitive, kind, False, spec, f"{name} on {device.backend.name}")


def _primitive_backend(primitive):
    """The backend ``primitive`` runs on (for transpiling and the job journal), and whether its
    circuits must be transpiled for it (hardware and fake backends need ISA circuits)."""
    from qiskit_aer import AerSimulator

    module = _module(primitive)
    if module == "qiskit_ibm_runtime":
        return primitive.backend(), True
    if module == "qiskit_aer":
        return AerSimulator(**dict(getattr(primitive.options, "backend_options", None) or {})), True
    backend = getattr(primitive, "backend", None)
    if backend is not None and not callable(backend):  # BackendEstimatorV2, BackendSamplerV2
        return backend, True
    return AerSimulator(), False  # a placeholder: the primitive simulates the circuits as they are


class PrimitiveDevice(BatchedRemoteDevice):
    """:class:`~qnn_torch.devices.remote.BatchedRemoteDevice` with a given primitive doing the work.

    Args:
        wires (int or Iterable): the wires.
        primitive: a Qiskit ``BaseEstimatorV2`` or ``BaseSamplerV2``, run as given.
        precision (float or None): the precision of the forward pass's estimator PUBs (None:
            the primitive's default); the gradient circuits run at the primitive's default, as
            qiskit-machine-learning's gradients run them.
        **kwargs: as for :class:`~qnn_torch.devices.remote.BatchedRemoteDevice` (job limits,
            retries, transpiler options).

    A primitive of ``qiskit_ibm_runtime`` keeps its mode (backend, ``Session`` or ``Batch``);
    :func:`~qnn_torch.runtime_session` gives it another one (a copy with the same options).

    **Example**

    >>> from qiskit.primitives import StatevectorSampler
    >>> dev = PrimitiveDevice(2, StatevectorSampler(default_shots=100, seed=1))
    >>> dev.jobs, type(dev.primitive).__name__
    (0, 'StatevectorSampler')
    """

    short_name = "qnn_torch.primitive"
    # the primitive's own shots and precision apply: pennylane-qiskit's warning that "a default number
    # of shots will be selected" says nothing the user did not choose (the QNode engine silences it)
    exact_without_shots = True

    def __init__(self, wires, primitive, precision: float | None = None, **kwargs):
        self.primitive = primitive
        self.kind = primitive_kind(primitive)
        self.precision = precision
        backend, self._needs_transpiling = _primitive_backend(primitive)
        session = getattr(primitive, "mode", None) if _module(primitive) == "qiskit_ibm_runtime" else None
        self._given_session = session
        self._shifted: dict[int, object] = {}
        self._shift_from: int | None = None  # executions from this circuit on are gradient circuits
        super().__init__(wires, backend=backend, session=session, **kwargs)

    def preprocess(self, execution_config=None):
        """The batched device's preprocessing, without splitting an observable into its Pauli terms:
        an estimator measures each observable whole, as qiskit-machine-learning hands it one (the
        noise of a precision is the observable's, not its terms')."""
        program, config = super().preprocess(execution_config)
        if self.kind == "estimator":
            from pennylane.transforms import split_non_commuting

            for bound in [t for t in program if t.tape_transform is split_non_commuting.tape_transform]:
                program.remove(bound)
        return program, config

    def _transpile(self, qc):
        if not self._needs_transpiling:
            return qc
        if _module(self.primitive) == "qiskit_aer":
            from qiskit.compiler import transpile

            from .aer import _ARRAY_SAFE_AER_GATES  # Aer's array binding: see BatchedAerDevice

            return transpile(qc, basis_gates=_ARRAY_SAFE_AER_GATES)
        return super()._transpile(qc)

    def _primitive(self, cls):
        kind = "estimator" if cls.__name__.startswith("Estimator") else "sampler"
        if kind != self.kind:
            raise ValueError(f"{self.name} runs a {self.kind}: it cannot run {kind} circuits "
                             f"(measurements a {type(self.primitive).__name__} does not give).")
        if self.session is not self._given_session:  # runtime_session() gave it another mode
            return type(self.primitive)(mode=self.session or self.backend,
                                        options=copy.deepcopy(self.primitive.options))
        return self.primitive

    # the forward pass at ``precision``, the gradient circuits at the primitive's default

    def execute_and_compute_derivatives(self, circuits, execution_config=None):
        try:
            return super().execute_and_compute_derivatives(circuits, execution_config)
        finally:
            self._shifted.clear()

    def compute_derivatives(self, circuits, execution_config=None):
        try:
            return super().compute_derivatives(circuits, execution_config)
        finally:
            self._shifted.clear()

    def _gradient_tapes(self, circuits, execution_config):
        gradients = BatchedRemoteDevice._gradient_tapes(circuits, execution_config)
        # the tapes are kept alive until they ran: their ids cannot be reused meanwhile
        self._shifted.update({id(tape): tape for tapes, _ in gradients for tape in tapes})
        return gradients

    @property
    def separate_gradient_circuits(self) -> bool:
        """bool: whether gradient circuits run at another precision than the forward pass's (an
        estimator with a forward precision), so that they cannot share its PUBs."""
        return self.kind == "estimator" and self.precision is not None

    @contextmanager
    def gradient_circuits(self, first: int = 0):
        """Run the circuits of every execution inside from index ``first`` on as gradient circuits
        (e.g. SPSA's perturbed points after the batch): their own PUBs, at the primitive's default
        precision, in the same job as the circuits before them."""
        self._shift_from = first
        try:
            yield
        finally:
            self._shift_from = None

    def _execute_circuits(self, circuits):
        if self._shift_from is None:
            return super()._execute_circuits(circuits)
        tapes = [circuits] if isinstance(circuits, QuantumScript) else list(circuits)
        self._shifted.update({id(tape): tape for tape in tapes[self._shift_from:]})
        try:
            return super()._execute_circuits(tapes)
        finally:
            self._shifted.clear()

    def _group_key(self, tape, kind: str) -> tuple:
        return (*super()._group_key(tape, kind), id(tape) in self._shifted)

    def _pub_precision(self, key: tuple) -> float | None:
        if self.kind == "estimator" and not key[2]:
            return self.precision
        return None  # the primitive's default
