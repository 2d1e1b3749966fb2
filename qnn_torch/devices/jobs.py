"""Primitive jobs that respect the service's limits and survive transient failures.

Three small pieces used by :class:`~qnn_torch.devices.BatchedRemoteDevice`:

* :class:`JobLimits`: the most a job may hold (executions, that is circuits times shots, and
  optionally circuits), and :meth:`JobLimits.plan`, which splits the PUBs of one ``execute``
  call into the fewest jobs that fit;
* :class:`RetryPolicy`: how often a failed job is submitted again, and how long to wait first;
* :class:`BackendJobs`: how jobs are submitted and found again by id (the IBM Runtime service of
  the backend, when it has one).

IBM Quantum allows at most 10 million executions per Sampler job (its "Job limits" guide; the
service does not enforce the ``max_shots`` and ``max_experiments`` fields of
``backend.configuration()``). Executions are counted here as circuits times shots for both
primitives, before the Estimator groups observables: a conservative count for the Estimator,
which the service may split on its own.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from numbers import Integral, Real
from typing import Callable, Sequence

__all__ = [
    "DEFAULT_MAX_EXECUTIONS",
    "BackendJobs",
    "JobLimits",
    "RetryPolicy",
    "ServiceError",
    "is_transient",
    "job_status",
]

DEFAULT_MAX_EXECUTIONS = 10_000_000
"""int: IBM Quantum's limit on executions (circuits times shots) in one job."""


def _positive_int(value, name: str, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, Integral) or value <= 0:
        expected = "a positive integer" + (" or None" if allow_none else "")
        raise ValueError(f"{name} must be {expected}; got {value!r}.")
    return int(value)


@dataclass(frozen=True)
class JobLimits:
    """What one primitive job may hold.

    Args:
        max_executions (int): the most circuits times shots in one job.
        max_circuits (int or None): the most circuits (parameter sets) in one job; None for no
            limit of its own.

    Raises:
        ValueError: if a limit is not a positive integer (the message names it).

    **Example**

    >>> JobLimits(max_executions=3000).plan([(5, 1000)])
    [[(0, 0, 3)], [(0, 3, 5)]]
    """

    max_executions: int = DEFAULT_MAX_EXECUTIONS
    max_circuits: int | None = None

    def __post_init__(self):
        object.__setattr__(self, "max_executions", _positive_int(self.max_executions, "max_executions"))
        circuits = _positive_int(self.max_circuits, "max_circuits", allow_none=True)
        object.__setattr__(self, "max_circuits", circuits)

    @classmethod
    def for_backend(cls, backend, max_executions=None, max_circuits=None) -> JobLimits:
        """The limits for ``backend``: the values given, else what the backend reports, else defaults.

        A backend reports a circuit limit through ``backend.max_circuits`` (None on IBM backends
        today: no such limit) and an execution limit through a ``max_executions`` field of
        ``backend.configuration()``, where its configuration has one.

        Args:
            backend: a Qiskit backend.
            max_executions (int or None): overrides the backend's execution limit.
            max_circuits (int or None): overrides the backend's circuit limit.

        Raises:
            ValueError: if a limit given is not a positive integer.
        """
        if max_executions is not None:
            _positive_int(max_executions, "max_executions")
        if max_circuits is not None:
            _positive_int(max_circuits, "max_circuits")
        if max_executions is None:
            try:
                reported = getattr(backend.configuration(), "max_executions", None)
            except Exception:  # noqa: BLE001 - no configuration (BackendV2 need not have one)
                reported = None
            max_executions = reported if _is_positive(reported) else DEFAULT_MAX_EXECUTIONS
        if max_circuits is None:
            reported = getattr(backend, "max_circuits", None)
            max_circuits = reported if _is_positive(reported) else None
        return cls(max_executions, max_circuits)

    def plan(self, sizes: Sequence[tuple[int, int]]) -> list[list[tuple[int, int, int]]]:
        """Split PUBs into the fewest jobs that fit, keeping their order.

        Args:
            sizes: ``(rows, shots)`` of every PUB: its parameter sets (circuits) and the shots
                of each.

        Returns:
            list: one list per job of ``(pub, start, stop)``: the rows ``start:stop`` of PUB
            ``pub``. A PUB is split between jobs only where it does not fit whole.

        Raises:
            ValueError: if one circuit alone exceeds ``max_executions``.

        Every job is filled before the next begins, so when all circuits have the same shots the
        number of jobs is the least possible.
        """
        jobs: list[list[tuple[int, int, int]]] = [[]]
        executions = circuits = 0
        for pub, (rows, shots) in enumerate(sizes):
            shots = max(int(shots), 1)
            if shots > self.max_executions:
                raise ValueError(
                    f"one circuit with {shots} shots exceeds max_executions={self.max_executions} "
                    "(circuits times shots per job); use fewer shots or a larger max_executions.")
            start = 0
            while start < rows:
                room = (self.max_executions - executions) // shots
                if self.max_circuits is not None:
                    room = min(room, self.max_circuits - circuits)
                if room <= 0:
                    jobs.append([])
                    executions = circuits = 0
                    continue
                stop = min(rows, start + room)
                jobs[-1].append((pub, start, stop))
                executions += (stop - start) * shots
                circuits += stop - start
                start = stop
        return [job for job in jobs if job]


def _is_positive(value) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool) and value > 0


@dataclass(frozen=True)
class RetryPolicy:
    """How a job that failed transiently is submitted again.

    Args:
        retries (int): how many times a failed job is submitted again before the error
            propagates (0: never).
        delay (float): seconds to wait before the first retry; doubled before each further one.
        max_delay (float): the longest wait.
        sleep (Callable): the function that waits (``time.sleep``); tests inject their own.

    Raises:
        ValueError: if ``retries`` is negative or not an integer, or a delay is negative.
    """

    retries: int = 2
    delay: float = 5.0
    max_delay: float = 300.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False, compare=False)

    def __post_init__(self):
        if isinstance(self.retries, bool) or not isinstance(self.retries, Integral) or self.retries < 0:
            raise ValueError(f"job_retries must be a non-negative integer; got {self.retries!r}.")
        for name, value in (("retry_delay", self.delay), ("max_delay", self.max_delay)):
            if isinstance(value, bool) or not isinstance(value, Real) or not value >= 0:
                raise ValueError(f"{name} must be a non-negative number of seconds; got {value!r}.")

    def wait(self, attempt: int) -> None:
        """Wait before retry number ``attempt + 1`` (``delay * 2**attempt``, at most ``max_delay``)."""
        seconds = min(self.delay * 2**attempt, self.max_delay)
        if seconds > 0:
            self.sleep(seconds)


class ServiceError(RuntimeError):
    """An error of the IBM service whose text held a credential, with the credential masked.

    The original error is not kept: its message, chain or frames' locals held the credential.

    Attributes:
        kind (str): the original error's type name.
        transient (bool): whether submitting the job again may succeed (see :func:`is_transient`).
    """

    def __init__(self, message: str, kind: str, transient: bool = False):
        super().__init__(message)
        self.kind = kind
        self.transient = transient


def is_transient(err: BaseException) -> bool:
    """Whether a job failure may pass if the job is submitted again.

    Transient: a failed or timed-out runtime job, an error from the service's API, a lost
    connection. Not transient: invalid input, a job that ran past its maximum execution time
    (it would again), a job or program the service does not know, and anything that is not an
    ``Exception`` (an interruption).
    """
    if not isinstance(err, Exception):
        return False
    if isinstance(err, ServiceError):  # a scrubbed service error: the original error's answer
        return err.transient
    if isinstance(err, (ConnectionError, TimeoutError)):
        return True
    try:
        from qiskit_ibm_runtime.api.exceptions import RequestsApiError
        from qiskit_ibm_runtime.exceptions import (
            IBMRuntimeError,
            RuntimeJobFailureError,
            RuntimeJobMaxTimeoutError,
            RuntimeJobNotFound,
            RuntimeJobTimeoutError,
            RuntimeProgramNotFound,
        )
    except ImportError:  # pragma: no cover - qiskit-ibm-runtime is a dependency of the remote device
        return False
    if isinstance(err, (RuntimeJobMaxTimeoutError, RuntimeJobNotFound, RuntimeProgramNotFound, ValueError)):
        return False
    transient = (RuntimeJobFailureError, RuntimeJobTimeoutError, RequestsApiError, IBMRuntimeError)
    return isinstance(err, transient)


FAILED_STATES = frozenset({"ERROR", "CANCELLED", "FAILED"})
"""frozenset[str]: the states of a job that will never give a result."""


def job_status(job) -> str:
    """A job's state as an upper-case string (``"DONE"``, ``"RUNNING"``, ``"ERROR"``, ...).

    IBM Runtime jobs report a string, local ones a ``JobStatus``.
    """
    status = job.status()
    return str(getattr(status, "name", status)).upper()


class BackendJobs:
    """Submits primitive jobs and finds them again by id, or by tag, through the backend's runtime
    service.

    Args:
        backend: the Qiskit backend. IBM backends (``qiskit_ibm_runtime.IBMBackend``) have a
            ``service`` whose ``job(job_id)`` returns a job submitted earlier, also by another
            process, and whose ``jobs(job_tags=...)`` finds jobs by their tags; local backends (fake
            or simulators) have none.
    """

    def __init__(self, backend):
        service = getattr(backend, "service", None)
        self._service = service if callable(getattr(service, "job", None)) else None
        self._backend_name = getattr(backend, "name", None)

    @property
    def retrievable(self) -> bool:
        """bool: whether a job can be found by its id after the process that submitted it ended."""
        return self._service is not None

    @property
    def supports_tags(self) -> bool:
        """bool: whether jobs can be submitted with tags and found by them (:meth:`find`)."""
        return self._service is not None and callable(getattr(self._service, "jobs", None))

    def submit(self, primitive, pubs, tags=None):
        """``primitive.run(pubs)``, with ``tags`` (a list of strings) as the job's tags: the
        submitted job."""
        if tags:
            primitive.options.environment.job_tags = list(tags)
        return primitive.run(pubs)

    def job(self, job_id: str):
        """The job with id ``job_id``.

        Raises:
            RuntimeError: if jobs of this backend cannot be retrieved.
        """
        if self._service is None:
            raise RuntimeError("jobs of a local backend cannot be retrieved by id")
        return self._service.job(job_id)

    def find(self, tag: str) -> str | None:
        """The id of the newest job of this backend tagged ``tag``, or None if there is none.

        Raises:
            RuntimeError: if this backend's service cannot find jobs by tag.
        """
        if not self.supports_tags:
            raise RuntimeError("this backend's service cannot find jobs by tag")
        jobs = self._service.jobs(job_tags=[tag], backend_name=self._backend_name, limit=1, descending=True)
        return jobs[0].job_id() if jobs else None
