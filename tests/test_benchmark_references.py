"""The benchmarks' kept references (``--reference-dir``): computed once, read back instead of
computed again, and the ones kept in the repository (``benchmarks/references``, which the GPU
checks read: Qiskit's Statevector takes minutes from 22 qubits) still those of the benchmark."""

from pathlib import Path

import numpy as np
import pytest

from benchmarks import bench_scaling
from benchmarks.reference import check_data
from benchmarks.scaling_network import num_weights
from benchmarks.worker import REFERENCE_KEYS, Runner

KEPT = Path(__file__).resolve().parents[1] / "benchmarks" / "references"
BATCHES = [1, 8, 64]


def _runner(tmp_path, *options) -> Runner:
    parser = bench_scaling.arguments()
    args = parser.parse_args(["--qubits", "3,2", "--out", str(tmp_path / "out"), *options])
    return Runner("benchmarks.bench_scaling", parser, args)


def _data(n: int) -> dict:
    return {"x": np.full((2, n), float(n)), "outputs": np.zeros((2, 1))}


def test_kept_references_are_computed_once_then_read(tmp_path, capsys):
    folder = tmp_path / "refs"
    computed = []

    def data(n):
        computed.append(n)
        return _data(n)

    first = list(_runner(tmp_path, "--reference-dir", str(folder)).sizes(data))
    assert computed == [2, 3] and [n for n, _ in first] == [2, 3]
    assert [Path(p).name for _, p in first] == ["scaling_2.npz", "scaling_3.npz"]
    with np.load(first[0][1]) as kept:
        assert np.array_equal(kept["x"], _data(2)["x"])
        assert "benchmarks.bench_scaling, 2 qubits, computed" in str(kept["about"])

    def refuse(n):
        raise AssertionError(f"computed {n} again")

    again = list(_runner(tmp_path, "--reference-dir", str(folder)).sizes(refuse))
    assert again == first
    assert "reference read from" in capsys.readouterr().out


def test_without_a_folder_references_are_computed_for_the_run(tmp_path):
    paths = []
    for n, path in _runner(tmp_path).sizes(_data):
        assert Path(path).exists()
        paths.append(path)
    assert not any(Path(p).exists() for p in paths)  # a temporary folder, gone with the run


def test_the_repository_keeps_the_gpu_checks_references():
    assert sorted(int(p.stem.split("_")[1]) for p in KEPT.glob("scaling_*.npz")) == list(range(12, 25, 2))


@pytest.mark.parametrize("path", sorted(KEPT.glob("scaling_*.npz")), ids=lambda p: p.stem)
def test_kept_references_hold_the_benchmark_s_samples(path):
    n = int(path.stem.split("_")[1])
    x, w = check_data(bench_scaling.SEED + n, bench_scaling.CHECK_BATCH, n, num_weights(n))
    with np.load(path) as kept:
        assert np.array_equal(kept["x"], x) and np.array_equal(kept["w"], w)
        assert all(kept[k].shape == s for k, s in zip(REFERENCE_KEYS, [(2, 1), x.shape, w.shape]))
        for b in BATCHES:
            assert kept[f"timed_inputs_{b}"].shape == (b, n)


def test_a_kept_reference_is_the_one_computed_now():
    """The 12-qubit file against the reference computed here and now (Qiskit's Statevector and
    PennyLane's adjoint): a change of the benchmark's network would fail here."""
    fresh = bench_scaling.data(12, BATCHES)
    with np.load(KEPT / "scaling_12.npz") as kept:
        for key in REFERENCE_KEYS:
            assert np.allclose(kept[key], fresh[key], atol=1e-10, rtol=0), key
        for key in ["timed_weights"] + [f"timed_inputs_{b}" for b in BATCHES]:
            assert np.array_equal(kept[key], fresh[key]), key
