"""The job journal: after a crash, a resumed run fetches the jobs that ran and pays only for the
ones that failed; a journal of another model or backend is refused by name; no token in it.

Faults are injected through :class:`~qnn_torch.devices.FakeJobService`, which keeps its jobs
across "processes" (fresh models and devices), as IBM's service does.
"""

import json
import re
from functools import partial

import numpy as np
import pytest
import torch
from qiskit.providers.fake_provider import GenericBackendV2

from qnn_torch import EstimatorQNN, RealAmplitudes, TorchConnector, TrainingInterrupted, fit
from qnn_torch.checkpoint import CheckpointError
from qnn_torch.devices import FakeJobService, JobJournal, JobJournalError
from qnn_torch.devices.journal import attach_journal, journal_path
from qnn_torch.training import Terminated

FAKE_TOKEN = "fake-ibm-token-9a8b7c-DO-NOT-LEAK"
EPOCHS = 2  # 2 steps per epoch, one job each


def make_model(service, backend=None, seed=11):
    torch.manual_seed(seed)
    backend = backend or GenericBackendV2(2, noise_info=False, seed=3)
    options = {"job_service": service, "retry_delay": 0, "job_retries": 0,
               "simulator": {"seed_simulator": 5}}  # the same job gives the same samples
    qnn = EstimatorQNN(2, ansatz=partial(RealAmplitudes, reps=1), device=backend, shots=64,
                       device_options=options)
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), TorchConnector(qnn, initial_weights=np.full(4, 0.2)))
    return model, torch.optim.Adam(model.parameters(), lr=0.1)


def loader():
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(6, 2, generator=generator) * 2 - 1
    y = torch.sign(x[:, :1] * x[:, 1:])
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=3, shuffle=True)


def train(service, path, resume=False, **kwargs):
    model, optimizer = make_model(service, **kwargs)
    losses = fit(model, loader(), optimizer, torch.nn.MSELoss(), EPOCHS, checkpoint=path, resume=resume)
    return losses, model


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    service = FakeJobService()
    losses, model = train(service, tmp_path_factory.mktemp("full") / "run.pt")
    assert len(service.submitted) == 2 * EPOCHS  # one job per training step
    return losses, [p.detach().clone() for p in model.parameters()]


def assert_same_run(result, uninterrupted):
    losses, model = result
    assert losses == uninterrupted[0]
    for a, b in zip(model.parameters(), uninterrupted[1]):
        assert torch.equal(a, b)


@pytest.mark.parametrize("killed_at, interrupt", [(2, KeyboardInterrupt("killed")),
                                                  (1, Terminated("SIGTERM")),
                                                  (3, KeyboardInterrupt("killed"))])
def test_resume_after_a_kill_fetches_the_jobs_that_ran(tmp_path, uninterrupted, killed_at, interrupt,
                                                       monkeypatch):
    """The process dies while job ``killed_at`` runs (the job itself finishes on the service):
    the resumed run fetches it, and every job of the journal, and submits only the jobs after it."""
    monkeypatch.setenv("QISKIT_IBM_TOKEN", FAKE_TOKEN)
    service = FakeJobService()
    service.interrupt_next(interrupt, skip=killed_at)
    path = tmp_path / "run.pt"
    with pytest.raises(TrainingInterrupted) as info:
        train(service, path)
    assert "job journal" in str(info.value) and str(journal_path(path)) in str(info.value)
    ran = list(service.submitted)
    assert len(ran) == killed_at + 1
    # the killed job's id was on disk before its result was awaited
    journal = json.loads(journal_path(path).read_text())
    journaled = [e["job_id"] for e in journal["jobs"]["0"]]
    epoch_start = 2 * (killed_at // 2)  # jobs before the last checkpoint are in it, not in the journal
    assert journaled == ran[epoch_start:] and journal["epoch"] == killed_at // 2

    result = train(service, path, resume=True)
    resubmitted = service.submitted[len(ran):]
    assert not set(resubmitted) & set(ran) and len(resubmitted) == 2 * EPOCHS - (killed_at + 1)
    assert service.fetched == journaled  # every journaled job fetched, none paid again
    assert_same_run(result, uninterrupted)
    assert not journal_path(path).exists()  # training ended: the journal is gone
    assert FAKE_TOKEN not in json.dumps(journal)


def test_resume_submits_again_only_the_job_that_failed(tmp_path, uninterrupted):
    service = FakeJobService()
    service.fail_next(skip=3)  # the last job fails (no retries): training stops in epoch 2
    path = tmp_path / "run.pt"
    with pytest.raises(TrainingInterrupted, match="epoch 2 of 2.*simulated transient failure"):
        train(service, path)
    first = list(service.submitted)
    failed = first[-1]
    assert service.jobs[failed].status() == "ERROR" and len(first) == 4
    result = train(service, path, resume=True)
    assert service.fetched == first[2:]  # the journal of epoch 2: one finished, one failed job
    assert len(service.submitted) == 5  # only the failed job again
    assert_same_run(result, uninterrupted)


def test_transient_failures_are_retried_during_training(tmp_path, uninterrupted):
    service = FakeJobService()
    service.fail_next(skip=1)
    model, optimizer = make_model(service)
    model[1].qnn.spec.device.retry = type(model[1].qnn.spec.device.retry)(retries=1, delay=0)
    losses = fit(model, loader(), optimizer, torch.nn.MSELoss(), EPOCHS, checkpoint=tmp_path / "run.pt")
    assert len(service.submitted) == 2 * EPOCHS + 1
    assert_same_run((losses, model), uninterrupted)


def test_a_journal_of_another_backend_is_refused(tmp_path):
    service = FakeJobService()
    service.interrupt_next(skip=0)
    path = tmp_path / "run.pt"
    with pytest.raises(TrainingInterrupted):
        train(service, path)
    other = GenericBackendV2(3, noise_info=False, seed=3)
    expected = (rf"job journal {journal_path(path)} was written for backend "
                r"\['generic_backend_2q'\], but this run has \['generic_backend_3q'\]")
    with pytest.raises(JobJournalError, match=expected):
        train(service, path, resume=True, backend=other)
    assert len(service.submitted) == 1  # nothing submitted again


def test_a_run_that_differs_from_the_journal_stops(tmp_path):
    """Other data after a resume: the first job differs from the journaled one; training stops
    instead of reusing its result or silently paying again."""
    service = FakeJobService()
    service.interrupt_next(skip=0)
    path = tmp_path / "run.pt"
    with pytest.raises(TrainingInterrupted):
        train(service, path)
    with pytest.raises(TrainingInterrupted, match="JobJournalError: job journal .* ran other circuits"):
        train(service, path, resume=True, seed=12)  # other initial weights of the linear layer
    assert len(service.submitted) == 1


def test_journal_file_round_trip_and_errors(tmp_path):
    path = tmp_path / "run.pt.jobs.json"
    fingerprint = {"backend": ["fake_manila"], "model": "M 1234", "shots": [64]}
    journal = JobJournal.open(path, fingerprint, epoch=3, resume=False)
    assert journal.next_index("0") == 0 and journal.next_index("0") == 1
    journal.record("0", 1, "d1", "job-b", "fake_manila")
    journal.record("0", 0, "d0", "job-a", "fake_manila")
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # atomic: no temporary left
    again = JobJournal.open(path, fingerprint, epoch=3, resume=True)
    assert again.entry("0", 0, "d0")["job_id"] == "job-a" and again.entry("0", 1, "d1")["job_id"] == "job-b"
    assert again.entry("0", 2, "d2") is None and again.entry("1", 0, "d0") is None
    with pytest.raises(JobJournalError, match="job 1 of device 0 \\(job-b\\) ran other circuits"):
        again.entry("0", 1, "other")
    assert JobJournal.open(path, fingerprint, epoch=4, resume=True).entry("0", 0, "d0") is None  # older jobs
    with pytest.raises(JobJournalError, match="was written for shots \\[64\\], but this run has \\[128\\]"):
        JobJournal.open(path, {**fingerprint, "shots": [128]}, epoch=4, resume=True)
    path.write_text("{not json")
    with pytest.raises(JobJournalError, match=f"{path} is not a job journal"):
        JobJournal.open(path, fingerprint, epoch=0, resume=True)
    assert JobJournal.open(path, fingerprint, epoch=0, resume=False).entry("0", 0, "d0") is None  # a new run


@pytest.mark.slow
def test_cli_resume_fetches_the_jobs_that_ran(tmp_path, monkeypatch, capsys):
    """``qnn-torch tutorial --resume``: the same journal through the command line (mnist-hybrid on
    4 training images, the QNN on a noiseless fake backend through the fake service)."""
    from qnn_torch import cli, tutorial
    from qnn_torch.data import load_mnist01

    service = FakeJobService()

    def qnn_on_fake_service(device, shots, device_options=None):  # noqa: ARG001 - the CLI's device: a label
        options = {"job_service": service, "job_retries": 0, "simulator": {"seed_simulator": 5}}
        return EstimatorQNN(2, ansatz=partial(RealAmplitudes, reps=1), shots=64, device_options=options,
                            device=GenericBackendV2(2, noise_info=False, seed=3))

    monkeypatch.setattr(tutorial, "make_mnist_qnn", qnn_on_fake_service)
    monkeypatch.setattr(tutorial, "load_mnist01",
                        lambda root, n_train, n_test: load_mnist01(root, 2, 1, False))
    argv = ["tutorial", "--parts", "mnist-hybrid", "--epochs", "2", "--device", "fake:FakeManilaV2",
            "--shots", "64", "--data-root", str(tmp_path / "d"), "--no-progress",
            "--out", str(tmp_path / "out")]
    assert cli.main(argv + ["--out", str(tmp_path / "full")]) == 0
    uninterrupted = len(service.submitted)  # training, evaluation and the prediction plot
    service = FakeJobService()
    service.interrupt_next(skip=5)  # epoch 2, second step
    assert cli.main(argv) == 130
    err = capsys.readouterr().err
    assert "--resume" in err and "mnist-hybrid-train.pt.jobs.json" in err
    ran = list(service.submitted)
    assert cli.main(argv + ["--resume", "--json", str(tmp_path / "r.json")]) == 0
    assert service.fetched == ran[4:]  # epoch 2's jobs so far: fetched, not paid again
    assert len(service.submitted) == uninterrupted  # interrupted and resumed: no job paid twice

    journal = tmp_path / "out" / "mnist-hybrid-train.pt.jobs.json"
    assert not journal.exists()  # training ended
    journal.write_text("{}")
    capsys.readouterr()
    argv[argv.index("--epochs") + 1] = "3"
    assert cli.main(argv + ["--resume"]) == 2  # a usage error, before any job
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"qnn-torch: error: {journal} is not a job journal (no 'format': 'qnn_torch job journal' "
                   "entry); move it away or delete it, and the run writes its journal there."]
    assert len(service.submitted) == uninterrupted


# ---------------------------------------------------------------- attaching a journal to a model


def test_a_journal_is_attached_to_the_models_devices_for_the_block_only(tmp_path):
    model, _ = make_model(FakeJobService())
    device = model[1].qnn.spec.device
    with attach_journal(model, tmp_path / "run.pt", epoch=0, resume=False) as journal:
        assert device.journal is journal and device.journal_key == "0"
        assert journal.path == tmp_path / "run.pt.jobs.json" and journal.path.is_file()
        fingerprint = json.loads(journal.path.read_text())["fingerprint"]
    assert device.journal is None
    assert fingerprint["backend"] == ["generic_backend_2q"] and fingerprint["shots"] == [64]
    assert fingerprint["model"].startswith("Sequential ")


def test_no_journal_without_a_checkpoint_or_a_device_that_finds_jobs_again(tmp_path):
    model, _ = make_model(FakeJobService())
    with attach_journal(model, None, epoch=0, resume=False) as journal:
        assert journal is None
    local, _ = make_model(None)  # the backend's own service: a local backend cannot find jobs by id
    with attach_journal(local, tmp_path / "run.pt", epoch=0, resume=False) as journal:
        assert journal is None
    assert not list(tmp_path.iterdir())


# ---------------------------------------------------------------- damaged journals and checkpoints

FINGERPRINT = {"backend": ["fake_manila"], "model": "M 1234", "shots": [64]}
ENTRY = {"job_id": "job-a", "digest": "d0", "backend": "fake_manila"}


def _journal(**changes):
    data = {"format": "qnn_torch job journal", "version": 1, "fingerprint": FINGERPRINT, "epoch": 0,
            "jobs": {"0": [ENTRY]}}
    data.update(changes)
    return json.dumps(data)


@pytest.mark.parametrize("text, problem", [
    (_journal(jobs={"0": [{"job_id": "job-a"}]}), r"job 0 of device 0 has no 'digest'"),
    (_journal(jobs={"0": [{"job_id": 7, "digest": "d0"}]}), r"job 0 of device 0: 'job_id' is 7, not a "
                                                            r"string"),
    (_journal(jobs={"0": ["job-a"]}), r"job 0 of device 0 is 'job-a', not an object"),
    (_journal(jobs={"0": "job-a"}), r"device 0 holds 'job-a', not a list of jobs"),
    (_journal(jobs=[ENTRY]), r"'jobs' is a list, not an object"),
    (_journal(epoch=-1), r"'epoch' is -1, not a non-negative integer"),
    (_journal(epoch=True), r"'epoch' is True, not a non-negative integer"),
    (_journal(epoch=1.5), r"'epoch' is 1.5, not a non-negative integer"),
    (_journal(fingerprint=["fake_manila"]), r"'fingerprint' is a list, not an object"),
    (_journal(run=3), r"'run' is 3, not a string"),
    ("[" * 100_000 + "]" * 100_000, r"nested too deeply"),
    ('{"format": "qnn_torch job journal", "version": 1, "epoch": ' + "9" * 5000 + "}", r"ValueError"),
], ids=["no-digest", "job-id-number", "entry-string", "device-string", "jobs-list", "epoch-negative",
        "epoch-bool", "epoch-float", "fingerprint-list", "run-number", "deep", "huge-number"])
def test_a_damaged_journal_is_refused_in_one_sentence_that_works(tmp_path, text, problem):
    """Every damaged form is one JobJournalError naming the file, the problem and what to do (it was a
    raw TypeError, KeyError or RecursionError); doing it (deleting the journal) lets the run resume."""
    path = tmp_path / "run.pt.jobs.json"
    path.write_text(text)
    with pytest.raises(JobJournalError) as info:
        JobJournal.open(path, FINGERPRINT, epoch=0, resume=True)
    message = str(info.value)
    assert message.startswith(f"{path} is a damaged job journal (") and "\n" not in message
    assert re.search(problem, message) and message.endswith("; delete it to submit its jobs again.")
    path.unlink()
    assert JobJournal.open(path, FINGERPRINT, epoch=0, resume=True).entry("0", 0, "d0") is None


@pytest.mark.parametrize("resume", [True, False])
def test_a_directory_in_the_journals_place_is_refused(tmp_path, resume):
    path = tmp_path / "run.pt.jobs.json"
    path.mkdir()
    with pytest.raises(JobJournalError, match=rf"^{re.escape(str(path))} is a directory, not a job journal; "
                                              r"move it away so that the journal can be written there\.$"):
        JobJournal.open(path, FINGERPRINT, epoch=0, resume=resume)
    path.rmdir()
    assert JobJournal.open(path, FINGERPRINT, epoch=0, resume=resume).path.is_file()


@pytest.mark.parametrize("epoch, losses, problem", [
    (-1, [], "its epoch -1 is not a non-negative integer"),
    (True, [0.5], "its epoch True is not a non-negative integer"),
    (3, [0.5], "its epoch 3 is not the number of its losses \\(1\\)"),
])
def test_a_checkpoint_with_an_impossible_epoch_is_refused_before_any_job(tmp_path, epoch, losses, problem):
    """A checkpoint whose epoch was damaged (-1 ignored the journal and paid its jobs again) stops
    the resumed run before any job, with what to do; the run resumes once it is followed."""
    service = FakeJobService()
    service.interrupt_next(skip=2)  # in epoch 2, after the checkpoint of epoch 1
    path = tmp_path / "run.pt"
    with pytest.raises(TrainingInterrupted):
        train(service, path)
    state = torch.load(path, weights_only=True)
    torch.save({**state, "epoch": epoch, "losses": losses}, path)
    submitted = len(service.submitted)
    expected = rf"checkpoint {re.escape(str(path))} is damaged: {problem}; restore it, or train from the "
    with pytest.raises(CheckpointError, match=expected + "start with resume=False"):
        train(service, path, resume=True)
    assert len(service.submitted) == submitted  # nothing paid
    torch.save(state, path)  # restored
    train(service, path, resume=True)
    assert len(service.submitted) == 2 * EPOCHS  # the job running at the kill was fetched, not paid again


# ---------------------------------------------------------------- tags: a job accepted just before a kill


@pytest.mark.parametrize("killed_at", [0, 2, 3])
@pytest.mark.parametrize("tags", [True, False], ids=["tags", "no-tags"])
def test_a_job_accepted_just_before_a_kill_is_found_by_its_tag(tmp_path, uninterrupted, killed_at, tags):
    """The process dies after the service accepted job ``killed_at`` and before the journal recorded
    it. On a service that keeps tags the resumed run finds the job by its tag and fetches it: no
    job is paid twice; on one without tags that job is submitted again (the one a write-after-submit
    journal cannot know about)."""
    service = FakeJobService(tags=tags)
    service.interrupt_on_submit(skip=killed_at)
    path = tmp_path / "run.pt"
    with pytest.raises(TrainingInterrupted):
        train(service, path)
    accepted = list(service.submitted)
    assert len(accepted) == killed_at + 1
    journal = json.loads(journal_path(path).read_text())
    assert accepted[-1] not in json.dumps(journal)  # not recorded
    result = train(service, path, resume=True)
    assert_same_run(result, uninterrupted)
    paid = len(service.submitted)
    if tags:
        assert paid == 2 * EPOCHS and accepted[-1] in service.fetched
    else:
        assert paid == 2 * EPOCHS + 1 and accepted[-1] not in service.fetched


def test_tags_name_the_run_epoch_device_and_job(tmp_path):
    """A tag is the same for the same job of a resumed run, and differs for any other job."""
    path = tmp_path / "run.pt.jobs.json"
    journal = JobJournal.open(path, FINGERPRINT, epoch=1, resume=False)
    tag = journal.tag("0", 3, "d3")
    assert re.fullmatch(r"qnn_torch-[0-9a-f]{32}", tag)
    assert JobJournal.open(path, FINGERPRINT, epoch=1, resume=True).tag("0", 3, "d3") == tag
    others = {journal.tag("1", 3, "d3"), journal.tag("0", 4, "d3"), journal.tag("0", 3, "d4"),
              JobJournal.open(path, FINGERPRINT, epoch=2, resume=True).tag("0", 3, "d3"),
              JobJournal.open(path, FINGERPRINT, epoch=1, resume=False).tag("0", 3, "d3")}  # a new run
    assert tag not in others and len(others) == 5
    assert FINGERPRINT["backend"][0] not in tag
