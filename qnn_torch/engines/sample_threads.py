"""A batch's samples simulated on threads that sleep while they wait: steady when other processes
share the cores.

PyTorch splits every large CPU operation over its OpenMP threads, which meet at a barrier after
each one, and the OpenMP runtime PyTorch's wheel bundles (GNU ``libgomp``) spins while it waits.
A state-vector simulation is hundreds of such operations per call. When another busy process
shares one of the cores, each barrier waits for the thread that shares a core with it, and a
16-qubit training step took 15 times as long (benchmarks/results/threads.txt). ``libgomp`` reads
its wait policy (``OMP_WAIT_POLICY``, ``GOMP_SPINCOUNT``) once, when it loads, usually before
``qnn_torch`` is imported; a passive wait would also slow every call on an idle machine.

:func:`map_samples` runs a batch's rows as tasks instead, on up to ``torch.get_num_threads()``
worker threads (the calling thread's setting, so ``torch.set_num_threads`` still says how many
cores a process uses), and :func:`sample_slices` makes one task of consecutive samples per
worker (a task per sample pays PyTorch's per-operation cost, under the GIL, once per sample:
measured slower). A worker runs torch with one intra-op thread (torch operations release the
GIL) and sleeps on a queue when it has no task; the calling thread sleeps until the tasks are
done: no thread spins for another. Each task computes for its rows what the batch computes for
them, by the same operations; :func:`parallel_samples` says when that pays.

While a call's samples are on workers, :func:`one_calling_thread` keeps the calling thread's own
operations on the whole batch (joining the workers' states, the outputs) on one torch thread: on
OpenMP threads their barriers would wait for the thread that shares a core with the other process,
and the team's waiting threads would spin on the cores the workers need.

The workers are started on first use and live as long as the process (daemon threads); a child
made by ``fork`` (DataLoader workers) starts its own if it needs them.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch

__all__ = ["MAX_AMPLITUDES", "MIN_AMPLITUDES", "map_samples", "one_calling_thread", "parallel_samples",
           "sample_slices"]

MIN_AMPLITUDES = 2**12
"""int: the smallest state (amplitudes of one sample) simulated on worker threads; smaller
states cost more in per-operation overhead than they gain, and PyTorch runs operations on a few
thousand elements on one thread anyway (benchmarks/results/threads.txt)."""

MAX_AMPLITUDES = 2**20
"""int: the largest state simulated on worker threads (16 MiB). Beyond it, glibc maps a worker
thread's allocations afresh (its heaps hold at most 64 MiB: a page fault for every 4 KiB of every
state) and a 22-qubit step was slower on workers; its last bits also differed from the one-batch
path's, where PyTorch splits sums between its threads (benchmarks/results/threads-22q.txt)."""


def parallel_samples(batch: int, amplitudes: int, device: torch.device) -> int:
    """How many worker threads :func:`map_samples` should use for a batch's samples: 0 to compute
    it in the calling thread as one batch.

    Threads are used on the CPU, for at least two samples of :data:`MIN_AMPLITUDES` to
    :data:`MAX_AMPLITUDES` amplitudes each, when the calling thread's ``torch.get_num_threads()``
    is at least 2 (so never from a worker, which has one; inside :func:`one_calling_thread`, the
    setting it found).

    Args:
        batch (int): samples in the batch.
        amplitudes (int): amplitudes of one sample's state.
        device (torch.device): where the tensors are.

    Returns:
        int: ``min(batch, torch.get_num_threads())``, or 0.

    **Example**

    >>> import torch
    >>> parallel_samples(8, 2**16, torch.device("cpu")) == min(8, torch.get_num_threads()) > 1 or (
    ...     torch.get_num_threads() == 1)
    True
    >>> parallel_samples(1, 2**16, torch.device("cpu")), parallel_samples(8, 2**4, torch.device("cpu"))
    (0, 0)
    """
    if torch.device(device).type != "cpu" or batch < 2:
        return 0
    if not MIN_AMPLITUDES <= amplitudes <= MAX_AMPLITUDES:
        return 0
    threads = min(batch, getattr(_calling, "threads", None) or torch.get_num_threads())
    return threads if threads >= 2 else 0


@contextlib.contextmanager
def one_calling_thread(threads: int) -> Iterator[None]:
    """While a call's samples are on ``threads`` workers (0: none, nothing changes), the calling
    thread's own torch operations run on one thread; :func:`parallel_samples` answers as outside.

    With one of two cores busy, a 16-qubit step took 1.9 to 2.9 times as long as on an idle machine
    when the calling thread joined the workers' states and computed the outputs on PyTorch's OpenMP
    threads, and 1.4 to 1.5 times with this (``benchmarks/results/threads.txt``,
    ``threads-16q-again.txt``); on an idle machine the same. The numbers then do not depend on
    ``torch.get_num_threads()`` either: every operation of the call runs on one thread, the
    workers' as the calling thread's.

    ``torch.set_num_threads`` also sets PyTorch's default for threads that have not run a torch
    operation yet (torch has no setting for one thread alone): a thread whose first torch operation
    runs while another thread is inside starts with one torch thread. Call ``torch.set_num_threads``
    in such a thread to choose its own.

    Args:
        threads (int): the workers a call's samples get (:func:`parallel_samples`).

    **Example**

    >>> import torch
    >>> before = torch.get_num_threads()
    >>> with one_calling_thread(2):
    ...     torch.get_num_threads()
    1
    >>> torch.get_num_threads() == before
    True
    """
    if threads == 0:
        yield
        return
    outer, inner = getattr(_calling, "threads", None), torch.get_num_threads()
    _calling.threads = outer or inner
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(inner)
        _calling.threads = outer


_calling = threading.local()  # ``threads``: the calling thread's torch threads outside one_calling_thread


def sample_slices(batch: int, threads: int) -> list[slice]:
    """The rows of a batch as :func:`map_samples`'s items: ``threads`` slices of consecutive rows
    (their sizes differ by one at most; no empty one), the whole batch as one slice without
    (``threads`` 0).

    **Example**

    >>> sample_slices(5, 2), sample_slices(5, 0)
    ([slice(0, 2, None), slice(2, 5, None)], [slice(0, 5, None)])
    """
    count = max(1, min(threads, batch))
    bounds = [batch * i // count for i in range(count + 1)]
    return [slice(start, stop) for start, stop in zip(bounds, bounds[1:])]


def map_samples(task: Callable[[Any], Any], items: Sequence, threads: int) -> list:
    """``[task(item) for item in items]``, run on ``threads`` worker threads with one torch thread
    each (in the calling thread, in turn, for ``threads`` 0).

    The calling thread waits (asleep) until every task has ended; the first exception a task
    raised is raised here, and the tasks not yet started then do not start.

    Args:
        task (Callable): computes one item (typically the rows ``slice`` of a batch).
        items (Sequence): the tasks' arguments (:func:`sample_slices`).
        threads (int): worker threads (:func:`parallel_samples`), or 0.

    Returns:
        list: the tasks' results, in the order of ``items``.

    Raises:
        ValueError: if ``threads`` is not a non-negative integer.

    **Example**

    >>> map_samples(lambda rows: (rows.start, rows.stop), sample_slices(3, 3), 3)
    [(0, 1), (1, 2), (2, 3)]
    >>> map_samples(lambda rows: (rows.start, rows.stop), sample_slices(3, 0), 0)
    [(0, 3)]
    """
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 0:
        raise ValueError(f"threads must be a non-negative integer; got {threads!r}.")
    if threads == 0 or len(items) < 2:
        return [task(item) for item in items]
    job = _Job(task, list(items), min(threads, len(items)))
    _pool().submit(job)
    try:
        job.done.wait()
    finally:
        job.stop()  # an interrupted caller: the tasks not yet started do not start
    if job.error is not None:
        raise job.error
    return job.results


class _Job:
    """One call's tasks, taken one at a time by ``runners`` worker threads."""

    def __init__(self, task: Callable[[Any], Any], items: list, runners: int):
        self.task, self.items, self.count, self.runners = task, items, len(items), runners
        self.results: list = [None] * self.count
        self.error: BaseException | None = None
        self.done = threading.Event()
        self._next = 0
        self._lock = threading.Lock()

    def stop(self) -> None:
        with self._lock:
            self._next = self.count

    def _take(self) -> int | None:
        with self._lock:
            if self._next >= self.count:
                return None
            self._next += 1
            return self._next - 1

    def run(self) -> None:
        """Run tasks until none is left; the last runner to finish sets :attr:`done`."""
        try:
            while (index := self._take()) is not None:
                try:
                    self.results[index] = self.task(self.items[index])
                except BaseException as err:  # handed to the caller, which raises it
                    with self._lock:
                        self.error = self.error or err
                    self.stop()
        finally:
            with self._lock:
                self.runners -= 1
                last = self.runners == 0
            if last:
                self.done.set()


class _Pool:
    """Worker threads with one torch thread each, fed by one queue."""

    def __init__(self):
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def submit(self, job: _Job) -> None:
        self._grow(job.runners)
        for _ in range(job.runners):
            self._jobs.put(job)

    def _grow(self, count: int) -> None:
        if len(self._threads) >= count:
            return
        with self._lock:
            if len(self._threads) >= count:
                return
            before = torch.get_num_threads()
            started = []
            for index in range(len(self._threads), count):
                ready = threading.Event()
                thread = threading.Thread(target=self._work, args=(ready,), daemon=True,
                                          name=f"qnn_torch-samples-{index}")
                thread.start()
                started.append(ready)
                self._threads.append(thread)
            for ready in started:
                ready.wait()
            # torch.set_num_threads on a worker also set the default of threads started later: restored
            torch.set_num_threads(before)

    def _work(self, ready: threading.Event) -> None:
        torch.get_num_threads()  # torch's per-thread set-up first: it would undo the next line later
        torch.set_num_threads(1)
        ready.set()
        while True:
            self._jobs.get().run()


_state: dict = {"pool": None}  # the workers, made on first use
_state_lock = threading.Lock()


def _pool() -> _Pool:
    pool = _state["pool"]
    if pool is None:
        with _state_lock:
            pool = _state["pool"]
            if pool is None:
                pool = _state["pool"] = _Pool()
    return pool


def _forget_pool() -> None:
    """In a child made by ``fork``: the parent's workers do not exist there."""
    global _state_lock
    _state["pool"] = None
    _state_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)
