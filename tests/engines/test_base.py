"""The engine contract's shared parts: the per-shape cache every compiling engine keeps."""

import numpy as np
import pytest
import torch

from qnn_torch import EstimatorQNN
from qnn_torch.engines import ENGINES
from qnn_torch.engines import torch_adjoint
from qnn_torch.engines.shape_cache import SHAPE_CACHE_SIZE, ShapeCache


def test_shape_cache_drops_the_least_recently_used():
    cache = ShapeCache(size=2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "a" is now the most recent
    cache.put("c", 3)
    assert "b" not in cache and cache.get("a") == 1 and cache.get("c") == 3 and len(cache) == 2
    assert cache.get("b") is None


def test_shape_cache_counts_the_arrays_of_programs_and_the_constants_of_graphs():
    from torch.fx.experimental.proxy_tensor import make_fx

    namespace = {"table": np.zeros((4, 8)), "np": np}
    exec("def program(x):\n    return x + table[0, 0]\n", namespace)  # noqa: S102 - a generated program
    constant = torch.arange(6.0, dtype=torch.float64)
    graph = make_fx(lambda x: x * constant)(torch.ones(6, dtype=torch.float64))
    cache = ShapeCache()
    cache.put(1, namespace["program"])
    cache.put(2, graph)
    assert cache.nbytes() == 4 * 8 * 8 + 6 * 8


@pytest.mark.parametrize("name", ["adjoint", "torch-adjoint", "compiled"])
def test_every_batch_size_is_not_kept_for_ever(name, monkeypatch, rng):
    """Compiled programs and traced graphs are kept for at most SHAPE_CACHE_SIZE batch sizes (each
    new one was kept for good: 3 to 17 MiB at 14 to 18 qubits), and what they hold is reported."""
    monkeypatch.setattr(torch_adjoint, "EAGER_ANGLES_QUBITS", 99)  # compile on the first call
    qnn = EstimatorQNN(3)
    engine = ENGINES[name](qnn.description)
    w = torch.tensor(rng.uniform(-1, 1, qnn.num_weights))
    for batch in range(1, SHAPE_CACHE_SIZE + 4):
        engine.values_and_jacobians(torch.tensor(rng.uniform(-1, 1, (batch, 3))), w, True, True)
    caches = {"adjoint": lambda: engine._angles._programs, "torch-adjoint": lambda: engine._plan.angles._programs,
              "compiled": lambda: engine._graphs}
    cache = caches[name]()
    assert len(cache) == SHAPE_CACHE_SIZE and (SHAPE_CACHE_SIZE + 3, 3) in {key[0] for key in cache.keys()}
    assert engine.cache_bytes() == cache.nbytes() > 0
