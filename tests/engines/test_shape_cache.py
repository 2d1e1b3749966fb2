"""The per-shape cache of generated programs and traced graphs."""

import numpy as np
import torch
from torch.fx.experimental.proxy_tensor import make_fx

from qnn_torch.engines.shape_cache import SHAPE_CACHE_SIZE, ShapeCache


def test_shape_cache_drops_the_least_recently_used():
    cache = ShapeCache(size=2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "a" is now the most recent
    cache.put("c", 3)
    assert "b" not in cache and cache.get("a") == 1 and cache.get("c") == 3 and len(cache) == 2
    assert cache.get("b") is None
    assert cache.keys() == ["a", "c"]
    assert ShapeCache().size == SHAPE_CACHE_SIZE


def test_a_look_is_not_a_use():
    cache = ShapeCache(size=2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert "a" in cache  # does not make "a" the most recent
    cache.put("c", 3)
    assert "a" not in cache and cache.keys() == ["b", "c"]


def test_shape_cache_counts_the_arrays_of_programs_and_the_constants_of_graphs():
    namespace = {"table": np.zeros((4, 8)), "np": np}
    exec("def program(x):\n    return x + table[0, 0]\n", namespace)  # noqa: S102 - a generated program
    constant = torch.arange(6.0, dtype=torch.float64)
    graph = make_fx(lambda x: x * constant)(torch.ones(6, dtype=torch.float64))
    cache = ShapeCache()
    cache.put(1, namespace["program"])
    cache.put(2, graph)
    assert cache.nbytes() == 4 * 8 * 8 + 6 * 8
