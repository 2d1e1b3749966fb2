"""An in-memory stand-in for the IBM Runtime service, for tests and offline tutorials.

Real hardware fails in ways a local fake backend never does: a job fails and must be
submitted again, or the process dies while a job is queued, and the job runs on without it.
:class:`FakeJobService` plays the service's part. Give it to a device as
``device_options={"job_service": service}``: each job runs at once on the device's local
primitive (a fake backend's simulator), keeps its result, and can be found by its id by any
device given the same service, as the real service finds jobs submitted by an earlier process.
Faults are injected on demand.

**Example**

>>> from qnn_torch.devices.fake_runtime import FakeJobService
>>> service = FakeJobService()
>>> service.fail_next()  # the next job fails once (then it is submitted again)
>>> service.submitted
[]
"""

from __future__ import annotations

import itertools
from collections import deque

__all__ = ["FakeJob", "FakeJobService"]


class FakeJob:
    """A job of :class:`FakeJobService`.

    Args:
        job_id (str): its id.
        result: the primitive result (None if the job failed).
        error (Exception or None): what ``result()`` raises for a failed job.
        interrupt (BaseException or None): what the first ``result()`` raises while the job
            itself finishes (the waiting process is killed).
        tags (tuple[str]): the job's tags.
    """

    def __init__(self, job_id: str, result=None, error: Exception | None = None,
                 interrupt: BaseException | None = None, tags: tuple = ()):
        self._job_id = job_id
        self._result = result
        self._error = error
        self._interrupt = interrupt
        self.tags = tuple(tags)
        """tuple[str]: the tags the job was submitted with."""

    def job_id(self) -> str:
        """str: the job's id."""
        return self._job_id

    def status(self) -> str:
        """str: ``"DONE"`` or ``"ERROR"``, as IBM Runtime jobs report it."""
        return "ERROR" if self._error is not None else "DONE"

    def result(self):
        """The primitive result; raises the job's error, or once the injected interruption."""
        if self._interrupt is not None:
            interrupt, self._interrupt = self._interrupt, None
            raise interrupt
        if self._error is not None:
            raise self._error
        return self._result


class FakeJobService:
    """Jobs that run locally, are kept by id and fail on demand.

    Args:
        tags (bool): whether jobs keep their tags and can be found by them (:meth:`find`), as on
            IBM's service; False plays a service without tags.

    Attributes:
        jobs (dict): every job by id.
        submitted (list[str]): the ids of the submitted jobs, in order.
        fetched (list[str]): the ids of the jobs looked up again with :meth:`job`.
        supports_tags (bool): the ``tags`` argument.
    """

    retrievable = True

    def __init__(self, tags: bool = True):
        self.supports_tags = bool(tags)
        self.jobs: dict[str, FakeJob] = {}
        self.submitted: list[str] = []
        self.fetched: list[str] = []
        self._faults: deque = deque()
        self._ids = itertools.count()

    def fail_next(self, count: int = 1, error: Exception | None = None, skip: int = 0) -> None:
        """After ``skip`` jobs, the next ``count`` jobs fail (status ``"ERROR"``; ``result()``
        raises ``error``, by default a ``RuntimeJobFailureError``, which the device retries)."""
        if error is None:
            from qiskit_ibm_runtime.exceptions import RuntimeJobFailureError

            error = RuntimeJobFailureError("Job failed: simulated transient failure")
        self._faults.extend([None] * skip + [("fail", error)] * count)

    def interrupt_next(self, interrupt: BaseException | None = None, skip: int = 0) -> None:
        """After ``skip`` jobs, the next job runs to its end on the service, but the process waiting
        for it receives ``interrupt`` (default ``KeyboardInterrupt``) from ``result()``, as if it
        were killed while the job ran."""
        self._faults.extend([None] * skip)
        self._faults.append(("interrupt", interrupt or KeyboardInterrupt("simulated kill while a job runs")))

    def interrupt_on_submit(self, interrupt: BaseException | None = None, skip: int = 0) -> None:
        """After ``skip`` jobs, the service accepts and runs the next job, but the process that
        submitted it receives ``interrupt`` (default ``KeyboardInterrupt``) before ``submit`` returns:
        killed between the service accepting the job and the journal recording it."""
        self._faults.extend([None] * skip)
        interrupt = interrupt or KeyboardInterrupt("simulated kill after the job was accepted")
        self._faults.append(("accepted", interrupt))

    def submit(self, primitive, pubs, tags=None) -> FakeJob:
        """Run ``pubs`` on ``primitive`` now and keep the job (with ``tags`` where tags are kept)."""
        fault = self._faults.popleft() if self._faults else None
        job_id = f"fake-job-{next(self._ids):04d}"
        kept = tuple(tags or ()) if self.supports_tags else ()
        if fault is not None and fault[0] == "fail":
            job = FakeJob(job_id, error=fault[1], tags=kept)
        else:
            result = primitive.run(pubs).result()
            interrupt = fault[1] if fault is not None and fault[0] == "interrupt" else None
            job = FakeJob(job_id, result, interrupt=interrupt, tags=kept)
        self.jobs[job_id] = job
        self.submitted.append(job_id)
        if fault is not None and fault[0] == "accepted":
            raise fault[1]
        return job

    def find(self, tag: str) -> str | None:
        """The id of the newest job tagged ``tag``, or None.

        Raises:
            RuntimeError: if this service keeps no tags (``tags=False``).
        """
        if not self.supports_tags:
            raise RuntimeError("this service cannot find jobs by tag")
        tagged = [job_id for job_id in self.submitted if tag in self.jobs[job_id].tags]
        return tagged[-1] if tagged else None

    def job(self, job_id: str) -> FakeJob:
        """The job ``job_id``.

        Raises:
            RuntimeJobNotFound: for an id this service never gave.
        """
        if job_id not in self.jobs:
            from qiskit_ibm_runtime.exceptions import RuntimeJobNotFound

            raise RuntimeJobNotFound(f"Job not found: {job_id}")
        self.fetched.append(job_id)
        return self.jobs[job_id]
