"""Where and in what precision engines compute: every engine honours what it declares
(``devices``, ``dtypes``), and the simulator keeps its state and constants on its device."""

from functools import partial

import pytest
import torch

from qnn_torch import EstimatorQNN, RealAmplitudes, SamplerQNN, ZZFeatureMap, parity
from qnn_torch.engines import ENGINES, Engine
from qnn_torch.engines.statevector import StateVector

NETWORKS = {
    "estimator": lambda: EstimatorQNN(3, feature_map=partial(ZZFeatureMap, reps=1)),
    "sampler": lambda: SamplerQNN(3, feature_map=partial(ZZFeatureMap, reps=1), ansatz=partial(RealAmplitudes, reps=1)),
    "sampler-parity": lambda: SamplerQNN(2, interpret=parity, output_shape=2),
}
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def make_engine(name, qnn) -> Engine:
    return ENGINES[name].build(qnn.description, qnn.spec, None)


def _inputs(qnn, rng, dtype=torch.float64, device="cpu"):
    x = torch.tensor(rng.uniform(-1, 1, (3, qnn.num_inputs)), dtype=dtype, device=device)
    w = torch.tensor(rng.uniform(-1, 1, qnn.num_weights), dtype=dtype, device=device)
    return x, w


@pytest.mark.parametrize("name", list(ENGINES))
def test_every_engine_declares_the_cpu_and_float64(name):
    cls = ENGINES[name]
    assert "cpu" in cls.devices and torch.float64 in cls.dtypes
    assert make_engine(name, NETWORKS["estimator"]()).supports_device(torch.device("cpu"))


@pytest.mark.parametrize("name", [n for n, cls in ENGINES.items() if "meta" in cls.devices])
@pytest.mark.parametrize("network", list(NETWORKS))
def test_engines_on_meta_keep_every_tensor_there(name, network, rng):
    """Meta tensors hold no data: one CPU constant mixed in would raise, so this checks placement."""
    qnn = NETWORKS[network]()
    engine = make_engine(name, qnn)
    x, w = _inputs(qnn, rng, device="meta")
    k = qnn.description.output_size
    values = engine.values(x, w)
    out, jacobians = engine.values_and_jacobians(x, w, True, True)
    assert values.device.type == out.device.type == "meta" and out.shape == (3, k)
    assert [(j.device.type, tuple(j.shape)) for j in jacobians] == [("meta", (3, k, qnn.num_inputs)),
                                                                     ("meta", (3, k, qnn.num_weights))]


@pytest.mark.parametrize("name", [n for n, cls in ENGINES.items() if torch.float32 in cls.dtypes])
@pytest.mark.parametrize("network", list(NETWORKS))
def test_single_precision_is_close_to_double(name, network, rng):
    qnn = NETWORKS[network]()
    engine = make_engine(name, qnn)
    x, w = _inputs(qnn, rng)
    out64, jac64 = engine.values_and_jacobians(x, w, True, True)
    out32, jac32 = engine.values_and_jacobians(x.float(), w.float(), True, True)
    assert out32.dtype == torch.float32 and all(j.dtype == torch.float32 for j in jac32)
    # relative errors up to 1e-4 (benchmarks/results/precision.txt)
    assert (out32.double() - out64).abs().max() <= 1e-4 * out64.abs().max()
    for a, b in zip(jac32, jac64):
        assert (a.double() - b).abs().max() <= 1e-4 * b.abs().max()
    assert not torch.equal(out32.double(), out64)  # it did compute in single precision


@pytest.mark.parametrize("dtype", [torch.complex128, torch.complex64])
def test_statevector_state_and_tables_follow_device_and_dtype(dtype):
    sim = StateVector(3, device="meta", dtype=dtype)
    assert sim.zero_state(2).device.type == "meta" and sim.zero_state(2).dtype == dtype
    assert sim._bit_t[0].device.type == "meta" and sim._bit_t[0].dtype == sim.real_dtype
    cpu = StateVector(3, dtype=dtype)
    assert cpu.zero_state(1)[0, 0] == 1 and cpu.real_dtype == (torch.float64 if dtype == torch.complex128 else
                                                               torch.float32)
    with pytest.raises(ValueError, match="dtype must be torch.complex128 or torch.complex64; got torch.float64"):
        StateVector(3, dtype=torch.float64)


@CUDA
@pytest.mark.parametrize("name", [n for n, cls in ENGINES.items() if "cuda" in cls.devices])
@pytest.mark.parametrize("network", list(NETWORKS))
def test_engines_on_cuda_equal_the_cpu(name, network, rng):
    qnn = NETWORKS[network]()
    engine = make_engine(name, qnn)
    x, w = _inputs(qnn, rng)
    out, jacobians = engine.values_and_jacobians(x, w, True, True)
    out_gpu, jacobians_gpu = engine.values_and_jacobians(x.cuda(), w.cuda(), True, True)
    assert out_gpu.device.type == "cuda" and all(j.device.type == "cuda" for j in jacobians_gpu)
    assert torch.allclose(out_gpu.cpu(), out, atol=1e-10, rtol=0)
    for a, b in zip(jacobians_gpu, jacobians):
        assert torch.allclose(a.cpu(), b, atol=1e-10, rtol=0)
