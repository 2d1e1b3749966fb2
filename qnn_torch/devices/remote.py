"""IBM backends with one primitive job per training step.

pennylane-qiskit's ``qiskit.remote`` device transpiles and submits every circuit as its own
job: one training step of a small QNN (a batch of inputs, parameter-shift) makes hundreds of
jobs, each of which waits in the hardware queue. :class:`BatchedRemoteDevice` extends it:

* circuits with the same structure (gates, wires, measurements) are transpiled **once**, as a
  parametrised circuit, and cached;
* every ``execute`` call becomes **one** ``EstimatorV2`` or ``SamplerV2`` job holding one PUB
  per structure, with the parameter values of all its circuits as an array;
* it differentiates by the parameter-shift rule itself (PennyLane's ``diff_method="device"``):
  a forward pass that will be differentiated runs its circuits **and** all their shifted
  circuits in that one job (``jobs_per_step=1``, the default), or the shifted circuits in a
  second job (``jobs_per_step=2``); a forward pass without gradients runs no shifted circuit;
* a job that would exceed the service's limits (:class:`~qnn_torch.devices.jobs.JobLimits`) is
  split into the fewest jobs that fit; a job that fails transiently is submitted again
  (:class:`~qnn_torch.devices.jobs.RetryPolicy`); with a job journal
  (:mod:`~qnn_torch.devices.journal`) a job that already ran is fetched, not paid twice.

It is registered as the PennyLane device ``"qnn_torch.remote"`` and is what ``device="ibm:..."``,
``device="fake:..."`` and Qiskit ``Backend`` objects resolve to.
"""

from __future__ import annotations

import warnings
from collections import OrderedDict
from dataclasses import replace
from functools import partial

import numpy as np
import pennylane as qml
from pennylane.measurements import ExpectationMP
from pennylane.tape import QuantumScript
from pennylane_qiskit.converter import circuit_to_qiskit, mp_to_pauli
from pennylane_qiskit.qiskit_device import custom_simulator_tracking
from pennylane_qiskit.remote import RemoteDevice
from qiskit.compiler import transpile
from qiskit_ibm_runtime import EstimatorV2, SamplerV2

from .._compat import primitive_options, transpile_options
from .credentials import without_secrets
from .jobs import FAILED_STATES, BackendJobs, JobLimits, RetryPolicy, is_transient, job_status
from .journal import JobJournal, JobJournalError, digest
from .transpiled import TranspiledCircuit, gate_values, structure_key, symbolic_tape

__all__ = ["BatchedRemoteDevice"]


_NO_TRAINABLE = "Attempted to compute the gradient of a tape with no trainable parameters"


@custom_simulator_tracking  # our ``execute`` replaces the tracked one: track it as the plugin does
class BatchedRemoteDevice(RemoteDevice):
    """pennylane-qiskit's remote device, with one primitive job per training step.

    Args:
        wires (int or Iterable): the wires.
        backend (Backend): an IBM backend, or a ``qiskit_ibm_runtime.fake_provider`` one.
        shots (int or None): default shots (the QNode's shots take precedence).
        session (Session or Batch or None): a Qiskit Runtime session or batch to run the jobs in.
        jobs_per_step (int): with ``diff_method="device"`` (what qnn_torch's networks use on
            this device), ``1`` runs a differentiated forward pass and all its parameter-shift
            circuits in one job; ``2`` runs the shifted circuits in a second job when the
            gradient is first needed. Evaluation without gradients is one job either way.
        max_executions (int or None): the most circuits times shots one job may hold; None: what
            the backend reports, else 10 million (IBM Quantum's limit).
        max_circuits (int or None): the most circuits one job may hold; None: what the backend
            reports (``backend.max_circuits``), else no limit.
        job_retries (int): how often a job that failed transiently (see
            :func:`~qnn_torch.devices.jobs.is_transient`) is submitted again before the error
            propagates.
        retry_delay (float): seconds before the first retry, doubled before each further one.
        job_service: submits jobs and finds them by id: by default the backend's IBM Runtime
            service (:class:`~qnn_torch.devices.jobs.BackendJobs`), or a
            :class:`~qnn_torch.devices.fake_runtime.FakeJobService` for tests.
        **kwargs: transpiler options (``optimization_level``, ``initial_layout``, ...) and
            primitive options (``resilience_level``, ...), as for ``qiskit.remote``.

    Under a ``qml.Tracker`` it records what PennyLane's devices record (``batches``,
    ``executions``, ``execute_and_derivative_batches``, ...) and also ``jobs``, one per primitive
    job submitted, with ``job_circuits``, the circuits it held, and ``jobs_fetched``, one per job
    fetched from a journal instead of being submitted.

    Attributes:
        jobs (int): the number of primitive jobs submitted so far.
        jobs_fetched (int): the number of jobs fetched from a journal instead.
        circuits_run (int): the number of circuits the submitted jobs held.
        transpilations (int): the number of circuit structures transpiled.
        limits (JobLimits): what one job may hold.
        retry (RetryPolicy): how failed jobs are retried.
        journal (JobJournal or None): where job ids are written before their results are
            awaited (set by :func:`qnn_torch.fit`); used only when jobs can be retrieved by id.
        journal_key (str): this device's name in the journal.

    Raises:
        ValueError: for a ``jobs_per_step`` other than 1 or 2, or limits, retries or a delay that
            are not positive (the message names the option).

    **Example**

    >>> from qiskit_ibm_runtime.fake_provider import FakeManilaV2
    >>> dev = qml.device("qnn_torch.remote", wires=2, backend=FakeManilaV2())
    >>> dev.jobs, dev.jobs_per_step, dev.limits.max_executions
    (0, 1, 10000000)
    """

    short_name = "qnn_torch.remote"

    def __init__(self, wires, backend, shots=None, session=None, *, jobs_per_step: int = 1,
                 max_executions: int | None = None, max_circuits: int | None = None, job_retries: int = 2,
                 retry_delay: float = 5.0, job_service=None, **kwargs):
        if isinstance(jobs_per_step, bool) or jobs_per_step not in (1, 2):
            raise ValueError(f"jobs_per_step must be 1 (a forward pass and its gradient circuits in one job) "
                             f"or 2 (the gradient circuits in a second job); got {jobs_per_step!r}.")
        self.jobs_per_step = int(jobs_per_step)
        self.limits = JobLimits.for_backend(backend, max_executions, max_circuits)
        self.retry = RetryPolicy(job_retries, retry_delay)
        super().__init__(wires, backend=backend, shots=shots, session=session, **kwargs)
        self.job_service = job_service if job_service is not None else BackendJobs(backend)
        self.journal: JobJournal | None = None
        self.journal_key = "0"
        self._transpiled_circuits: OrderedDict = OrderedDict()
        self.jobs = 0
        self.jobs_fetched = 0
        self.circuits_run = 0
        self.transpilations = 0

    @property
    def name(self):
        return self.short_name

    @property
    def jobs_retrievable(self) -> bool:
        """bool: whether this device's jobs can be found by id after a restart (and so journaled)."""
        return bool(getattr(self.job_service, "retrievable", False))

    # ------------------------------------------------------------------ differentiation

    def preprocess(self, execution_config=None):
        """pennylane-qiskit's preprocessing; with ``diff_method="device"`` this device's own
        parameter-shift derivatives, computed with the forward pass when ``jobs_per_step`` is 1."""
        program, config = super().preprocess(execution_config)
        if config.gradient_method == "device":
            on_execution = config.grad_on_execution
            if on_execution is None:
                on_execution = self.jobs_per_step == 1
            config = replace(config, use_device_gradient=True, grad_on_execution=on_execution)
        return program, config

    def supports_derivatives(self, execution_config=None, circuit=None) -> bool:
        """First derivatives by the parameter-shift rule, for ``diff_method="device"``."""
        if execution_config is None:
            return True
        return execution_config.gradient_method == "device" and execution_config.derivative_order == 1

    def execute_and_compute_derivatives(self, circuits, execution_config=None):
        """The results of ``circuits`` and their Jacobians, from one job holding the circuits and
        all their parameter-shift circuits."""
        circuits = [circuits] if isinstance(circuits, QuantumScript) else list(circuits)
        gradients = self._gradient_tapes(circuits, execution_config)
        shifted = [tape for tapes, _ in gradients for tape in tapes]
        results = self._execute_circuits(circuits + shifted)
        return tuple(results[:len(circuits)]), self._jacobians(gradients, results[len(circuits):])

    def compute_derivatives(self, circuits, execution_config=None):
        """The Jacobians of ``circuits``, from one job holding all their parameter-shift circuits."""
        circuits = [circuits] if isinstance(circuits, QuantumScript) else list(circuits)
        gradients = self._gradient_tapes(circuits, execution_config)
        shifted = [tape for tapes, _ in gradients for tape in tapes]
        return self._jacobians(gradients, self._execute_circuits(shifted) if shifted else [])

    @staticmethod
    def _gradient_tapes(circuits, execution_config):
        """``qml.gradients.param_shift`` of every circuit: (shifted tapes, post-processing)."""
        kwargs = dict(getattr(execution_config, "gradient_keyword_arguments", None) or {})
        with warnings.catch_warnings():  # circuits without trainable parameters get empty Jacobians
            warnings.filterwarnings("ignore", message=_NO_TRAINABLE, category=UserWarning)
            return [qml.gradients.param_shift(circuit, **kwargs) for circuit in circuits]

    @staticmethod
    def _jacobians(gradients, results):
        jacobians, start = [], 0
        for tapes, postprocess in gradients:
            jacobians.append(postprocess(results[start:start + len(tapes)]))
            start += len(tapes)
        return tuple(jacobians)

    # ------------------------------------------------------------------ circuits to PUBs

    def _transpiled(self, tape, kind) -> TranspiledCircuit:
        """The transpiled circuit of ``tape``'s structure, transpiled on first use (the 256 last
        structures are kept)."""
        key = structure_key(tape, kind)
        transpiled = self._transpiled_circuits.get(key)
        if transpiled is None:
            symbolic, params = symbolic_tape(tape)
            if kind == "estimator":
                qc = circuit_to_qiskit(symbolic, self.num_wires, diagonalize=False, measure=False)
            else:
                qc = circuit_to_qiskit(symbolic, self.num_wires, diagonalize=True, measure=True)
            circuit = self._transpile(qc)
            observables = None
            if kind == "estimator":
                observables = [mp_to_pauli(mp, self.num_wires).apply_layout(circuit.layout)
                               for mp in tape.measurements]
            transpiled = TranspiledCircuit(circuit, params, observables, key)
            self._transpiled_circuits[key] = transpiled
            self.transpilations += 1
            if len(self._transpiled_circuits) > 256:
                self._transpiled_circuits.popitem(last=False)
        return transpiled

    def _transpile(self, qc):
        """``qc`` transpiled for the backend, its parameters left to be bound by value arrays."""
        return transpile(qc, backend=self.compile_backend, **transpile_options(self))

    @staticmethod
    def _kind(tape):
        # expectation values of Pauli sums go to the Estimator; everything else (variances too:
        # estimators report the precision they reached, not the observable's spread) is sampled
        if all(isinstance(m, ExpectationMP) and getattr(m.obs, "pauli_rep", None) for m in tape.measurements):
            return "estimator"
        return "sampler"

    def execute(self, circuits, execution_config=None):
        """Run ``circuits`` in one Estimator or Sampler job (one of each for a mixed batch; more
        only where a job would exceed :attr:`limits`)."""
        return self._execute_circuits(circuits)

    def _execute_circuits(self, circuits):
        """The untracked body of :meth:`execute`."""
        if isinstance(circuits, QuantumScript):
            circuits = [circuits]
        for circ in circuits:
            if circ.shots and len(circ.shots.shot_vector) > 1:
                raise ValueError(f"shot vectors are not supported by {self.name}; use one integer.")
        results = [None] * len(circuits)
        groups = {"estimator": OrderedDict(), "sampler": OrderedDict()}
        for index, tape in enumerate(circuits):
            kind = self._kind(tape)
            # one group per structure; its circuit is transpiled by the path that runs it
            indices, values = groups[kind].setdefault(self._group_key(tape, kind), ([], []))
            indices.append(index)
            values.append(gate_values(tape))
        if groups["estimator"]:
            self._run_estimator(circuits, groups["estimator"], results)
        if groups["sampler"]:
            self._run_sampler(circuits, groups["sampler"], results)
        return results

    def _run_estimator(self, circuits, groups, results):
        pubs, sizes, digests, order = [], [], [], []
        for key, (indices, values) in groups.items():
            shots = key[1]
            transpiled = self._transpiled(circuits[indices[0]], "estimator")
            values = np.asarray(values, dtype=float).reshape(len(indices), -1)
            observables = [[o] for o in transpiled.observables]  # shape (K, 1): broadcast over rows
            precision = self._pub_precision(key)
            rows = transpiled.bind(values)
            pubs.append((transpiled.circuit, observables, rows, precision))
            sizes.append((1 if rows is None else len(rows), shots or 1))
            digests.append(transpiled.digest)
            order.append(indices)
        parts = self._run_pubs("estimator", pubs, sizes, digests)
        for pub_parts, indices in zip(parts, order):
            k = len(pub_parts[0].data.evs)
            # (K, circuits); a circuit without parameters ran once for all its (equal) tapes
            evs = np.concatenate([np.asarray(p.data.evs).reshape(k, -1) for p in pub_parts], axis=1)
            evs = np.broadcast_to(evs, (k, len(indices)))
            for column, index in enumerate(indices):
                results[index] = tuple(evs[:, column])  # one tuple per circuit, as qiskit.remote returns

    def _run_sampler(self, circuits, groups, results):
        pubs, sizes, digests, order = [], [], [], []
        for key, (indices, values) in groups.items():
            shots = key[1]
            transpiled = self._transpiled(circuits[indices[0]], "sampler")
            values = np.asarray(values, dtype=float).reshape(len(indices), -1)
            rows = transpiled.bind(values)
            pubs.append((transpiled.circuit, rows, shots))
            sizes.append((1 if rows is None else len(rows), shots or 1))
            digests.append(transpiled.digest)
            order.append((transpiled, indices))
        parts = self._run_pubs("sampler", pubs, sizes, digests)
        for pub_parts, (transpiled, indices) in zip(parts, order):
            name = transpiled.circuit.cregs[0].name
            # (circuits, shots, bits), bit i (qubit i's clbit) at [..., i]; a circuit without
            # parameters ran once for all its (equal) tapes
            chunks = []
            for part in pub_parts:
                register = getattr(part.data, name)
                bits = register.to_bool_array(order="little")
                runs = -1 if transpiled.columns.size else 1
                chunks.append(bits.reshape(runs, register.num_shots, register.num_bits))
            bits = np.concatenate(chunks, axis=0)
            for column, index in enumerate(indices):
                samples = bits[column if len(bits) > 1 else 0].astype(np.int64)
                tape = circuits[index]
                res = [mp.process_samples(samples, wire_order=self.wires) for mp in tape.measurements]
                results[index] = tuple(res)

    def _group_key(self, tape, kind: str) -> tuple:
        """The PUB a tape joins: its structure and shots first (a subclass may add more)."""
        return structure_key(tape, kind), tape.shots.total_shots

    def _pub_precision(self, key: tuple) -> float | None:
        """The precision of the estimator PUB of group ``key``: ``1/sqrt(shots)`` as ``qiskit.remote``
        sets it, None (the primitive's default) without shots."""
        shots = key[1]
        return np.sqrt(1 / shots) if shots else None

    # ------------------------------------------------------------------ PUBs to jobs

    def _run_pubs(self, kind, pubs, sizes, digests):
        """Run ``pubs`` in the fewest jobs :attr:`limits` allows.

        Returns, for every PUB, the results of its parts in row order (one part unless the PUB
        was split between jobs).
        """
        parts = [[] for _ in pubs]
        for job in self.limits.plan(sizes):
            chunk, content = [], []
            for pub, start, stop in job:
                piece = _rows(kind, pubs[pub], start, stop)
                chunk.append(piece)
                content.append((digests[pub], piece[2 if kind == "estimator" else 1], piece[-1]))
            circuits = sum(stop - start for _, start, stop in job)
            result = self._run_job(kind, chunk, digest(kind, content), circuits)
            for (pub, _, _), pub_result in zip(job, result):
                parts[pub].append(pub_result)
        return parts

    def _run_job(self, kind, pubs, job_digest, circuits):
        """One job's result: fetched through the journal if it already ran, else submitted (and
        journaled before it is awaited), retried while it fails transiently. An error of the
        service that holds a credential is raised as a :class:`~.jobs.ServiceError`, the
        credential masked."""
        journal = self.journal if self.jobs_retrievable else None
        index, submit = None, self.job_service.submit
        if journal is not None:
            index = journal.next_index(self.journal_key)
            entry = journal.entry(self.journal_key, index, job_digest)
            if entry is None:
                entry = self._find_tagged(journal, index, job_digest)
            if entry is not None:
                result = self._fetch(journal, entry)
                if result is not None:
                    return result
            if self._tags_supported:  # found by its tag if the process dies before it is recorded
                submit = partial(submit, tags=[journal.tag(self.journal_key, index, job_digest)])
        primitive_class = EstimatorV2 if kind == "estimator" else SamplerV2
        attempt = 0
        while True:
            job, error = _guarded("submitting a job", submit, self._primitive(primitive_class), pubs)
            if error is not None:
                raise error
            self._count_job(circuits)
            if journal is not None:
                journal.record(self.journal_key, index, job_digest, job.job_id(), self.backend.name)
            result, error = _guarded(f"job {job.job_id()}", job.result)
            if error is None:
                return result
            if attempt >= self.retry.retries or not is_transient(error):
                raise error
            self.retry.wait(attempt)
            attempt += 1

    @property
    def _tags_supported(self) -> bool:
        return bool(getattr(self.job_service, "supports_tags", False))

    def _find_tagged(self, journal, index: int, job_digest: str) -> dict | None:
        """The journal entry of job ``index`` when the service holds it by its tag though the journal
        does not (the process was killed between the service accepting it and the journal recording
        it), else None."""
        if not (self._tags_supported and journal.unrecorded(self.journal_key, index)):
            return None
        tag = journal.tag(self.journal_key, index, job_digest)
        job_id, error = _guarded("looking up a job by its tag", self.job_service.find, tag)
        if error is not None:
            raise error
        if job_id is None:
            return None
        journal.record(self.journal_key, index, job_digest, job_id, self.backend.name)
        return journal.entry(self.journal_key, index, job_digest)

    def _fetch(self, journal, entry):
        """The result of a journaled job, waiting for it if it is still queued or running; None if
        it failed (it is then submitted again)."""
        from qiskit_ibm_runtime.exceptions import RuntimeJobNotFound

        job_id = entry["job_id"]
        job, error = _guarded(f"looking up job {job_id}", self.job_service.job, job_id)
        if isinstance(error, RuntimeJobNotFound):
            raise JobJournalError(
                f"job journal {journal.path}: the service does not know job {job_id} (another "
                "account or instance?); resume with the account that ran it, or delete the journal to submit "
                "every job again.")
        if error is None:
            status, error = _guarded(f"polling job {job_id}", job_status, job)
        if error is not None:
            raise error
        if status in FAILED_STATES:
            return None
        result, error = _guarded(f"job {job_id}", job.result)
        if error is not None:
            if is_transient(error):
                return None
            raise error
        self.jobs_fetched += 1
        journal.fetched += 1
        if self.tracker.active:
            self.tracker.update(jobs_fetched=1)
            self.tracker.record()
        return result

    def _count_job(self, circuits: int) -> None:
        """Count one submitted primitive job of ``circuits`` circuits, on the device and its tracker."""
        self.jobs += 1
        self.circuits_run += circuits
        if self.tracker.active:
            self.tracker.update(jobs=1, job_circuits=circuits)
            self.tracker.record()

    def _primitive(self, cls):
        primitive = cls(mode=self.session) if self.session else cls(mode=self.backend)
        primitive.options.update(**primitive_options(self))
        return primitive


def _guarded(action: str, fn, *args):
    """``(fn(*args), None)``, or ``(None, error)`` for the exception it raised: the exception
    itself, or a :class:`~.jobs.ServiceError` saying ``action`` failed when it held a
    credential. The caller raises it outside this handler, so that no credential-holding error
    becomes its ``__context__``."""
    try:
        return fn(*args), None
    except Exception as err:  # noqa: BLE001 - handed to the caller, which raises it
        return None, without_secrets(err, action)


def _rows(kind, pub, start, stop):
    """The PUB with parameter rows ``start:stop`` only (a PUB without parameters is whole)."""
    if kind == "estimator":
        circuit, observables, values, precision = pub
        return circuit, observables, None if values is None else values[start:stop], precision
    circuit, values, shots = pub
    return circuit, None if values is None else values[start:stop], shots
