"""The worker threads that simulate a batch's samples: order, errors, torch's thread settings on
them and around them, when they are used, a child made by ``fork``, and a network's numbers through
``TorchConnector`` with and without them."""

import multiprocessing
import threading
from functools import partial

import numpy as np
import pytest
import torch

from qnn_torch import EstimatorQNN, RealAmplitudes, SamplerQNN, TorchConnector, ZZFeatureMap, parity
from qnn_torch.engines import sample_threads, torch_adjoint
from qnn_torch.engines.sample_threads import (MAX_AMPLITUDES, MIN_AMPLITUDES, map_samples, one_calling_thread,
                                              parallel_samples, sample_slices)

CPU = torch.device("cpu")


@pytest.fixture
def two_threads():
    """torch with two intra-op threads in the test's thread (whatever the machine has)."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_results_come_in_the_order_of_the_items(two_threads):
    assert map_samples(lambda i: i * 10, range(7), 2) == [0, 10, 20, 30, 40, 50, 60]
    assert map_samples(lambda rows: (rows.start, rows.stop), sample_slices(7, 2), 2) == [(0, 3), (3, 7)]
    assert map_samples(lambda rows: (rows.start, rows.stop), sample_slices(7, 0), 0) == [(0, 7)]


def test_slices_cover_the_batch_in_one_group_per_worker():
    for batch in range(1, 12):
        for threads in range(0, 5):
            slices = sample_slices(batch, threads)
            sizes = [s.stop - s.start for s in slices]
            assert len(slices) == (max(1, min(threads, batch)) if threads else 1)
            assert slices[0].start == 0 and slices[-1].stop == batch and min(sizes) >= 1
            assert all(a.stop == b.start for a, b in zip(slices, slices[1:])) and max(sizes) - min(sizes) <= 1


def test_tasks_run_on_workers_with_one_torch_thread(two_threads):
    caller = threading.get_ident()
    seen = map_samples(lambda _: (threading.get_ident(), torch.get_num_threads()), range(6), 2)
    assert all(ident != caller and threads == 1 for ident, threads in seen)
    assert torch.get_num_threads() == 2  # the caller's setting is its own


def test_a_thread_started_later_keeps_torch_s_default(two_threads):
    """The workers' ``torch.set_num_threads(1)`` also set torch's default for new threads: restored."""
    sample_threads._forget_pool()  # new workers start now
    map_samples(lambda _: None, range(4), 2)
    seen = []
    thread = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
    thread.start()
    thread.join()
    assert seen == [2]


def test_the_first_error_is_raised_and_later_tasks_do_not_start(two_threads):
    started = []

    def task(index):
        started.append(index)
        if index == 0:
            raise KeyError("sample 0")
        return index

    with pytest.raises(KeyError, match="sample 0"):
        map_samples(task, range(50), 1)  # one worker: the tasks run in turn
    assert started == [0]
    assert map_samples(lambda i: i, range(3), 2) == [0, 1, 2]  # the workers are still there


def test_threads_is_checked():
    for bad in (-1, 1.5, True, "2"):
        with pytest.raises(ValueError, match=r"threads must be a non-negative integer; got"):
            map_samples(lambda i: i, range(3), bad)


def test_when_samples_get_threads(two_threads, monkeypatch):
    assert parallel_samples(8, MIN_AMPLITUDES, CPU) == 2
    assert parallel_samples(8, MIN_AMPLITUDES // 2, CPU) == 0  # small states: one batch
    assert parallel_samples(8, MAX_AMPLITUDES, CPU) == 2
    assert parallel_samples(8, MAX_AMPLITUDES * 2, CPU) == 0  # huge states: as before
    assert parallel_samples(1, MIN_AMPLITUDES, CPU) == 0
    assert parallel_samples(8, MIN_AMPLITUDES, torch.device("meta")) == 0  # not on the CPU
    torch.set_num_threads(1)  # the user's one thread: no workers either
    assert parallel_samples(8, MIN_AMPLITUDES, CPU) == 0
    torch.set_num_threads(2)
    on_workers = map_samples(lambda _: parallel_samples(8, MIN_AMPLITUDES, CPU), range(2), 2)
    assert on_workers == [0, 0]  # a worker has one torch thread: no workers of its own


def _child(queue):
    queue.put(map_samples(lambda i: i * i, range(4), 2))


def test_a_forked_child_starts_its_own_workers(two_threads):
    """A DataLoader worker made by ``fork`` inherits no threads: it must not wait for the parent's."""
    map_samples(lambda i: i, range(4), 2)  # the parent's workers exist
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_child, args=(queue,))
    child.start()
    child.join(timeout=60)
    alive = child.is_alive()
    if alive:
        child.kill()
    assert not alive and child.exitcode == 0
    assert queue.get(timeout=5) == [0, 1, 4, 9]


def _connector_run(kind: str, dtype: torch.dtype) -> list[torch.Tensor]:
    """A 12-qubit network on the torch adjoint engine, batch 3 (tasks of one sample and two): its
    outputs and Jacobians (float64, the numbers of ``qnn.backward``) and a ``TorchConnector``'s
    outputs and input and weight gradients in ``dtype``."""
    parts = dict(feature_map=partial(ZZFeatureMap, reps=1, entanglement="linear"),
                 ansatz=partial(RealAmplitudes, reps=1), engine="torch-adjoint", input_gradients=True)
    qnn = {"expectation": lambda: EstimatorQNN(12, **parts),
           "probabilities": lambda: SamplerQNN(12, **parts),
           "parity": lambda: SamplerQNN(12, interpret=parity, output_shape=2, **parts)}[kind]()
    rng = np.random.default_rng(11)
    w = rng.uniform(-1, 1, qnn.num_weights)
    x = torch.tensor(rng.uniform(-1, 1, (3, qnn.num_inputs)), dtype=dtype)
    results = []
    if dtype == torch.float64:
        out, jacobians = qnn.differentiate(x, torch.tensor(w))
        results += [qnn.evaluate(x, torch.tensor(w)), out, *jacobians]
    model = TorchConnector(qnn, initial_weights=w)
    model.weight.data = torch.tensor(w, dtype=dtype)
    xt = x.clone().requires_grad_(True)
    out = model(xt)
    g = torch.randn(out.shape, generator=torch.Generator().manual_seed(0), dtype=dtype)
    return results + [out.detach(), *torch.autograd.grad((out * g).sum(), (xt, model.weight))]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("kind", ["expectation", "probabilities", "parity"])
def test_a_connector_s_numbers_do_not_depend_on_the_worker_threads(kind, dtype, two_threads, monkeypatch):
    """At 12 qubits (worker threads by default), batch 3: expectation values, raw probabilities
    (Jacobians through the state, the product's bra ``diag(L g) psi``) and probabilities through
    ``interpret`` give the same bits on two or three workers as in one batch on one torch thread:
    the calling thread's own operations run on one thread too (:func:`one_calling_thread`), so the
    numbers depend neither on the workers nor on ``torch.get_num_threads()``."""
    asked, inside = [], []

    def recording(task, items, threads):
        asked.append(threads)
        inside.append(torch.get_num_threads())
        return map_samples(task, items, threads)

    monkeypatch.setattr(torch_adjoint, "map_samples", recording)
    runs = {}
    for threads in (2, 3):
        torch.set_num_threads(threads)
        runs[threads] = _connector_run(kind, dtype)
        assert set(asked) == {threads} and set(inside) == {1}  # the calling thread's torch: one thread
        asked.clear()
    torch.set_num_threads(1)
    one_batch = _connector_run(kind, dtype)
    assert set(asked) == {0}
    for threaded in runs.values():
        for a, b in zip(threaded, one_batch, strict=True):
            assert torch.equal(a, b), float((a - b).abs().max())


def test_the_calling_thread_runs_on_one_torch_thread_while_samples_are_on_workers(two_threads):
    seen = []
    with one_calling_thread(2):
        seen.append((torch.get_num_threads(), parallel_samples(8, MIN_AMPLITUDES, CPU)))
        with one_calling_thread(2):  # nested: still the outer setting for parallel_samples
            seen.append((torch.get_num_threads(), parallel_samples(8, MIN_AMPLITUDES, CPU)))
        seen.append((torch.get_num_threads(), parallel_samples(8, MIN_AMPLITUDES, CPU)))
        seen.append(tuple(map_samples(lambda _: torch.get_num_threads(), range(2), 2)))
    assert seen == [(1, 2), (1, 2), (1, 2), (1, 1)]
    assert torch.get_num_threads() == 2 and parallel_samples(8, MIN_AMPLITUDES, CPU) == 2
    with one_calling_thread(0):  # no workers: nothing changes
        assert torch.get_num_threads() == 2
    with pytest.raises(KeyError), one_calling_thread(2):
        raise KeyError("an error inside")
    assert torch.get_num_threads() == 2  # restored
