"""IBM backends with one primitive job per batch of circuits.

pennylane-qiskit's ``qiskit.remote`` device transpiles and submits every circuit as its own
job: one training step of a small QNN (a batch of inputs, parameter-shift) makes hundreds of
jobs, each of which waits in the hardware queue. :class:`BatchedRemoteDevice` extends it:

* circuits with the same structure (gates, wires, measurements) are transpiled **once**, as a
  parametrised circuit, and cached;
* every ``execute`` call (a forward pass over a whole batch, or all the parameter-shift
  circuits of a backward pass) becomes **one** ``EstimatorV2`` or ``SamplerV2`` job holding one
  PUB per structure, with the parameter values of all its circuits as an array.

It is registered as the PennyLane device ``"qnn_torch.remote"`` and is what ``device="ibm:..."``,
``device="fake:..."`` and Qiskit ``Backend`` objects resolve to.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pennylane as qml
from pennylane.measurements import ExpectationMP
from pennylane.tape import QuantumScript
from pennylane_qiskit.converter import circuit_to_qiskit, mp_to_pauli
from pennylane_qiskit.qiskit_device import custom_simulator_tracking
from pennylane_qiskit.remote import RemoteDevice
from qiskit.circuit import Parameter
from qiskit.compiler import transpile
from qiskit_ibm_runtime import EstimatorV2, SamplerV2

__all__ = ["BatchedRemoteDevice"]


class _Template:
    """A transpiled parametrised circuit standing for every tape of one structure.

    Args:
        compiled (QuantumCircuit): the transpiled circuit.
        params (list[Parameter]): the symbolic parameters, in the tape's gate order (the order
            of :func:`_values`).
        observables (list or None): the estimator's observables, laid out as ``compiled``.
    """

    def __init__(self, compiled, params, observables=None):
        self.compiled = compiled
        self.observables = observables
        # Qiskit binds value arrays in the order of ``circuit.parameters``, which sorts by
        # name ("p10" before "p2"), and the transpiler may drop a parameter: bind by the
        # parameters themselves, never by position
        position = {p: i for i, p in enumerate(params)}
        self.columns = np.array([position[p] for p in compiled.parameters], dtype=np.intp)

    def bind(self, values: np.ndarray):
        """The ``(circuits, gate parameters)`` values as ``compiled`` binds them, or None."""
        if not self.columns.size:
            return None
        return np.asarray(values, dtype=float).reshape(values.shape[0], -1)[:, self.columns]


def _fixed(d) -> bytes | None:
    """A matrix-valued gate parameter (``QubitUnitary``'s) as bytes: part of the structure, not
    a circuit parameter; None for a scalar angle."""
    return np.asarray(qml.math.toarray(d)).tobytes() if qml.math.ndim(d) else None


def _observable_key(obs):
    """An exact key of an observable (``repr`` abbreviates large matrices)."""
    if obs.pauli_rep is not None:
        return "pauli", tuple(sorted((str(word), complex(c)) for word, c in obs.pauli_rep.items()))
    return "matrix", tuple(obs.wires), np.asarray(qml.matrix(obs)).tobytes()


def _structure(tape, kind):
    ops = tuple((op.name, tuple(op.wires), tuple(_fixed(d) for d in op.data)) for op in tape.operations)
    meas = tuple((type(m).__name__, _observable_key(m.obs) if m.obs is not None else tuple(m.wires))
                 for m in tape.measurements)
    return kind, ops, meas


def _symbolic(tape):
    """The tape with every scalar gate parameter replaced by a Qiskit ``Parameter`` (in gate
    order, the order of :func:`_values`); matrix parameters stay as they are."""
    params, ops = [], []
    for op in tape.operations:
        if op.data:
            new = []
            for d in op.data:
                if not qml.math.ndim(d):
                    params.append(Parameter(f"p{len(params)}"))
                new.append(params[-1] if not qml.math.ndim(d) else d)
            op = qml.ops.functions.bind_new_parameters(op, new)
        ops.append(op)
    return QuantumScript(ops, tape.measurements, shots=tape.shots), params


def _values(tape):
    return [float(qml.math.toarray(d)) for op in tape.operations for d in op.data if not qml.math.ndim(d)]


@custom_simulator_tracking  # our ``execute`` replaces the tracked one: track it as the plugin does
class BatchedRemoteDevice(RemoteDevice):
    """pennylane-qiskit's remote device, submitting one primitive job per ``execute`` call.

    Args:
        wires (int or Iterable): the wires.
        backend (Backend): an IBM backend, or a ``qiskit_ibm_runtime.fake_provider`` one.
        shots (int or None): default shots (the QNode's shots take precedence).
        session (Session or Batch or None): a Qiskit Runtime session or batch to run the jobs in.
        **kwargs: transpiler options (``optimization_level``, ...) and primitive options
            (``resilience_level``, ``default_shots``, ...), as for ``qiskit.remote``.

    Under a ``qml.Tracker`` it records what PennyLane's devices record (``batches``,
    ``executions``, ``shots``, ``results``, ...) and also ``jobs``, one per primitive job, with
    ``job_circuits``, the circuits it held.

    Attributes:
        jobs (int): the number of primitive jobs submitted so far.
        circuits_run (int): the number of circuits those jobs evaluated.
        transpilations (int): the number of circuit structures transpiled.

    **Example**

    >>> from qiskit_ibm_runtime.fake_provider import FakeManilaV2
    >>> dev = qml.device("qnn_torch.remote", wires=2, backend=FakeManilaV2())
    >>> dev.jobs
    0
    """

    short_name = "qnn_torch.remote"

    def __init__(self, wires, backend, shots=None, session=None, **kwargs):
        super().__init__(wires, backend=backend, shots=shots, session=session, **kwargs)
        self._templates: OrderedDict = OrderedDict()
        self.jobs = 0
        self.circuits_run = 0
        self.transpilations = 0

    @property
    def name(self):
        return self.short_name

    def update_session(self, session):
        """Run the following jobs in ``session`` (a Qiskit Runtime ``Session`` or ``Batch``)."""
        self._session = session

    def _template(self, tape, kind):
        key = _structure(tape, kind)
        template = self._templates.get(key)
        if template is None:
            symbolic, params = _symbolic(tape)
            if kind == "estimator":
                qc = circuit_to_qiskit(symbolic, self.num_wires, diagonalize=False, measure=False)
            else:
                qc = circuit_to_qiskit(symbolic, self.num_wires, diagonalize=True, measure=True)
            compiled = self._transpile(qc)
            observables = None
            if kind == "estimator":
                observables = [mp_to_pauli(mp, self.num_wires).apply_layout(compiled.layout)
                               for mp in tape.measurements]
            template = _Template(compiled, params, observables)
            self._templates[key] = template
            self.transpilations += 1
            if len(self._templates) > 256:
                self._templates.popitem(last=False)
        return key, template

    def _transpile(self, qc):
        """``qc`` transpiled for the backend, as a template whose parameters are bound by arrays."""
        return transpile(qc, backend=self.compile_backend, **self._transpile_args)

    @staticmethod
    def _kind(tape):
        # expectation values of Pauli sums go to the Estimator; everything else (variances too:
        # estimators report the precision they reached, not the observable's spread) is sampled
        if all(isinstance(m, ExpectationMP) and getattr(m.obs, "pauli_rep", None) for m in tape.measurements):
            return "estimator"
        return "sampler"

    def execute(self, circuits, execution_config=None):
        """Run ``circuits`` in at most one Estimator job and one Sampler job."""
        if isinstance(circuits, QuantumScript):
            circuits = [circuits]
        for circ in circuits:
            if circ.shots and len(circ.shots.shot_vector) > 1:
                raise ValueError(f"shot vectors are not supported by {self.name}; use one integer.")
        results = [None] * len(circuits)
        groups = {"estimator": OrderedDict(), "sampler": OrderedDict()}
        for index, tape in enumerate(circuits):
            kind = self._kind(tape)
            shots = tape.shots.total_shots
            # one group per structure; its template is transpiled by the path that runs it
            indices, values = groups[kind].setdefault((_structure(tape, kind), shots), ([], []))
            indices.append(index)
            values.append(_values(tape))
        if groups["estimator"]:
            self._run_estimator(circuits, groups["estimator"], results)
        if groups["sampler"]:
            self._run_sampler(circuits, groups["sampler"], results)
        return results

    def _count_job(self, circuits: int) -> None:
        """Count one finished primitive job of ``circuits`` circuits, on the device and its tracker."""
        self.jobs += 1
        self.circuits_run += circuits
        if self.tracker.active:
            self.tracker.update(jobs=1, job_circuits=circuits)
            self.tracker.record()

    def _primitive(self, cls):
        primitive = cls(mode=self._session) if self._session else cls(mode=self.backend)
        primitive.options.update(**self._kwargs)
        return primitive

    def _run_estimator(self, circuits, groups, results):
        pubs, order = [], []
        for (_, shots), (indices, values) in groups.items():
            _, template = self._template(circuits[indices[0]], "estimator")
            values = np.asarray(values, dtype=float).reshape(len(indices), -1)
            observables = [[o] for o in template.observables]  # shape (K, 1): broadcast over rows
            precision = np.sqrt(1 / shots) if shots else None  # as qiskit.remote; None: the default
            pubs.append((template.compiled, observables, template.bind(values), precision))
            order.append(indices)
        job_result = self._primitive(EstimatorV2).run(pubs).result()
        self._count_job(sum(len(indices) for indices in order))
        for pub_result, indices in zip(job_result, order):
            evs = np.asarray(pub_result.data.evs)
            # (K, circuits); a template without parameters ran once for all its (equal) circuits
            evs = np.broadcast_to(evs.reshape(len(evs), -1), (len(evs), len(indices)))
            for column, index in enumerate(indices):
                results[index] = tuple(evs[:, column])  # one tuple per circuit, as qiskit.remote returns

    def _run_sampler(self, circuits, groups, results):
        pubs, order = [], []
        for (_, shots), (indices, values) in groups.items():
            _, template = self._template(circuits[indices[0]], "sampler")
            values = np.asarray(values, dtype=float).reshape(len(indices), -1)
            pubs.append((template.compiled, template.bind(values), shots))
            order.append((template, indices))
        job_result = self._primitive(SamplerV2).run(pubs).result()
        self._count_job(sum(len(indices) for _, indices in order))
        for pub_result, (template, indices) in zip(job_result, order):
            register = getattr(pub_result.data, template.compiled.cregs[0].name)
            # (circuits, shots, bits), bit i (qubit i's clbit) at [..., i]; a template without
            # parameters ran once for all its (equal) circuits
            runs = len(indices) if template.columns.size else 1
            bits = register.to_bool_array(order="little").reshape(runs, -1, register.num_bits)
            for column, index in enumerate(indices):
                samples = bits[column if runs > 1 else 0].astype(np.int64)
                tape = circuits[index]
                res = [mp.process_samples(samples, wire_order=self.wires) for mp in tape.measurements]
                results[index] = tuple(res)
