"""Job limits: a job too large for the service is split into the fewest jobs that fit, with the
same results; limits that are not positive are refused by name; failed jobs are retried."""

import numpy as np
import pennylane as qml
import pytest
import torch
from qiskit.providers.fake_provider import GenericBackendV2
from qiskit_ibm_runtime.fake_provider import FakeManilaV2

from qnn_torch import TorchConnector
from qnn_torch.devices import BatchedRemoteDevice, FakeJobService
from qnn_torch.devices.jobs import DEFAULT_MAX_EXECUTIONS, JobLimits, RetryPolicy, is_transient
from qnn_torch.devices.remote import EstimatorV2, SamplerV2

from .networks import SIGMAS, network, noise_scale, run

# a 2-qubit network: 10 gate parameters, 21 circuits per sample in a training step
CIRCUITS_PER_SAMPLE = 1 + 2 * 10
SHOTS = 2000
WEIGHTS = np.array([0.3, -0.5, 0.9, 0.1])


def noiseless():
    return GenericBackendV2(2, noise_info=False, seed=3)


@pytest.fixture
def submitted(monkeypatch):
    """The parameter rows of every PUB of every primitive job, job by job."""
    jobs = []
    for cls in (EstimatorV2, SamplerV2):
        original = cls.run

        def recording_run(self, pubs, *args, _original=original, **kwargs):
            jobs.append([np.asarray(p[-2]) for p in pubs])
            return _original(self, pubs, *args, **kwargs)

        monkeypatch.setattr(cls, "run", recording_run)
    return jobs


# ---------------------------------------------------------------- planning


@pytest.mark.parametrize("sizes, limits, expected", [
    ([(5, 1000)], JobLimits(3000), [[(0, 0, 3)], [(0, 3, 5)]]),
    ([(2, 100), (3, 100)], JobLimits(1000), [[(0, 0, 2), (1, 0, 3)]]),  # everything fits: one job
    ([(2, 100), (3, 100)], JobLimits(300), [[(0, 0, 2), (1, 0, 1)], [(1, 1, 3)]]),
    ([(4, 10), (4, 10)], JobLimits(10**6, max_circuits=3),
     [[(0, 0, 3)], [(0, 3, 4), (1, 0, 2)], [(1, 2, 4)]]),
    ([(1, 10)], JobLimits(10), [[(0, 0, 1)]]),  # exactly at the limit
])
def test_plan_splits_in_order_into_the_fewest_jobs(sizes, limits, expected):
    plan = limits.plan(sizes)
    assert plan == expected
    rows = sum(r for r, _ in sizes)
    per_job = min(limits.max_executions // sizes[0][1], limits.max_circuits or rows)
    assert len(plan) == -(-rows // per_job)  # equal shots: the least number of jobs


def test_one_circuit_over_the_limit_is_refused():
    with pytest.raises(ValueError, match="one circuit with 2000 shots exceeds max_executions=1000"):
        JobLimits(1000).plan([(1, 2000)])


@pytest.mark.parametrize("option, value", [("max_executions", 0), ("max_executions", -5), ("max_circuits", 0),
                                           ("max_circuits", 2.5), ("max_executions", True)])
def test_non_positive_limits_are_refused_by_name(option, value):
    with pytest.raises(ValueError, match=f"{option} must be a positive integer.*; got {value!r}"):
        network("estimator", FakeManilaV2(), device_options={option: value})


@pytest.mark.parametrize("option, value, message", [
    ("job_retries", -1, "job_retries must be a non-negative integer; got -1"),
    ("retry_delay", -0.5, "retry_delay must be a non-negative number of seconds; got -0.5"),
])
def test_bad_retry_options_are_refused_by_name(option, value, message):
    with pytest.raises(ValueError, match=message):
        network("estimator", FakeManilaV2(), device_options={option: value})


def test_limits_are_read_from_the_backend_where_it_reports_them():
    class Reporting(GenericBackendV2):
        max_circuits = 40

        def configuration(self):
            return type("Configuration", (), {"max_executions": 123_456})()

    backend = Reporting(2, noise_info=False, seed=3)
    assert JobLimits.for_backend(backend) == JobLimits(123_456, 40)
    options_win = JobLimits.for_backend(backend, max_executions=99, max_circuits=7)
    assert options_win == JobLimits(99, 7)
    # IBM backends report no circuit limit (backend.max_circuits is None) and no execution field
    assert JobLimits.for_backend(FakeManilaV2()) == JobLimits(DEFAULT_MAX_EXECUTIONS, None)
    assert BatchedRemoteDevice(2, backend).limits == JobLimits(123_456, 40)


# ---------------------------------------------------------------- splitting on a fake backend


@pytest.mark.parametrize("kind", ["estimator", "sampler"])
def test_a_large_step_is_split_into_jobs_of_the_same_circuits(kind, submitted):
    """3 samples x 21 circuits x 2000 shots = 126000 executions with a limit of 60000: three jobs
    of at most 30 circuits, holding together exactly the circuits of the one unlimited job, and
    their results go back to the right circuits (exact numbers within 5 sigma of the shot noise)."""
    x = np.array([[0.2, -0.4], [0.7, 0.1], [-0.9, 0.5]])
    rows = {}
    for limit in (None, 60_000):
        submitted.clear()
        qnn = network(kind, noiseless(), shots=SHOTS, device_options={"max_executions": limit})
        with qml.Tracker(qnn.spec.device) as tracker:
            got = run(qnn, x, WEIGHTS)
        assert tracker.totals["jobs"] == len(submitted) == (1 if limit is None else 3)
        assert all(sum(len(r) for r in job) * SHOTS <= (limit or np.inf) for job in submitted)
        rows[limit] = np.concatenate([r for job in submitted for r in job])
    assert len(rows[None]) == 3 * CIRCUITS_PER_SAMPLE
    np.testing.assert_array_equal(rows[60_000], rows[None])  # the same rows, in the same order

    want = run(network(kind, "default.qubit"), x, WEIGHTS)  # the last (split) run against the exact one
    sigma = (1.0 if kind == "estimator" else 0.5) / np.sqrt(SHOTS)
    s = noise_scale(qnn, x, WEIGHTS)
    tolerances = (SIGMAS * sigma, SIGMAS * sigma * np.sqrt(s[:, None, :2] / 2),
                  SIGMAS * sigma * np.sqrt(s[:, 2:].sum(0) / 2))
    for g, r, tol in zip(got, want, tolerances):
        assert np.all(np.abs(g - r) <= tol + 1e-12)


def test_split_results_are_identical(submitted):
    """Exact Aer: split or not, the numbers are the same to the last bit."""
    x = torch.tensor([[0.2, -0.4], [0.7, 0.1], [-0.9, 0.5]], dtype=torch.float64, requires_grad=True)
    results = []
    for options in ({}, {"max_circuits": 10}):
        qnn = network("estimator", "qiskit.aer", device_options=options)
        model = TorchConnector(qnn, initial_weights=WEIGHTS)
        out = model(x)
        out.sum().backward()
        assert qnn.spec.device.jobs == (1 if not options else 7)  # 63 circuits, at most 10 per job
        results.append((out.detach(), x.grad.clone(), model.weight.grad.clone()))
        x.grad = None
    for a, b in zip(*results):
        assert torch.equal(a, b)


# ---------------------------------------------------------------- retries


def test_transient_failures_are_retried_with_backoff():
    waits = []
    service = FakeJobService()
    qnn = network("estimator", noiseless(), shots=64,
                  device_options={"job_service": service, "job_retries": 2, "retry_delay": 1.5})
    qnn.spec.device.retry = RetryPolicy(2, 1.5, sleep=waits.append)
    service.fail_next(2)
    out = TorchConnector(qnn, initial_weights=WEIGHTS)(torch.zeros(2, 2))
    assert out.shape == (2, 1)
    assert len(service.submitted) == 3 and waits == [1.5, 3.0]  # doubled before each retry
    assert qnn.spec.device.jobs == 3  # every submitted job counts: each may be paid

    service.fail_next(3)  # one more failure than retries: the error propagates
    with pytest.raises(Exception, match="simulated transient failure"):
        TorchConnector(qnn, initial_weights=WEIGHTS)(torch.zeros(2, 2))
    assert len(service.submitted) == 6


def test_errors_that_are_not_transient_are_not_retried():
    service = FakeJobService()
    options = {"job_service": service, "retry_delay": 0}
    qnn = network("estimator", noiseless(), shots=64, device_options=options)
    service.fail_next(1, error=ValueError("invalid PUB"))
    with pytest.raises(ValueError, match="invalid PUB"):
        TorchConnector(qnn, initial_weights=WEIGHTS)(torch.zeros(1, 2))
    assert len(service.submitted) == 1


def test_which_errors_are_transient():
    from qiskit_ibm_runtime.api.exceptions import RequestsApiError
    from qiskit_ibm_runtime.exceptions import (IBMInputValueError, RuntimeJobFailureError,
                                               RuntimeJobMaxTimeoutError)

    assert is_transient(RuntimeJobFailureError("failed")) and is_transient(RequestsApiError("503"))
    assert is_transient(ConnectionError()) and is_transient(TimeoutError())
    assert not is_transient(RuntimeJobMaxTimeoutError("ran too long"))
    assert not is_transient(IBMInputValueError("bad input")) and not is_transient(ValueError())
    assert not is_transient(KeyboardInterrupt())


class TaggingService:
    """The part of ``QiskitRuntimeService`` that finds jobs: by id and by tag (newest first)."""

    def __init__(self):
        self.queries = []
        self.known = {}  # tag -> job ids, oldest first

    def job(self, job_id):
        return job_id

    def jobs(self, **filters):
        self.queries.append(filters)
        ids = self.known.get(filters["job_tags"][0], [])[::-1][:filters["limit"]]
        return [type("Job", (), {"job_id": lambda self, i=i: i})() for i in ids]


def test_backend_jobs_submit_with_tags_and_find_by_them():
    """On a service that finds jobs by tag, a job's tags go into the primitive's options and a tag
    finds the newest job of the backend that carries it; local backends have neither."""
    from qiskit import QuantumCircuit

    from qnn_torch.devices import BackendJobs

    backend = GenericBackendV2(2, noise_info=False, seed=3)
    backend.service = TaggingService()
    jobs = BackendJobs(backend)
    assert jobs.retrievable and jobs.supports_tags
    primitive = SamplerV2(mode=backend)
    circuit = QuantumCircuit(1)
    circuit.measure_all()
    assert jobs.submit(primitive, [(circuit,)], tags=["qnn_torch-abc"]).result()[0].data.meas.num_shots > 0
    assert primitive.options.environment.job_tags == ["qnn_torch-abc"]
    backend.service.known["qnn_torch-abc"] = ["job-1", "job-2"]
    assert jobs.find("qnn_torch-abc") == "job-2" and jobs.find("qnn_torch-other") is None
    assert backend.service.queries[0] == {"job_tags": ["qnn_torch-abc"], "backend_name": backend.name,
                                          "limit": 1, "descending": True}
    local = BackendJobs(GenericBackendV2(2, noise_info=False, seed=3))
    assert not local.retrievable and not local.supports_tags
    with pytest.raises(RuntimeError, match="cannot find jobs by tag"):
        local.find("qnn_torch-abc")
