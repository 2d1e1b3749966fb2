"""Tracing: the graph ``make_fx`` would record, node for node, without importing the compiler stack;
``make_fx`` itself for what the recorder does not follow; a hand-over only for circuits whose
operations depend on values."""

import os
import subprocess
import sys
from functools import partial
from pathlib import Path

import pytest
import torch
from torch.fx.experimental.proxy_tensor import make_fx

from qnn_torch import EstimatorQNN, PauliFeatureMap, RealAmplitudes
from qnn_torch.engines import EngineUnavailable, TorchTracedEngine
from qnn_torch.engines.angle_programs import AnglePrograms
from qnn_torch.engines.decomposition import circuit_leaves
from qnn_torch.engines import tracing
from qnn_torch.engines.tracing import Recording, record, trace

from .cases import CASES

ROOT = Path(__file__).resolve().parents[2]
X, W = torch.linspace(-1, 1, 6, dtype=torch.float64).reshape(3, 2), torch.tensor([0.3, -0.7, 1.1])
TABLE = torch.arange(6.0, dtype=torch.float64)  # a constant from outside the function


def _assert_traced_as_make_fx(fn, *args):
    """The recorder's graph is ``make_fx``'s: the same code, constants and results."""
    graph, reference = trace(fn, *args), make_fx(fn, tracing_mode="real")(*args)
    assert graph.code == reference.code
    constants = {k: v for k, v in reference.__dict__.items() if k.startswith("_tensor_constant")}
    assert sorted(constants) == sorted(k for k in graph.__dict__ if k.startswith("_tensor_constant"))
    for name, value in constants.items():
        assert torch.equal(getattr(graph, name), value)
    for node, ref in zip(graph.graph.nodes, reference.graph.nodes):
        val, ref_val = node.meta.get("val"), ref.meta.get("val")
        if isinstance(ref_val, torch.Tensor):
            assert (val.shape, val.dtype, val.stride()) == (ref_val.shape, ref_val.dtype, ref_val.stride())
    a, b = graph(*args), reference(*args)
    for r, s in zip(a if isinstance(a, (list, tuple)) else [a], b if isinstance(b, (list, tuple)) else [b]):
        assert torch.equal(r, s)
    return graph


FUNCTIONS = {
    "arithmetic": lambda x, w: torch.sin(x[:, 0]) * w[1] + torch.cos(x[..., 1]) / 2 - w[0] ** 2,
    "python-scalars-and-constants": lambda x, w: (torch.tensor(0.5) * x + TABLE.reshape(3, 2)).exp(),
    "composites": lambda x, w: (x.reshape(-1) @ TABLE).expand(4) + x.flatten().sum(),
    "factories": lambda x, w: torch.stack([torch.zeros_like(x), torch.ones(3, 2, dtype=x.dtype), x], 1),
    "several-results": lambda x, w: list(torch.sort(x, dim=1)) + list(torch.unbind(x, 1)),
    "integer-indexing": lambda x, w: x[:, [1, 0, 1]] * w[torch.tensor([2, 0, 1])],
    "in-place-on-own-tensors": lambda x, w: torch.zeros(3, 2, dtype=x.dtype).add_(x).mul_(w[0]),
    "detach-and-complex": lambda x, w: torch.polar(x.detach(), x).real * torch.tensor(1j).imag,
    "constant-arithmetic": lambda x, w: x * (torch.tensor(2.0) * 3 + 1) + float(torch.tensor(3.0) - 1),
    "a-tuple-of-outputs": lambda x, w: (x + 1, w.mul(2)),
}


@pytest.mark.parametrize("name", FUNCTIONS)
def test_the_graph_is_make_fx_s(name):
    _assert_traced_as_make_fx(FUNCTIONS[name], X, W)


def test_composites_under_inference_mode_are_decomposed_as_make_fx_does():
    with torch.inference_mode():
        _assert_traced_as_make_fx(FUNCTIONS["composites"], X, W)


def test_named_parameters_and_varargs_name_placeholders_as_make_fx_does():
    def named(inputs, weights):
        return inputs * weights[0]

    assert "def forward(self, inputs_1, weights_1)" in _assert_traced_as_make_fx(named, X, W).code
    assert "arg0_1, arg1_1" in _assert_traced_as_make_fx(lambda *a: a[0] + a[1][0], X, W).code


def _described(nodes) -> list:
    """A graph's nodes as ``(op, target, args, shape, dtype)``, the nodes in the arguments as their
    positions (placeholders by position; a graph module's ``get_attr`` targets are the same names)."""
    nodes = list(nodes)
    position = {node: i for i, node in enumerate(nodes)}

    def arg(a):
        if isinstance(a, (torch.fx.Node, tracing.Node)):
            return ("node", position[a])
        if isinstance(a, (list, tuple)):
            return tuple(arg(b) for b in a)
        if isinstance(a, dict):
            return {k: arg(v) for k, v in a.items()}
        return a

    described = []
    for i, node in enumerate(nodes):
        if isinstance(node, torch.fx.Node):
            val = node.meta.get("val")
            shape = (tuple(val.shape), val.dtype) if isinstance(val, torch.Tensor) else None
        else:
            shape = None if node.val is None else (node.val[0], node.val[2])
        target = i if node.op == "placeholder" else node.target
        described.append((node.op, target, arg(node.args), arg(dict(node.kwargs)), shape))
    return described


@pytest.mark.parametrize("name", FUNCTIONS)
def test_the_recording_is_the_graph_node_for_node(name):
    """What the angle programs read (:func:`record`) is the graph :func:`trace` returns (make_fx's,
    above), and a make_fx graph read as a recording is too."""
    recording = record(FUNCTIONS[name], X, W)
    assert isinstance(recording, Recording)
    reference = make_fx(FUNCTIONS[name], tracing_mode="real")(X, W)
    assert _described(recording.nodes) == _described(reference.graph.nodes)
    assert _described(Recording.of_graph_module(reference).nodes) == _described(reference.graph.nodes)
    for target, value in recording.constants.items():
        assert torch.equal(value, getattr(reference, target))


def test_a_tensor_with_the_id_of_a_dead_computed_tensor_is_not_taken_for_it():
    """The recorder knows computed tensors by id, through a weak reference: a tensor that reuses
    the id of an intermediate that died (a constant made without an ATen operation, such as
    ``torch.from_numpy``) must not be taken for that intermediate's node."""
    recorder = tracing._Recorder(lambda x: x, (X,))
    dead, node = torch.ones(2), tracing.Node("call_function", torch.ops.aten.mul.Tensor)
    recorder._track(dead, node, False)
    assert recorder._entry(dead)[1] is node
    other = torch.zeros(2)
    recorder.computed[id(other)] = recorder.computed.pop(id(dead))  # what a reused id leaves behind
    del dead
    assert recorder._entry(other) is None
    assert isinstance(recorder._argument(other), tracing.Node) and recorder._argument(other).op == "get_attr"


class _Tagged(torch.Tensor):
    """A tensor subclass."""


UNFOLLOWED = {
    "a boolean mask": lambda x, w: x[x > 0].sum() * w[0],
    "a write into a constant": lambda x, w: TABLE.clone().add_(1) + TABLE.add_(0) * x.sum(),
    "a tensor subclass": lambda x, w: x.as_subclass(_Tagged) * 2 + w[0],
}


@pytest.mark.parametrize("name", UNFOLLOWED)
def test_what_the_recorder_does_not_follow_goes_to_make_fx(name, monkeypatch):
    calls = []
    monkeypatch.setattr(tracing, "_make_fx", lambda fn, args: calls.append(fn) or "make_fx's graph")
    assert trace(UNFOLLOWED[name], X, W) == "make_fx's graph" and calls == [UNFOLLOWED[name]]


@pytest.mark.parametrize("name", ["a boolean mask", "a write into a constant"])
def test_a_recording_of_what_the_recorder_does_not_follow_is_make_fx_s_graph(name):
    reference = make_fx(UNFOLLOWED[name], tracing_mode="real")(X, W)
    assert _described(record(UNFOLLOWED[name], X, W).nodes) == _described(reference.graph.nodes)


@pytest.mark.parametrize("name", ["a boolean mask", "a write into a constant"])
def test_make_fx_then_gives_its_graph(name):
    _assert_traced_as_make_fx(UNFOLLOWED[name], X, W)


def test_trace_hands_over_only_for_value_dependent_circuits():
    def branching(x):
        return x * 2 if x.sum() > 0 else x

    with pytest.raises(EngineUnavailable, match="data-dependent"):
        trace(branching, torch.ones(2))

    def caught(x):
        try:
            return x * 2 if x.sum() > 0 else x
        except EngineUnavailable:
            return x

    with pytest.raises(EngineUnavailable, match="data-dependent"):  # make_fx refuses it as well
        trace(caught, torch.ones(2))

    def broken(x):
        raise RuntimeError("a bug in a simulator")

    with pytest.raises(RuntimeError, match="a bug in a simulator") as info:
        trace(broken, torch.ones(2))
    assert not isinstance(info.value, EngineUnavailable)


def _angle_function(qnn, batch, rng):
    x = torch.tensor(rng.uniform(-2, 2, (batch, qnn.num_inputs)))
    w = torch.tensor(rng.uniform(-2, 2, qnn.num_weights))
    decisions, leaves, _ = circuit_leaves(qnn.description, x[:1], w)
    angles = AnglePrograms(qnn.description, decisions, sum(kind == "angle" for kind, _ in leaves))
    return angles._angles(batch), x, w


@pytest.mark.parametrize("entanglement", ["full", "linear", "reverse_linear", "circular", "sca", "pairwise"])
def test_the_templates_angles_trace_as_with_make_fx(entanglement, rng):
    qnn = EstimatorQNN(4, feature_map=partial(PauliFeatureMap, paulis=("Y", "XZ"), entanglement=entanglement),
                       ansatz=partial(RealAmplitudes, reps=2, entanglement=entanglement))
    _assert_traced_as_make_fx(*_angle_function(qnn, 3, rng))


def test_a_qiskit_circuit_s_parameter_expressions_trace_as_with_make_fx(rng):
    from qiskit import QuantumCircuit
    from qiskit.circuit import ParameterVector

    x, v = ParameterVector("x", 2), ParameterVector("v", 3)
    qc = QuantumCircuit(2)
    qc.ry(v[0] * x[0] + 0.5, 0)
    qc.rz((3.0 - x[1]) * (x[0] - v[1]).sin(), 1)
    qc.cx(0, 1)
    qc.rx(v[2] ** 2 / x[1], 0)
    qnn = EstimatorQNN(circuit=qc, input_params=list(x), weight_params=list(v))
    _assert_traced_as_make_fx(*_angle_function(qnn, 5, rng))


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("dtype, device", [(torch.float64, "cpu"), (torch.float32, "cpu"),
                                           (torch.float64, "meta")])
def test_the_compiled_engine_s_circuits_trace_as_with_make_fx(case, dtype, device, rng):
    qnn = CASES[case]()
    engine = TorchTracedEngine(qnn.description)
    x = torch.tensor(rng.uniform(-1, 1, (2, qnn.num_inputs)), dtype=dtype).to(device)
    w = torch.tensor(rng.uniform(-1, 1, qnn.num_weights), dtype=dtype).to(device)
    engine.program(x, w)  # the simulator's tables first, as the engine traces
    fn = partial(engine.program)
    if device == "meta":
        graph, reference = trace(fn, x, w), make_fx(fn, tracing_mode="real")(x, w)
        assert graph.code == reference.code
    else:
        _assert_traced_as_make_fx(fn, x, w)


FIRST_CALL = """
import sys
import torch
from qnn_torch import EstimatorQNN, SamplerQNN, TorchConnector
for engine in ("adjoint", "torch-adjoint", "compiled"):
    for make in (EstimatorQNN, SamplerQNN):
        model = TorchConnector(make(3, engine=engine))
        model(torch.rand(2, 3, requires_grad=True)).sum().backward()
print(sorted(m for m in ("torch._dynamo", "torch._inductor", "psutil") if m in sys.modules))
"""


def test_a_network_s_first_call_imports_no_compiler():
    """make_fx's first use imports torch._dynamo and torch._inductor (about a second); the recorder
    imports neither, on every engine that traces; the memory check reads /proc/meminfo, not psutil
    (about 10 ms to import)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", FIRST_CALL], capture_output=True, text=True, env=env,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "[]"
