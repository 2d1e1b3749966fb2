"""Thread safety: models used from several threads at once neither hang, race nor downgrade.

PennyLane's queuing keeps one global stack of active contexts, and ``make_fx`` patches
``torch.nn.Module`` globally while it traces; without serialization, threads corrupt each
other's circuits, kill the queuing lock (every later circuit in the process then blocks) or
make a model give up its fast path. Each test runs its threads with a join timeout and fails
if one is still alive (no reliance on pytest-timeout).
"""

import threading
import time
import traceback

import numpy as np
import pytest
import torch

from qnn_torch import EstimatorQNN, SamplerQNN, TorchConnector, parity

TIMEOUT_S = 240.0
BATCHES = (1, 3, 2, 5, 1, 4, 2, 3)  # new batch shapes: each one traces anew on the compiled path


def run_threads(targets, timeout=TIMEOUT_S):
    """Run each callable in its own thread; fail on a hang or on any exception."""
    errors = []

    def guarded(fn):
        def run():
            try:
                fn()
            except BaseException:  # noqa: BLE001 - reported below with its traceback
                errors.append(traceback.format_exc())
        return run

    threads = [threading.Thread(target=guarded(fn), daemon=True) for fn in targets]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    alive = sum(thread.is_alive() for thread in threads)
    assert alive == 0, f"{alive} of {len(threads)} threads still running after {timeout} s (a hang)"
    assert not errors, "\n".join(errors)


def steps(model, seed, record):
    """Forward + backward on batches of changing size; record inputs, outputs and gradients."""
    gen = torch.Generator().manual_seed(seed)
    for batch in BATCHES:
        x = torch.rand(batch, model.qnn.num_inputs, generator=gen, dtype=torch.float64).requires_grad_(True)
        model.zero_grad()
        out = model(x)
        out.sum().backward()
        record.append((x.detach().clone(), out.detach().clone(), x.grad.clone(), model.weight.grad.clone()))


def check_against_one_thread(model, record):
    """Every threaded result equals the same computation repeated in this thread."""
    for x, out, grad_x, grad_w in record:
        x = x.clone().requires_grad_(True)
        model.zero_grad()
        ref = model(x)
        ref.sum().backward()
        np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), atol=1e-10, rtol=0)
        np.testing.assert_allclose(grad_x.numpy(), x.grad.numpy(), atol=1e-10, rtol=0)
        np.testing.assert_allclose(grad_w.numpy(), model.weight.grad.numpy(), atol=1e-10, rtol=0)


def expected_engine(engine):
    return {"auto": "adjoint", "adjoint": "adjoint", "torch-adjoint": "torch-adjoint", "compiled": "compiled",
            "qnode": "qnode"}[engine]


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["auto", "torch-adjoint", "compiled", "qnode"])
def test_threads_each_with_its_own_model(engine):
    models, records = [None] * 4, [[] for _ in range(4)]

    def work(i):
        def run():  # built inside the thread: construction races too
            torch.manual_seed(i)
            models[i] = TorchConnector(EstimatorQNN(2, engine=engine))
            steps(models[i], i, records[i])
        return run

    run_threads([work(i) for i in range(4)])
    for model, record in zip(models, records):
        assert model.qnn.engine == expected_engine(engine), model.qnn.engine_fallback
        assert model.qnn.engine_fallback is None
        assert len(record) == len(BATCHES)
        check_against_one_thread(model, record)


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["auto", "torch-adjoint", "compiled", "qnode"])
def test_two_and_three_qubit_models_together(engine):
    """Different registers in different threads: no operator lands in the other's circuit."""
    sizes = (2, 3, 2, 3)
    models, records = [None] * len(sizes), [[] for _ in sizes]

    def work(i, n):
        def run():
            torch.manual_seed(10 + i)
            sampler_engine = "auto" if engine == "adjoint" else engine
            qnn = (EstimatorQNN(n, engine=engine) if i % 2 == 0
                   else SamplerQNN(n, interpret=parity, output_shape=2, engine=sampler_engine))
            models[i] = TorchConnector(qnn)
            steps(models[i], 10 + i, records[i])
        return run

    run_threads([work(i, n) for i, n in enumerate(sizes)])
    for model, record in zip(models, records):
        assert model.qnn.engine_fallback is None, model.qnn.engine_fallback
        check_against_one_thread(model, record)


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["auto", "torch-adjoint", "compiled", "qnode"])
def test_one_model_shared_by_threads(engine):
    torch.manual_seed(5)
    model = TorchConnector(EstimatorQNN(3, engine=engine))
    records = [[] for _ in range(4)]

    def work(i):
        def run():
            gen = torch.Generator().manual_seed(100 + i)
            for batch in BATCHES:  # no shared gradient buffers: torch.autograd.grad per thread
                x = torch.rand(batch, 3, generator=gen, dtype=torch.float64).requires_grad_(True)
                out = model(x)
                grad_x, grad_w = torch.autograd.grad(out.sum(), (x, model.weight))
                records[i].append((x.detach(), out.detach(), grad_x, grad_w))
        return run

    run_threads([work(i) for i in range(4)])
    assert model.qnn.engine == expected_engine(engine)
    assert model.qnn.engine_fallback is None
    for record in records:
        check_against_one_thread(model, record)


@pytest.mark.slow
def test_many_qubits_threads_keep_their_engine():
    """Registers beyond the NumPy adjoint path's size: auto takes the torch adjoint path and keeps it."""
    models, records = [None] * 3, [[] for _ in range(3)]

    def work(i):
        def run():
            torch.manual_seed(20 + i)
            models[i] = TorchConnector(EstimatorQNN(9))
            steps(models[i], 20 + i, records[i])
        return run

    run_threads([work(i) for i in range(3)])
    for model, record in zip(models, records):
        assert model.qnn.engine == "torch-adjoint", model.qnn.engine_fallback
        check_against_one_thread(model, record[:2])


def test_pennylane_usable_after_threads():
    """The queuing lock is free afterwards: a plain circuit runs in another thread."""
    import pennylane as qml

    done = []

    def run():
        dev = qml.device("default.qubit", wires=1)

        @qml.qnode(dev)
        def circuit(a):
            qml.RX(a, wires=0)
            return qml.expval(qml.Z(0))

        done.append(float(circuit(0.0)))

    run_threads([run], timeout=60)
    assert done == [1.0]
