"""No IBM token leaves the process: not in exceptions (their chains and frames' locals), saved
models, checkpoints, job journals or logs, on every kind of device, whichever path carries it (a
forward or backward pass, polling a journaled job, opening a session).

The token is a fake one in ``QISKIT_IBM_TOKEN``; IBM's service is played by
:class:`~qnn_torch.devices.FakeJobService`, and an IBM backend by a noiseless fake backend whose
``service`` holds the token, as a real ``IBMBackend``'s service holds the account.
"""

from __future__ import annotations

import io
import logging
import pickle
from functools import partial

import numpy as np
import pytest
import torch
from qiskit.providers.fake_provider import GenericBackendV2
from qiskit_ibm_runtime.api.exceptions import RequestsApiError
from qiskit_ibm_runtime.exceptions import RuntimeJobFailureError

from qnn_torch import EstimatorQNN, RealAmplitudes, TorchConnector, TrainingInterrupted, fit
from qnn_torch.devices import (FakeJobService, JobJournal, ServiceError, credentials, holds_secret,
                               without_secrets)
from qnn_torch.devices.jobs import is_transient
from tests.secrets_check import everything_about

FAKE_TOKEN = "fake-ibm-token-7f3a9c-DO-NOT-LEAK"
KINDS = ["default.qubit", "qiskit.aer", "fake", "backend", "ibm"]
REMOTE = ("backend", "ibm")  # jobs through the fake service, which can fail with the token in the message


class TokenService:
    """What an IBM backend's ``service`` holds: the account, token included."""

    def __init__(self, token: str):
        self.account = {"channel": "ibm_quantum_platform", "token": token}

    def __repr__(self):
        return f"TokenService(account={self.account!r})"


def ibm_like_backend():
    """A noiseless fake backend with a ``service`` that holds the token, as an ``IBMBackend``."""
    backend = GenericBackendV2(2, noise_info=False, seed=3)
    backend.service = TokenService(FAKE_TOKEN)
    return backend


@pytest.fixture(autouse=True)
def token_in_environment(monkeypatch, caplog):
    """The fake token in the environment, every log record captured, ``ibm:<name>`` resolved to
    :func:`ibm_like_backend` (no network here). (Tests use the module's ``FAKE_TOKEN``, never a
    local holding it: the tracebacks they inspect show their own frames' locals too.)"""
    monkeypatch.setenv(credentials.TOKEN_VARIABLE, FAKE_TOKEN)
    monkeypatch.setattr(credentials, "_runtime_backend", lambda name: ibm_like_backend())
    caplog.set_level(logging.DEBUG)


def make_model(kind: str, service: FakeJobService | None = None, **options):
    """Linear -> a 2-qubit EstimatorQNN on ``kind`` (jobs through ``service`` for the remote kinds)."""
    torch.manual_seed(5)
    kwargs = {"device": kind}
    if kind == "fake":
        kwargs = {"device": "fake:FakeManilaV2", "shots": 64}
    elif kind in REMOTE:
        device = ibm_like_backend() if kind == "backend" else "ibm:ibm_like"
        kwargs = {"device": device, "shots": 64, "device_options": {
            "job_service": service, "job_retries": 0, "retry_delay": 0, **options}}
    qnn = EstimatorQNN(2, ansatz=partial(RealAmplitudes, reps=1), **kwargs)
    return torch.nn.Sequential(torch.nn.Linear(2, 2), TorchConnector(qnn, initial_weights=np.full(4, 0.2)))


def token_error(message="Job failed"):
    return RuntimeJobFailureError(f"{message}: request with token {FAKE_TOKEN} rejected")


def assert_clean(*blobs):
    for blob in blobs:
        text = blob.decode("latin-1") if isinstance(blob, bytes) else blob
        assert FAKE_TOKEN not in text


# ---------------------------------------------------------------- the helpers


def test_holds_secret_looks_at_messages_chains_and_locals():
    def raising():
        secret = FAKE_TOKEN  # noqa: F841 - a frame local, as a runtime client's
        raise RuntimeError("no secret in the message")

    try:
        raising()
    except RuntimeError as err:
        in_locals = err
    assert holds_secret(in_locals) and not holds_secret(RuntimeError("nothing"))
    chained = ValueError("outer")
    chained.__context__ = RuntimeError(f"inner {FAKE_TOKEN}")
    assert holds_secret(chained) and holds_secret(RuntimeError(FAKE_TOKEN))


def test_without_secrets_masks_and_keeps_whether_to_retry():
    clean = ConnectionError("reset by peer")
    assert without_secrets(clean) is clean
    for original, transient in ((token_error(), True), (ValueError(f"bad {FAKE_TOKEN}"), False)):
        error = without_secrets(original, "job 7")
        assert isinstance(error, ServiceError) and error.kind == type(original).__name__
        assert str(error).startswith("job 7 failed (") and "***" in str(error)
        assert is_transient(error) is transient
        assert_clean(everything_about(error))


# ---------------------------------------------------------------- every path that talks to the service


@pytest.mark.parametrize("kind", REMOTE)
@pytest.mark.parametrize("failing", ["forward", "backward"])
def test_a_job_error_holding_the_token_is_scrubbed(kind, failing):
    """A plain forward or backward pass (no ``fit``) that meets a job error holding the token raises
    it with the token masked, without the original in its chain."""
    service = FakeJobService()
    service.fail_next(error=token_error(), skip=int(failing == "backward"))
    model = make_model(kind, service, jobs_per_step=2)  # the backward pass submits its own job
    expected = (r"job fake-job-000\d failed \(RuntimeJobFailureError: '?Job failed: request with token "
                r"\*\*\* rejected'?\)")
    with pytest.raises(ServiceError, match=expected) as info:
        model(torch.rand(3, 2)).sum().backward()
    assert_clean(everything_about(info.value))
    assert info.value.__cause__ is None and info.value.__context__ is None


def test_polling_a_journaled_job_is_scrubbed(tmp_path, monkeypatch):
    service = FakeJobService()
    model = make_model("backend", service)
    device = model[1].qnn.spec.device
    device.journal = JobJournal.open(tmp_path / "run.pt.jobs.json", {}, 0, resume=False)
    x = torch.rand(2, 2)
    model(x)  # job 0, journaled
    device.journal._next.clear()  # the same job again: it is fetched from the journal

    def unreachable(job_id):
        raise RequestsApiError(f"401 Unauthorized: token {FAKE_TOKEN} expired")

    monkeypatch.setattr(service, "job", unreachable)
    expected = r"looking up job fake-job-0000 failed.*token \*\*\* expired"
    with pytest.raises(ServiceError, match=expected) as info:
        model(x)
    assert_clean(everything_about(info.value), (tmp_path / "run.pt.jobs.json").read_bytes())


def test_a_transient_token_error_is_still_retried():
    service = FakeJobService()
    service.fail_next(error=token_error())
    model = make_model("backend", service, job_retries=1)
    model(torch.rand(2, 2))
    assert len(service.submitted) == 2  # failed once, submitted again


# ---------------------------------------------------------------- all that is saved or shown, every device


@pytest.mark.parametrize("kind", KINDS)
def test_no_token_in_errors_models_checkpoints_journals_or_logs(kind, tmp_path, capsys, caplog):
    """Train with a checkpoint until an error holding the token stops it (a job error on the remote
    kinds, the loss elsewhere), save and reload the model: the token is nowhere."""
    service = FakeJobService()
    service.fail_next(error=token_error(), skip=1)
    model = make_model(kind, service)

    def loss(out, target):
        if kind not in REMOTE and len(calls) == 1:
            raise RuntimeError(f"401 Unauthorized for token {FAKE_TOKEN}")  # a library that saw the token
        calls.append(1)
        return torch.nn.functional.mse_loss(out, target)

    calls: list = []
    data = [(torch.rand(2, 2), torch.rand(2, 1)) for _ in range(2)]
    with pytest.raises(TrainingInterrupted) as info:
        fit(model, data, torch.optim.SGD(model.parameters(), lr=0.1), loss, epochs=2,
            checkpoint=tmp_path / "run.pt")
    assert "***" in str(info.value)
    raised = everything_about(info.value)
    buffer = io.BytesIO()
    torch.save(model, buffer)
    saved = buffer.getvalue()
    loaded = torch.load(io.BytesIO(saved), weights_only=False)
    assert loaded[1].qnn.spec.label == model[1].qnn.spec.label.replace("backend:", "ibm:")
    captured = capsys.readouterr()
    files = [p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()]
    if kind in REMOTE:
        assert any(p.name.endswith(".jobs.json") for p in tmp_path.iterdir())  # the journal was written
    assert_clean(raised, saved, pickle.dumps(model[1].qnn), repr(model), *files,
                 captured.out, captured.err, caplog.text)
