"""Memory: a register whose state vector cannot fit is refused when the network is built, and a
model costs (almost) nothing before its first call; a batch larger than the budget runs in chunks
with identical results; a call of which not even one sample fits is refused before any engine
runs; bad budgets are refused."""

import gc
import tracemalloc
from functools import partial
from pathlib import Path

import numpy as np
import pennylane as qml
import pytest
import torch

from qnn_torch import EstimatorQNN, RealAmplitudes, SamplerQNN, TorchConnector, ZZFeatureMap, parity
from qnn_torch.engines import ENGINES, QNodeEngine
from qnn_torch.engines import memory
from qnn_torch.engines.memory import SMALL_CALL_BYTES, check_budget, chunk_size, format_bytes
from qnn_torch.engines.statevector import StateVector

BATCH = 7


# ---------------------------------------------------------------- at construction

STATE_20 = 16 * 2**20  # bytes of one complex128 state vector on 20 qubits


def _rss():
    try:
        import psutil
    except ImportError:  # pragma: no cover
        return None
    return psutil.Process().memory_info().rss


@pytest.mark.parametrize("make", [lambda: EstimatorQNN(40), lambda: SamplerQNN(40),
                                  lambda: EstimatorQNN(40, engine="qnode"),
                                  lambda: EstimatorQNN(40, device="lightning.qubit")],
                         ids=["estimator", "sampler", "qnode", "lightning"])
def test_register_that_cannot_fit_is_refused(make):
    with pytest.raises(ValueError, match=r"num_qubits=40 .*16 TiB.*available"):
        make()


def test_limit_follows_available_memory(monkeypatch):
    monkeypatch.setattr(memory, "available_memory", lambda: 2**30)  # 1 GiB
    with pytest.raises(ValueError, match=r"num_qubits=27 .*2 GiB, but only 1 GiB"):
        EstimatorQNN(27, engine="qnode")
    assert EstimatorQNN(26, engine="qnode").num_qubits == 26  # exactly 1 GiB: fits
    monkeypatch.setattr(memory, "available_memory", lambda: None)  # unknown: no check
    assert EstimatorQNN(30, engine="qnode").num_qubits == 30


def test_twenty_qubit_model_allocates_little():
    gc.collect()
    rss_before = _rss()
    tracemalloc.start()
    try:
        model = TorchConnector(EstimatorQNN(20))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < STATE_20 / 4, f"construction allocated {peak / 2**20:.1f} MiB"
    if rss_before is not None:  # torch tensors are not seen by tracemalloc; RSS sees them
        grown = _rss() - rss_before
        assert grown < STATE_20 * 2, f"RSS grew by {grown / 2**20:.1f} MiB"
    assert model.qnn.engine == "torch-adjoint"


def test_simulator_tables_are_built_on_first_use():
    tracemalloc.start()
    try:
        sim = StateVector(20)  # eager per-qubit tables took 20 * 2**20 * 32 bytes (640 MiB)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sim.dim == 2**20 and peak < 2**20, f"{peak / 2**20:.1f} MiB"
    small = StateVector(3)
    state = torch.zeros(1, 8, dtype=torch.complex128)
    state[0, 5] = 1.0  # |101>
    assert small._bits[0].tolist() == [0, 0, 0, 0, 1, 1, 1, 1]
    flipped = small._permute(state, ("flip", 2))
    assert flipped[0, 4] == 1.0  # |100>
    assert small.zero_state(2).shape == (2, 8) and small.zero_state(1)[0, 0] == 1.0


# ---------------------------------------------------------------- budgets and chunks

SMALL = {"feature_map": partial(ZZFeatureMap, reps=1), "ansatz": partial(RealAmplitudes, reps=1)}

NETWORKS = {
    "estimator-adjoint": lambda: EstimatorQNN(3, **SMALL),
    "estimator-compiled": lambda: EstimatorQNN(3, engine="compiled", **SMALL),
    "estimator-qnode": lambda: EstimatorQNN(3, engine="qnode", **SMALL),
    "estimator-observables": lambda: EstimatorQNN(3, observables=[qml.Z(0), qml.X(1) @ qml.Y(2)], **SMALL),
    "sampler-compiled": lambda: SamplerQNN(3, engine="compiled", **SMALL),
    "sampler-parity": lambda: SamplerQNN(2, interpret=parity, output_shape=2),
    "lightning": lambda: EstimatorQNN(3, device="lightning.qubit", **SMALL),
}


class _Spy:
    """Records the batch size of every call the network makes to an engine (not the engines' calls
    to themselves)."""

    def __init__(self, monkeypatch):
        self.batches = []
        self.depth = 0
        for cls in {*ENGINES.values(), QNodeEngine}:
            for method in ("values", "values_and_jacobians"):
                original = getattr(cls, method)

                def spied(engine, x, *args, _original=original, **kwargs):
                    if not self.depth:
                        self.batches.append(x.shape[0])
                    self.depth += 1
                    try:
                        return _original(engine, x, *args, **kwargs)
                    finally:
                        self.depth -= 1

                monkeypatch.setattr(cls, method, spied)


def _engine_of(qnn):
    return qnn._engines.instance(qnn.engine)


def _budget_for(qnn, call: str, samples: int) -> int:
    """A budget that fits exactly ``samples`` samples of ``call`` on the network's first engine, with
    what its caches hold now."""
    engine = _engine_of(qnn)
    return samples * engine.bytes_per_sample(torch.float64, call) + engine.cache_bytes() + 1


@pytest.mark.parametrize("network", list(NETWORKS))
@pytest.mark.parametrize("batched_weights", [False, True])
def test_chunked_jacobians_equal_unchunked(network, batched_weights, monkeypatch, rng):
    qnn = NETWORKS[network]()
    x = torch.tensor(rng.uniform(-1, 1, (BATCH, qnn.num_inputs)))
    w = torch.tensor(rng.uniform(-1, 1, (BATCH, qnn.num_weights) if batched_weights else qnn.num_weights))
    out, jacobians = qnn.differentiate(x, w)
    spy = _Spy(monkeypatch)
    qnn.memory_budget = _budget_for(qnn, "jacobians", 3)
    chunked_out, chunked_jacobians = qnn.differentiate(x, w)
    assert spy.batches == [3, 3, 1]
    assert torch.allclose(chunked_out, out, atol=1e-12, rtol=0)
    assert len(chunked_jacobians) == len(jacobians) == 2
    for a, b in zip(chunked_jacobians, jacobians):
        assert a.shape == b.shape and torch.allclose(a, b, atol=1e-12, rtol=0)


@pytest.mark.parametrize("network", list(NETWORKS))
def test_chunked_values_equal_unchunked(network, monkeypatch, rng):
    qnn = NETWORKS[network]()
    x = torch.tensor(rng.uniform(-1, 1, (BATCH, qnn.num_inputs)))
    w = torch.tensor(rng.uniform(-1, 1, qnn.num_weights))
    expected = qnn.forward(x.numpy(), w.numpy())
    spy = _Spy(monkeypatch)
    qnn.memory_budget = _budget_for(qnn, "values", 2)
    got = qnn.forward(x.numpy(), w.numpy())
    assert spy.batches == [2, 2, 2, 1]
    np.testing.assert_allclose(got, expected, atol=1e-12, rtol=0)


def test_chunked_graph_gives_the_same_gradients(monkeypatch, rng):
    """values() with an autograd graph (the path of second derivatives) chunks too."""
    qnn = EstimatorQNN(3, engine="compiled", **SMALL)
    x = torch.tensor(rng.uniform(-1, 1, (BATCH, 3)), requires_grad=True)
    w = torch.tensor(rng.uniform(-1, 1, qnn.num_weights), requires_grad=True)
    expected = torch.autograd.grad(qnn.evaluate(x, w).square().sum(), (x, w))
    spy = _Spy(monkeypatch)
    qnn.memory_budget = _budget_for(qnn, "graph", 4)
    got = torch.autograd.grad(qnn.evaluate(x, w).square().sum(), (x, w))
    assert spy.batches == [4, 3]
    for a, b in zip(got, expected):
        assert torch.allclose(a, b, atol=1e-12, rtol=0)


def test_training_step_through_torch_connector_is_unchanged_by_chunks(rng):
    x = torch.tensor(rng.uniform(-1, 1, (BATCH, 3)), dtype=torch.float32, requires_grad=True)
    grads = []
    for budget in (None, 1):
        qnn = EstimatorQNN(3, **SMALL)
        qnn.memory_budget = None if budget is None else _budget_for(qnn, "jacobians", 2)
        model = TorchConnector(qnn, initial_weights=np.linspace(-1, 1, qnn.num_weights))
        x.grad = None
        model(x).sum().backward()
        grads.append((x.grad.clone(), model.weight.grad.clone()))
    for a, b in zip(*grads):
        assert torch.equal(a, b)


@pytest.mark.parametrize("budget", [1, 2**20])
def test_not_even_one_sample_is_refused_before_any_engine_runs(budget, monkeypatch):
    qnn = EstimatorQNN(16, engine="compiled", memory_budget=budget)
    spy = _Spy(monkeypatch)
    x, w = torch.zeros(5, 16, dtype=torch.float64), torch.zeros(qnn.num_weights, dtype=torch.float64)
    per_sample = _engine_of(qnn).bytes_per_sample(torch.float64, "jacobians")
    expected = (rf"num_qubits=16 with a batch of 5 would need {format_bytes(5 * per_sample)} "
                rf"\({format_bytes(per_sample)} per sample on the 'compiled' engine\), but the "
                rf"memory budget is {format_bytes(budget)} \(memory_budget\)")
    with pytest.raises(ValueError, match=expected):
        qnn.differentiate(x, w)
    with pytest.raises(ValueError, match="num_qubits=16 with a batch of 5"):
        with torch.no_grad():
            TorchConnector(qnn)(torch.zeros(5, 16))
    assert spy.batches == []


@pytest.mark.slow
def test_default_budget_follows_the_available_memory(monkeypatch, rng):
    qnn = EstimatorQNN(12, engine="compiled", **SMALL)
    per_sample = _engine_of(qnn).bytes_per_sample(torch.float64, "jacobians")
    assert per_sample * 3 > SMALL_CALL_BYTES  # the available memory is asked for
    # two samples fit in half of it
    monkeypatch.setattr(memory, "available_memory", lambda device=None: 2 * per_sample * 2 + 10)
    spy = _Spy(monkeypatch)
    x = torch.tensor(rng.uniform(-1, 1, (3, 12)))
    w = torch.tensor(rng.uniform(-1, 1, qnn.num_weights))
    qnn.differentiate(x, w)
    assert spy.batches == [2, 1]
    monkeypatch.setattr(memory, "available_memory", lambda device=None: per_sample)  # half of it: none fits
    with pytest.raises(ValueError, match=r"num_qubits=12 with a batch of 3 .*0.5 of the .* available on cpu"):
        qnn.differentiate(x, w)


def test_small_calls_do_not_ask_for_the_available_memory(monkeypatch):
    def unexpected(device=None):
        raise AssertionError("asked")

    qnn = EstimatorQNN(2)
    monkeypatch.setattr(memory, "available_memory", unexpected)
    qnn.forward(np.zeros((4, 2)), np.zeros(8))
    qnn.backward(np.zeros((4, 2)), np.zeros(8))


@pytest.mark.parametrize("budget, error, match", [
    (0, ValueError, "memory_budget must be a positive, finite number of bytes .*got 0"),
    (-5, ValueError, "got -5"), (float("nan"), ValueError, "got nan"), (float("inf"), ValueError, "got inf"),
    ("1GB", TypeError, r"memory_budget must be a number of bytes or None; got '1GB' \(str\)"),
    (True, TypeError, "got True"),
])
def test_bad_budgets(budget, error, match):
    with pytest.raises(error, match=match):
        EstimatorQNN(2, memory_budget=budget)
    qnn = EstimatorQNN(2)
    with pytest.raises(error, match=match):
        qnn.memory_budget = budget
    assert qnn.memory_budget is None


def test_budget_values():
    assert check_budget(None) is None and check_budget(2.5e9) == 2_500_000_000
    cpu = torch.device("cpu")
    assert chunk_size(10, 0, 1, cpu, 30, "qnode") == 10  # nothing simulated here
    assert chunk_size(10, 100, 350, cpu, 2, "adjoint") == 3
    assert chunk_size(10, 100, 10**6, cpu, 2, "adjoint") == 10
    assert chunk_size(10, 100, None, torch.device("meta"), 2, "compiled") == 10  # small: nothing asked


def test_engines_count_decomposed_gates_as_pennylane_does():
    """The gate count that sizes a graph's memory, against PennyLane's own resource count."""
    for qnn in (EstimatorQNN(2), EstimatorQNN(5), SamplerQNN(3, **SMALL)):
        x = torch.zeros(qnn.num_inputs, dtype=torch.float64)
        w = torch.zeros(qnn.num_weights, dtype=torch.float64)
        expected = qml.specs(qnn.qnode, level="device")(x, w)["resources"].num_gates
        assert _engine_of(qnn).num_gates() == expected


def test_hardware_is_not_budgeted():
    qnn = EstimatorQNN(2, memory_budget=1)
    assert qnn.simulated_locally
    qnn.spec = qnn.spec.__class__(qnn.spec.device, "parameter-shift", 1024, "fake:FakeManilaV2", True)
    assert not qnn.simulated_locally
    assert qnn._engines.chunk_size(_engine_of(qnn), torch.zeros(4, 2, dtype=torch.float64), "jacobians") == 4


# ---------------------------------------------------------------- the first call, and caches in the budget


@pytest.mark.slow
def test_a_budget_that_fits_is_accepted_on_the_first_call(monkeypatch, rng):
    """The torch adjoint engine's estimate comes from the circuit's structure before any call: at 14
    qubits a budget of two samples splits the first call in two (the estimate counted a state per
    gate before the first call, and refused it: "not even one sample fits")."""
    qnn = EstimatorQNN(14)
    engine = _engine_of(qnn)
    assert engine.name == "torch-adjoint"
    per_sample = engine.bytes_per_sample(torch.float64, "jacobians")
    assert per_sample < 16 * 2**14 * 60  # one kept state per fused block, not per gate (700 here)
    qnn.memory_budget = 2 * per_sample + 1
    spy = _Spy(monkeypatch)
    x = torch.tensor(rng.uniform(-1, 1, (4, 14)))
    qnn.differentiate(x, torch.tensor(rng.uniform(-1, 1, qnn.num_weights)))
    assert spy.batches == [2, 2]
    assert engine.bytes_per_sample(torch.float64, "jacobians") == per_sample


def test_cached_programs_count_in_the_budget(rng):
    """What an engine's per-shape caches hold is taken from the budget before the samples share it;
    a budget the caches fill is refused in a message that says so."""
    qnn = EstimatorQNN(3, **SMALL)
    x, w = torch.tensor(rng.uniform(-1, 1, (BATCH, 3))), torch.tensor(rng.uniform(-1, 1, qnn.num_weights))
    qnn.differentiate(x, w)
    engine = _engine_of(qnn)
    cached = engine.cache_bytes()
    assert cached > 0
    per_sample = engine.bytes_per_sample(torch.float64, "jacobians")
    assert qnn._engines.chunk_size(engine, x, "jacobians") == BATCH
    qnn.memory_budget = cached + 2 * per_sample
    assert qnn._engines.chunk_size(engine, x, "jacobians") == 2
    qnn.memory_budget = cached
    expected = (rf"memory budget is 0 B \(memory_budget less the {format_bytes(cached)} of the engine's "
                r"cached programs\): not even one sample fits")
    with pytest.raises(ValueError, match=expected):
        qnn.differentiate(x, w)


RSS_SCRIPT = """
import json, sys
import gc
import tracemalloc

import numpy as np, torch
from torch.fx.experimental.proxy_tensor import make_fx
from qnn_torch import EstimatorQNN, TorchConnector

def status(field):
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) * 1024 for line in fh if line.startswith(field + ":"))

n, batch, budget = (int(a) for a in sys.argv[1:])
torch.set_num_threads(1)
make_fx(lambda a: torch.sin(a) * 2)(torch.ones(2))  # the tracer's one-time imports (~170 MiB of code)
qnn = EstimatorQNN(n, memory_budget=budget)
model = TorchConnector(qnn, initial_weights=np.linspace(-1, 1, qnn.num_weights))
x = torch.rand(batch, n, requires_grad=True)
with open("/proc/self/clear_refs", "w") as fh:  # reset the peak resident size
    fh.write("5")
before = status("VmRSS")
model(x).sum().backward()
print(json.dumps({"growth": status("VmHWM") - before, "engine": model.qnn.engine}))
"""


def _peak_resident_growth(n: int, batch: int, budget: int) -> dict:
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.run([sys.executable, "-c", RSS_SCRIPT, str(n), str(batch), str(budget)],
                          capture_output=True, text=True, env=env, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="resets the peak RSS through /proc")
@pytest.mark.parametrize("n, batch, budget_mib", [(14, 64, 64), (16, 32, 64), (18, 16, 256)])
def test_the_first_call_stays_within_the_budget(n, batch, budget_mib):
    """A fresh process's first training step (TorchConnector forward and backward, batch over the
    budget) grows the process by at most the budget plus what is not state vectors: a quarter of the
    budget and 64 MiB for code, tables and the angle program compiled on the way (measured: 14
    qubits 102 MiB for 64, 16 qubits 107 for 64, 18 qubits 330 for 256; before, 14 and 16 qubits were
    refused and 18 qubits with 512 MiB grew by 1.3 to 2 GiB)."""
    budget = budget_mib * 2**20
    result = _peak_resident_growth(n, batch, budget)
    assert result["engine"] == "torch-adjoint"
    assert result["growth"] <= 1.25 * budget + 64 * 2**20, f"grew by {result['growth'] / 2**20:.0f} MiB"


@pytest.mark.skipif(not Path("/proc/meminfo").exists(), reason="reads /proc/meminfo (Linux)")
def test_available_memory_is_psutil_s_without_psutil(monkeypatch):
    """The CPU's available memory is ``MemAvailable``, psutil's number on Linux, read without
    importing psutil (a network's first call asks for it)."""
    psutil = pytest.importorskip("psutil")
    monkeypatch.setattr(memory, "free_heap_bytes", lambda: 0)
    ours, theirs = memory.available_memory(), psutil.virtual_memory().available
    assert abs(ours - theirs) < 2**28, (ours, theirs)  # other processes move it between the reads
