"""Tensors stay on their device: every engine honours what it declares (``devices``, ``dtypes``);
networks, TorchConnector and a hybrid CNN moved with ``.to()`` keep their tensors there, engines
that compute on the CPU only get CPU copies; single precision where it is safe.

Without a GPU the placement is checked on the ``meta`` device (tensors without data: a CPU tensor
mixed in raises) and by recording what the engines receive; the CUDA tests run where a GPU is.
"""

from functools import partial

import numpy as np
import pennylane as qml
import pytest
import torch

from qnn_torch import EstimatorQNN, RealAmplitudes, SamplerQNN, TorchConnector, ZZFeatureMap, parity
from qnn_torch.engines import ENGINES, NumpyAdjointEngine, QNodeEngine, TorchTracedEngine
from qnn_torch.engines.statevector import StateVector
from qnn_torch.tutorial import HybridNet, make_mnist_qnn

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
SMALL = {"feature_map": partial(ZZFeatureMap, reps=1), "ansatz": partial(RealAmplitudes, reps=1)}
ENGINE_NETWORKS = {
    "estimator": lambda: EstimatorQNN(3, feature_map=partial(ZZFeatureMap, reps=1)),
    "sampler": lambda: SamplerQNN(3, **SMALL),
    "sampler-parity": lambda: SamplerQNN(2, interpret=parity, output_shape=2),
}


class _Received:
    """Records the device and dtype of what each engine class receives."""

    def __init__(self, monkeypatch):
        self.calls = []
        for cls in (NumpyAdjointEngine, TorchTracedEngine, QNodeEngine):
            for method in ("values", "values_and_jacobians"):
                original = getattr(cls, method)

                def spied(engine, x, w, *args, _original=original, **kwargs):
                    self.calls.append((engine.name, x.device.type, x.dtype, w.device.type, w.dtype))
                    return _original(engine, x, w, *args, **kwargs)

                monkeypatch.setattr(cls, method, spied)


# ---------------------------------------------------------------- engines: what they declare

def _on_the_cpu(name, network, engine_for, rng):
    """The engine ``name`` on a network of :data:`ENGINE_NETWORKS`, inputs and weights for it, and its
    float64 values and Jacobians on the CPU."""
    qnn = ENGINE_NETWORKS[network]()
    engine = engine_for(name, qnn)
    x, w = _inputs(qnn, rng)
    return engine, x, w, engine.values_and_jacobians(x, w, True, True)


def _inputs(qnn, rng, dtype=torch.float64, device="cpu"):
    x = torch.tensor(rng.uniform(-1, 1, (3, qnn.num_inputs)), dtype=dtype, device=device)
    w = torch.tensor(rng.uniform(-1, 1, qnn.num_weights), dtype=dtype, device=device)
    return x, w


@pytest.mark.parametrize("name", [n for n, cls in ENGINES.items() if "meta" in cls.devices])
@pytest.mark.parametrize("network", list(ENGINE_NETWORKS))
def test_engines_on_meta_keep_every_tensor_there(name, network, engine_for, rng):
    """Meta tensors hold no data: one CPU constant mixed in would raise, so this checks placement."""
    qnn = ENGINE_NETWORKS[network]()
    engine = engine_for(name, qnn)
    x, w = _inputs(qnn, rng, device="meta")
    k = qnn.description.output_size
    values = engine.values(x, w)
    out, jacobians = engine.values_and_jacobians(x, w, True, True)
    assert values.device.type == out.device.type == "meta" and out.shape == (3, k)
    assert [(j.device.type, tuple(j.shape)) for j in jacobians] == [
        ("meta", (3, k, qnn.num_inputs)), ("meta", (3, k, qnn.num_weights))]


@pytest.mark.parametrize("name", [n for n, cls in ENGINES.items() if torch.float32 in cls.dtypes])
@pytest.mark.parametrize("network", list(ENGINE_NETWORKS))
def test_single_precision_is_close_to_double(name, network, engine_for, rng):
    engine, x, w, (out64, jac64) = _on_the_cpu(name, network, engine_for, rng)
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
    with pytest.raises(ValueError, match="dtype must be torch.complex128 or torch.complex64; got torch.f"):
        StateVector(3, dtype=torch.float64)


@CUDA
@pytest.mark.parametrize("name", [n for n, cls in ENGINES.items() if "cuda" in cls.devices])
@pytest.mark.parametrize("network", list(ENGINE_NETWORKS))
def test_engines_on_cuda_equal_the_cpu(name, network, engine_for, rng):
    engine, x, w, (out, jacobians) = _on_the_cpu(name, network, engine_for, rng)
    out_gpu, jacobians_gpu = engine.values_and_jacobians(x.cuda(), w.cuda(), True, True)
    assert out_gpu.device.type == "cuda" and all(j.device.type == "cuda" for j in jacobians_gpu)
    assert torch.allclose(out_gpu.cpu(), out, atol=1e-10, rtol=0)
    for a, b in zip(jacobians_gpu, jacobians):
        assert torch.allclose(a.cpu(), b, atol=1e-10, rtol=0)


# ---------------------------------------------------------------- meta: placement without data

def _qiskit_reuploading():
    from tests.qiskit_reference import reuploading_circuit

    qc, x, w = reuploading_circuit(3, 2)
    return EstimatorQNN(circuit=qc, input_params=x, weight_params=w, input_gradients=True)


def _function_circuit():
    def circuit(inputs, weights):
        qml.RY(weights[..., 0] * inputs[..., 0], wires=0)
        qml.CNOT([0, 1])
        qml.RX(weights[..., 1], wires=1)

    return EstimatorQNN(2, circuit=circuit, num_inputs=1, num_weights=2)


@pytest.mark.parametrize("make, cpu_engine", [
    (lambda: EstimatorQNN(3), "adjoint"),
    (lambda: SamplerQNN(2, interpret=parity, output_shape=2), "adjoint"),
    (lambda: EstimatorQNN(3, engine="compiled", precision="single"), "compiled"),
    (_qiskit_reuploading, "adjoint"), (_function_circuit, "adjoint"),
    (lambda: SamplerQNN(6), "torch-adjoint"),  # 64 probabilities: the compiled engine's product on meta
], ids=["estimator", "sampler-parity", "single", "qiskit-circuit", "function", "probabilities"])
def test_torch_connector_moved_to_meta_trains_there(make, cpu_engine):
    qnn = make()
    model = TorchConnector(qnn).to("meta")
    x = torch.zeros(4, qnn.num_inputs, device="meta", requires_grad=True)
    out = model(x)
    assert out.device.type == "meta" and out.shape == (4, *qnn.output_shape) and out.dtype == torch.float32
    out.sum().backward()
    assert x.grad.device.type == model.weight.grad.device.type == "meta"
    torch.optim.SGD(model.parameters(), lr=0.1).step()
    # the chain for CPU calls is unchanged
    assert qnn.engine == cpu_engine


def test_hybrid_cnn_moved_to_meta_trains_there():
    model = HybridNet(make_mnist_qnn()).to("meta")
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    out = model(torch.zeros(3, 1, 28, 28, device="meta"))
    assert out.device.type == "meta" and out.shape == (3, 2)
    torch.nn.functional.nll_loss(out, torch.zeros(3, dtype=torch.long, device="meta")).backward()
    optimizer.step()
    assert all(p.device.type == "meta" for p in model.parameters())


def test_a_call_on_meta_takes_the_engine_that_computes_there(monkeypatch):
    received = _Received(monkeypatch)
    qnn = EstimatorQNN(2)
    with torch.no_grad():
        qnn.evaluate(torch.zeros(2, 2, device="meta", dtype=torch.float64),
                     torch.zeros(8, device="meta", dtype=torch.float64))
    assert received.calls == [("compiled", "meta", torch.float64, "meta", torch.float64)]


@pytest.mark.parametrize("make", [lambda: EstimatorQNN(2, engine="adjoint"),
                                  lambda: EstimatorQNN(2, engine="qnode"),
                                  lambda: EstimatorQNN(2, device="lightning.qubit")],
                         ids=["adjoint", "qnode", "lightning"])
def test_cpu_only_engine_on_meta_is_refused(make):
    model = TorchConnector(make()).to("meta")
    with pytest.raises(ValueError, match=r"inputs on the 'meta' device hold no data, and the "
                                         r"'(adjoint|qnode)' engine computes on the CPU only"):
        model(torch.zeros(2, 2, device="meta"))


def test_inputs_on_another_device_than_the_weight_are_refused():
    model = TorchConnector(EstimatorQNN(2))
    with pytest.raises(ValueError, match=r"inputs must be on the TorchConnector's device cpu .*got inputs "
                                         r"on meta.*model.to\('meta'\)"):
        model(torch.zeros(2, 2, device="meta"))
    with pytest.raises(ValueError, match="weight must be on the inputs' device cpu; got weight on meta"):
        EstimatorQNN(2).evaluate(torch.zeros(1, 2, dtype=torch.float64), torch.zeros(8, device="meta"))


# ---------------------------------------------------------------- what the engines receive

@pytest.mark.parametrize("engine, expected", [("auto", "adjoint"), ("compiled", "compiled"),
                                              ("qnode", "qnode")])
@pytest.mark.parametrize("precision", ["double", "single"])
def test_engines_receive_their_dtype_and_results_keep_the_callers(engine, expected, precision,
                                                                  monkeypatch, rng):
    received = _Received(monkeypatch)
    qnn = EstimatorQNN(2, engine=engine, precision=precision)
    model = TorchConnector(qnn, initial_weights=np.linspace(-1, 1, 8))
    x = torch.tensor(rng.uniform(-1, 1, (3, 2)), dtype=torch.float32, requires_grad=True)
    out = model(x)
    out.sum().backward()
    single = precision == "single" and expected == "compiled"  # the one engine here that has float32
    dtype = torch.float32 if single else torch.float64
    assert received.calls[0] == (expected, "cpu", dtype, "cpu", dtype)
    assert out.dtype == x.grad.dtype == model.weight.grad.dtype == torch.float32
    array = qnn.forward(x.detach().numpy(), np.linspace(-1, 1, 8))
    assert array.dtype == np.float64
    reference = EstimatorQNN(2, engine="qnode").forward(x.detach().numpy(), np.linspace(-1, 1, 8))
    np.testing.assert_allclose(array, reference, atol=1e-5 if single else 1e-10, rtol=0)


def test_single_precision_costs_little_and_is_not_double(rng):
    x = torch.tensor(rng.uniform(-1, 1, (5, 6)))
    w = torch.tensor(rng.uniform(-1, 1, 12))
    double = EstimatorQNN(6, engine="compiled", **SMALL)
    single = EstimatorQNN(6, engine="compiled", precision="single", **SMALL)
    out64, jac64 = double.differentiate(x, w)
    out32, jac32 = single.differentiate(x, w)
    assert out32.dtype == torch.float32 and single.dtype == torch.float32 and double.dtype == torch.float64
    # measured in benchmarks/results/precision.txt: relative errors up to 1e-4 at 12 qubits
    assert 0 < (out32.double() - out64).abs().max() < 1e-4 * out64.abs().max()
    for a, b in zip(jac32, jac64):
        assert (a.double() - b).abs().max() < 1e-4 * b.abs().max()


@pytest.mark.parametrize("precision, device, match", [
    ("half", "default.qubit", "precision must be 'double' or 'single'; got 'half'"),
    ("single", "lightning.qubit", r"precision='single' needs device 'default.qubit' with shots=None .*got "
                                  r"device 'lightning.qubit'.*c_dtype"),
])
def test_bad_precision(precision, device, match):
    with pytest.raises(ValueError, match=match):
        EstimatorQNN(2, precision=precision, device=device)


@pytest.mark.skipif("lightning.gpu" in qml.plugin_devices, reason="lightning.gpu is installed here")
def test_lightning_gpu_not_installed_says_how():
    with pytest.raises(ValueError, match=r"device 'lightning.gpu' is not installed: pip install "
                                         r"pennylane-lightning-gpu .*installed one \(.*default.qubit"):
        EstimatorQNN(2, device="lightning.gpu")


# ---------------------------------------------------------------- CUDA

def _step(model, x, y):
    model.zero_grad()
    out = model(x)
    torch.nn.functional.mse_loss(out, y).backward()
    return out.detach(), [p.grad.detach() for p in model.parameters()]


@CUDA
@pytest.mark.parametrize("make", [
    lambda: EstimatorQNN(2), lambda: EstimatorQNN(2, engine="compiled"),
    lambda: EstimatorQNN(2, engine="qnode"), lambda: EstimatorQNN(2, device="lightning.qubit"),
    lambda: EstimatorQNN(2, device="qiskit.aer"),
    lambda: SamplerQNN(2, interpret=parity, output_shape=2),
], ids=["auto", "compiled", "qnode", "lightning", "aer", "sampler"])
def test_torch_connector_on_cuda_equals_the_cpu(make, rng):
    qnn = make()
    k = int(np.prod(qnn.output_shape))
    x = torch.tensor(rng.uniform(-1, 1, (4, 2)), requires_grad=True)
    y = torch.tensor(rng.uniform(-1, 1, (4, k)))
    cpu = TorchConnector(qnn, initial_weights=np.linspace(-1, 1, qnn.num_weights)).double()
    gpu = TorchConnector(qnn, initial_weights=np.linspace(-1, 1, qnn.num_weights)).double().to("cuda")
    out, grads = _step(cpu, x, y)
    out_gpu, grads_gpu = _step(gpu, x.detach().cuda().requires_grad_(), y.cuda())
    assert out_gpu.device.type == "cuda" and all(g.device.type == "cuda" for g in grads_gpu)
    assert torch.allclose(out_gpu.cpu(), out, atol=1e-10, rtol=0)
    for a, b in zip(grads_gpu, grads):
        assert torch.allclose(a.cpu(), b, atol=1e-10, rtol=0)


@CUDA
def test_hybrid_cnn_trains_on_cuda_like_on_the_cpu():
    torch.manual_seed(0)
    cpu = HybridNet(make_mnist_qnn()).double()
    gpu = HybridNet(make_mnist_qnn()).double()
    gpu.load_state_dict(cpu.state_dict())
    gpu.to("cuda")
    cpu.eval(), gpu.eval()  # no dropout: the same numbers
    x = torch.rand(3, 1, 28, 28, dtype=torch.float64)
    target = torch.tensor([0, 1, 0])
    for model, device in ((cpu, "cpu"), (gpu, "cuda")):
        # linear in the gradients: round-off stays small
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        for _ in range(2):
            optimizer.zero_grad()
            torch.nn.functional.nll_loss(model(x.to(device)), target.to(device)).backward()
            optimizer.step()
    for (name, a), b in zip(cpu.state_dict().items(), gpu.state_dict().values()):
        assert b.device.type == "cuda" and torch.allclose(a, b.cpu(), atol=1e-8, rtol=0), name


@CUDA
def test_single_precision_on_cuda(rng):
    qnn = EstimatorQNN(6, engine="compiled", precision="single", **SMALL)
    x = torch.tensor(rng.uniform(-1, 1, (5, 6)))
    w = torch.tensor(rng.uniform(-1, 1, 12))
    out, jacobians = qnn.differentiate(x.cuda(), w.cuda())
    reference, ref_jacobians = EstimatorQNN(6, engine="compiled", **SMALL).differentiate(x, w)
    assert out.device.type == "cuda" and out.dtype == torch.float32
    assert (out.cpu().double() - reference).abs().max() < 1e-4 * reference.abs().max()
    for a, b in zip(jacobians, ref_jacobians):
        assert (a.cpu().double() - b).abs().max() < 1e-4 * b.abs().max()


@CUDA
def test_memory_budget_on_cuda_follows_the_gpu(monkeypatch, rng):
    from qnn_torch.engines import memory

    free = memory.available_memory("cuda")
    assert 0 < free <= torch.cuda.get_device_properties(0).total_memory
    qnn = EstimatorQNN(14, engine="compiled", **SMALL)
    engine = qnn._engines.instance("compiled")
    per_sample = engine.bytes_per_sample(torch.float64, "jacobians")
    assert per_sample * 64 > memory.SMALL_CALL_BYTES
    asked = []
    monkeypatch.setattr(memory, "available_memory",
                        lambda device=None: asked.append(device) or 10 * per_sample)
    x = torch.tensor(rng.uniform(-1, 1, (64, 14)), device="cuda")
    assert qnn._engines.chunk_size(engine, x, "jacobians") == 5  # half of 10 samples' worth
    assert [torch.device(d).type for d in asked] == ["cuda"]
