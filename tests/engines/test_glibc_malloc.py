"""Freed memory kept for reuse (glibc's mallopt): checked in fresh processes, since the setting
belongs to the whole process."""

import json
import os
import platform
import subprocess
import sys

import pytest

from qnn_torch.engines import glibc_malloc
from qnn_torch.engines import memory

GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"

_PROGRAM = """
import ctypes, json, torch
from qnn_torch.engines.glibc_malloc import MMAP_THRESHOLD, free_heap_bytes, keep_freed_memory
kept = keep_freed_memory()
large = kept and bool(ctypes.CDLL(None).mallopt(-3, MMAP_THRESHOLD))  # this glibc takes a 1 GiB threshold
state = torch.ones(2**23, dtype=torch.complex128)  # 128 MiB: above glibc's largest default mmap threshold
state.add_(1)
del state
print(json.dumps({"kept": kept, "again": keep_freed_memory(), "large": large, "free": free_heap_bytes()}))
"""


def _run(env_value):
    env = {k: v for k, v in os.environ.items() if k != glibc_malloc.ENV_VARIABLE}
    if env_value is not None:
        env[glibc_malloc.ENV_VARIABLE] = env_value
    done = subprocess.run([sys.executable, "-c", _PROGRAM], env=env, capture_output=True, text=True,
                          timeout=120, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.skipif(not GLIBC, reason="mallopt is glibc's")
def test_freed_state_stays_in_the_heap_for_the_next_one():
    result = _run(None)
    assert result["kept"] is True and result["again"] is True
    if not result["large"]:
        pytest.skip("this glibc refuses an mmap threshold of 1 GiB (32 MiB is used)")
    assert result["free"] >= 2**27  # the freed 128 MiB is held for the next allocation


@pytest.mark.slow
@pytest.mark.skipif(not GLIBC, reason="mallopt is glibc's")
@pytest.mark.parametrize("value", ["0", "off"])
def test_the_environment_variable_leaves_malloc_alone(value):
    result = _run(value)
    assert result["kept"] is False and result["again"] is False
    assert result["free"] < 2**27  # glibc unmapped it


def test_without_glibc_nothing_changes(monkeypatch):
    monkeypatch.setattr(glibc_malloc, "_libc", lambda: None)
    monkeypatch.setattr(glibc_malloc, "_state", {})
    assert glibc_malloc.keep_freed_memory() is False
    assert glibc_malloc.free_heap_bytes() == 0


def test_available_memory_counts_the_heap_kept_for_reuse(monkeypatch):
    monkeypatch.setattr(memory, "_system_available", lambda: 3 * 2**30)
    monkeypatch.setattr(memory, "free_heap_bytes", lambda: 2**30)
    assert memory.available_memory() == 4 * 2**30
    assert memory.available_memory("cpu") == 4 * 2**30
