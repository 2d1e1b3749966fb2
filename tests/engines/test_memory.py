"""Memory at construction: a model costs (almost) nothing before its first call, and a register
whose state vector cannot fit is refused with a ValueError naming num_qubits."""

import gc
import tracemalloc

import pytest
import torch

from qnn_torch import EstimatorQNN, SamplerQNN, TorchConnector
from qnn_torch.engines import memory
from qnn_torch.engines.statevector import StateVector

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
