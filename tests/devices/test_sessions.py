"""runtime_session: a session where the account allows one, else a batch, else job mode; a mode
the account refuses when asked for explicitly is a clear error; no token in any message; the
device's transpiler and primitive options hold inside it."""

import warnings
from functools import partial

import numpy as np
import pytest
import qiskit_ibm_runtime
import torch
from qiskit_ibm_runtime.api.exceptions import RequestsApiError
from qiskit_ibm_runtime.fake_provider import FakeManilaV2

from qnn_torch import BatchedRemoteDevice, EstimatorQNN, RealAmplitudes, TorchConnector, runtime_session
from qnn_torch._compat import transpile_options
from qnn_torch.devices import SESSION_MODES

FAKE_TOKEN = "fake-ibm-token-3e4f5a-DO-NOT-LEAK"


def refusing(kind):
    """A Session or Batch class that the service refuses, as it refuses sessions on the Open plan."""

    class Refused:
        def __init__(self, backend, **kwargs):
            raise RequestsApiError(f"403 Client Error: Forbidden. You are not authorized to run a {kind} "
                                   f"when using the open plan (token {FAKE_TOKEN})")

    return Refused


REAL = {"session": qiskit_ibm_runtime.Session, "batch": qiskit_ibm_runtime.Batch}


def accepted(kind):
    """The real Session or Batch (local with a fake backend), recording its arguments and close."""

    class Accepted(REAL[kind]):
        def __init__(self, backend, **kwargs):
            self.kwargs, self.closed = kwargs, False
            super().__init__(backend, **kwargs)

        def close(self):
            self.closed = True
            super().close()

    Accepted.__name__ = f"Accepted{kind}"
    return Accepted


@pytest.fixture
def model(monkeypatch):
    monkeypatch.setenv("QISKIT_IBM_TOKEN", FAKE_TOKEN)
    qnn = EstimatorQNN(2, ansatz=partial(RealAmplitudes, reps=1), device="fake:FakeManilaV2", shots=64)
    return TorchConnector(qnn, initial_weights=np.zeros(4))


@pytest.mark.parametrize("refused, expected", [((), "session"), (("session",), "batch"),
                                               (("session", "batch"), "job")])
def test_auto_mode_falls_back_with_one_line(model, monkeypatch, refused, expected):
    for kind in ("session", "batch"):
        cls = refusing(kind) if kind in refused else accepted(kind)
        monkeypatch.setattr(qiskit_ibm_runtime, kind.capitalize(), cls)
    device = model.qnn.spec.device
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with runtime_session(model, mode="auto", max_time=60) as session:
            assert device.session is session
            model(torch.rand(2, 2)).sum().backward()  # jobs run inside it (locally: fake backend)
    messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    if expected == "session":
        assert messages == [] and type(session).__name__ == "Acceptedsession"
    else:
        assert len(messages) == 1 and "\n" not in messages[0]
        assert "no session (RequestsApiError: '403 Client Error: Forbidden" in messages[0]
        assert FAKE_TOKEN not in messages[0]
        if expected == "batch":
            assert type(session).__name__ == "Acceptedbatch"
            assert messages[0].endswith("running the jobs in a batch")
        else:
            assert session is None and "no batch (" in messages[0] and "job mode" in messages[0]
    if session is not None:
        assert session.closed and session.kwargs == {"max_time": 60}
    assert device.session is None and device.jobs == 1


@pytest.mark.parametrize("mode", ["session", "batch"])
def test_a_mode_the_account_refuses_is_an_error(model, monkeypatch, mode):
    monkeypatch.setattr(qiskit_ibm_runtime, mode.capitalize(), refusing(mode))
    with pytest.raises(ValueError) as info:
        with runtime_session(model, mode=mode):
            pass
    message = str(info.value)
    assert f"runtime_session(mode={mode!r}): the account cannot open a {mode} on fake_manila" in message
    assert "not authorized" in message and "mode='auto'" in message
    assert FAKE_TOKEN not in message and info.value.__cause__ is None and info.value.__context__ is None
    assert model.qnn.spec.device.session is None


def test_job_mode_runs_without_a_session(model, monkeypatch):
    monkeypatch.setattr(qiskit_ibm_runtime, "Session", refusing("session"))
    with runtime_session(model, mode="job") as session:
        assert session is None
        model(torch.rand(1, 2)).sum().backward()
    assert model.qnn.spec.device.jobs == 1


@pytest.mark.parametrize("mode", ["session", "auto"])
def test_another_error_opening_a_session_is_scrubbed(model, monkeypatch, mode):
    """An error other than the service's refusal (a lost connection whose message holds the token)
    propagates with the token masked and nothing chained."""
    from qnn_torch.devices import ServiceError
    from tests.secrets_check import everything_about

    class Unreachable:
        def __init__(self, backend, **kwargs):
            raise ConnectionError(f"https://quantum.cloud.ibm.com/api?token={FAKE_TOKEN}: connection reset")

    monkeypatch.setattr(qiskit_ibm_runtime, "Session", Unreachable)
    expected = (r"opening a session on fake_manila failed \(ConnectionError: "
                r"https://quantum.cloud.ibm.com/api\?token=\*\*\*: connection reset\)")
    with pytest.raises(ServiceError, match=expected) as info:
        with runtime_session(model, mode=mode):
            pass
    assert FAKE_TOKEN not in everything_about(info.value)
    assert info.value.__context__ is None and info.value.transient  # a lost connection may pass
    assert model.qnn.spec.device.session is None


def test_runtime_session_and_options(job_counter):
    qnn = EstimatorQNN(2, ansatz=partial(RealAmplitudes, reps=1), device=FakeManilaV2(), shots=512,
                       device_options={"optimization_level": 1})
    device = qnn.spec.device
    assert isinstance(device, BatchedRemoteDevice)
    assert transpile_options(device)["optimization_level"] == 1  # to the transpiler
    model = TorchConnector(qnn, initial_weights=np.zeros(4))
    with runtime_session(model, mode="batch") as session:
        assert device.session is session
        model(torch.rand(3, 2)).sum().backward()
    assert device.session is None
    assert job_counter["estimator"] == 1


def test_runtime_session_needs_an_ibm_backend():
    with pytest.raises(ValueError, match="runtime_session needs a model whose QNN runs on an IBM backend"):
        with runtime_session(TorchConnector(EstimatorQNN(2))):
            pass
    assert SESSION_MODES == ("auto", "session", "batch", "job")
    expected = "mode must be one of 'auto', 'session', 'batch', 'job'; got 'daily'"
    fake = EstimatorQNN(2, device=FakeManilaV2())
    with pytest.raises(ValueError, match=expected):
        with runtime_session(TorchConnector(fake), mode="daily"):
            pass


@pytest.mark.parametrize("mode", ["session", "batch"])
def test_runtime_session_gives_a_runtime_primitive_its_mode(monkeypatch, mode):
    """``estimator=EstimatorV2(mode=backend)``: inside runtime_session the step's job runs in the
    session or batch it opened, by a primitive with the user's options; after it, by the user's own
    primitive in its own mode again."""
    from qiskit.circuit.library import real_amplitudes, zz_feature_map
    from qiskit_ibm_runtime import EstimatorV2

    monkeypatch.setattr(qiskit_ibm_runtime, mode.capitalize(), accepted(mode))
    ran, original = [], EstimatorV2.run

    def run(self, *args, **kwargs):
        ran.append((self, self.mode, self.options.default_shots))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(EstimatorV2, "run", run)
    backend = FakeManilaV2()
    estimator = EstimatorV2(mode=backend, options={"default_shots": 512})
    features, ansatz = zz_feature_map(2), real_amplitudes(2, reps=1)
    qnn = EstimatorQNN(circuit=features.compose(ansatz), input_params=features.parameters,
                       weight_params=ansatz.parameters, estimator=estimator)
    model = TorchConnector(qnn, initial_weights=np.zeros(4))
    with runtime_session(model, mode=mode) as session:
        model(torch.rand(2, 2)).sum().backward()
    model(torch.rand(2, 2)).sum().backward()
    assert [(mode_, shots) for _, mode_, shots in ran] == [(session, 512), (None, 512)]
    assert ran[0][0] is not estimator and ran[1][0] is estimator
    assert session.closed and qnn.spec.device.jobs == 2 and qnn.spec.device.session is None
