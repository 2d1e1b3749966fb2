"""FakeJobService: jobs that run at once, are found again by id or tag, and fail on demand."""

import pytest
from qiskit_ibm_runtime.exceptions import RuntimeJobFailureError, RuntimeJobNotFound

from qnn_torch.devices.fake_runtime import FakeJobService


class Primitive:
    """Stands for an Estimator or Sampler: its job's result is the PUBs it was given."""

    def __init__(self):
        self.runs = 0

    def run(self, pubs):
        self.runs += 1
        return type("Job", (), {"result": lambda _: list(pubs)})()


def test_jobs_run_at_once_and_are_found_by_id():
    service, primitive = FakeJobService(), Primitive()
    first, second = service.submit(primitive, ["a"]), service.submit(primitive, ["b"])
    assert service.submitted == [first.job_id(), second.job_id()] == ["fake-job-0000", "fake-job-0001"]
    assert primitive.runs == 2 and first.status() == "DONE" and first.result() == ["a"]
    assert service.job(second.job_id()) is second and service.fetched == [second.job_id()]
    with pytest.raises(RuntimeJobNotFound, match="Job not found: fake-job-9999"):
        service.job("fake-job-9999")


def test_failures_after_skipped_jobs():
    service, primitive = FakeJobService(), Primitive()
    service.fail_next(count=2, skip=1)
    jobs = [service.submit(primitive, [i]) for i in range(4)]
    assert [job.status() for job in jobs] == ["DONE", "ERROR", "ERROR", "DONE"]
    assert primitive.runs == 2  # failed jobs never ran
    with pytest.raises(RuntimeJobFailureError, match="simulated transient failure"):
        jobs[1].result()
    custom = ValueError("bad input")
    service.fail_next(error=custom)
    with pytest.raises(ValueError, match="bad input"):
        service.submit(primitive, []).result()


def test_an_interrupted_wait_leaves_the_job_done():
    service, primitive = FakeJobService(), Primitive()
    service.interrupt_next()
    job = service.submit(primitive, ["x"])
    with pytest.raises(KeyboardInterrupt):
        job.result()
    assert job.result() == ["x"] and job.status() == "DONE"  # it ran on, as on the service


def test_a_kill_after_the_service_accepted_the_job():
    service, primitive = FakeJobService(), Primitive()
    service.interrupt_on_submit(SystemExit("killed"), skip=1)
    service.submit(primitive, [0])
    with pytest.raises(SystemExit, match="killed"):
        service.submit(primitive, [1], tags=["run-7"])
    assert len(service.submitted) == 2 and service.find("run-7") == service.submitted[1]


def test_tags_find_the_newest_job_unless_the_service_keeps_none():
    service, primitive = FakeJobService(), Primitive()
    ids = [service.submit(primitive, [i], tags=["t"]).job_id() for i in range(2)]
    assert service.find("t") == ids[-1] and service.find("other") is None
    untagged = FakeJobService(tags=False)
    assert untagged.submit(primitive, [], tags=["t"]).tags == ()
    with pytest.raises(RuntimeError, match="cannot find jobs by tag"):
        untagged.find("t")
