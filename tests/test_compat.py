"""The private interfaces of other packages in ``qnn_torch._compat`` still answer as we use them.

Each test fails loudly when a new release of the package behind an entry changes it.
"""

import math
import os
import platform
import subprocess
import sys
import threading

import pennylane as qml
import pytest
import torch

from qnn_torch import _compat

MKL_TORCH = (sys.platform.startswith("linux") and platform.machine() == "x86_64"
             and torch.backends.mkl.is_available())
INTEL = MKL_TORCH and "GenuineIntel" in open("/proc/cpuinfo", encoding="utf-8").read()


def _branch_in_a_fresh_process(env: dict) -> str:
    code = "from qnn_torch._compat import mkl_cbwr_branch; print(mkl_cbwr_branch())"
    proc = subprocess.run([sys.executable, "-c", code], env={**os.environ, **env}, capture_output=True,
                          text=True, check=True)
    return proc.stdout.strip()


@pytest.mark.skipif(not MKL_TORCH, reason="torch without MKL (only x86-64 Linux wheels link it)")
@pytest.mark.parametrize("setting, branch", [("COMPATIBLE", "3"),
                                             pytest.param("AUTO", "2", marks=pytest.mark.slow),
                                             pytest.param("SSE4_2", "8" if INTEL else "2",
                                                          marks=pytest.mark.slow)])
def test_torch_exports_the_mkl_reproducibility_switch(setting, branch):
    """``mkl_serv_cbwr_get`` answers from torch's library with the branch MKL_CBWR asks for
    (tested with torch 2.14.1, MKL 2024.0). MKL takes an instruction set's branch on Intel
    processors only: elsewhere it answers AUTO for one (seen on an AMD EPYC), COMPATIBLE as asked."""
    assert _compat._torch_mkl_symbol("mkl_serv_cbwr_get") is not None
    assert _branch_in_a_fresh_process({"MKL_CBWR": setting}) == branch


@pytest.mark.skipif(MKL_TORCH, reason="torch with MKL")
def test_without_mkl_there_is_no_branch():
    assert _compat.mkl_cbwr_branch() is None


# ---------------------------------------------------------------- PennyLane


def _held_elsewhere(lock) -> bool:
    """Whether another thread finds ``lock`` taken."""
    answer = []

    def probe():
        taken = lock.acquire(blocking=False)
        if taken:
            lock.release()
        answer.append(not taken)

    thread = threading.Thread(target=probe)
    thread.start()
    thread.join()
    return answer[0]


def test_pennylane_queue_lock_is_held_while_a_circuit_is_recorded():
    lock = _compat.pennylane_queue_lock()
    assert lock is qml.queuing.AnnotatedQueue._lock, "PennyLane's queuing lock moved"
    assert not _held_elsewhere(lock)
    with qml.queuing.AnnotatedQueue():
        assert _held_elsewhere(lock), "AnnotatedQueue no longer holds its lock while recording"
    assert not _held_elsewhere(lock)


# ---------------------------------------------------------------- pennylane-qiskit


def test_pennylane_qiskit_splits_transpiler_and_primitive_options():
    from pennylane_qiskit.remote import RemoteDevice
    from qiskit_ibm_runtime.fake_provider import FakeManilaV2

    device = RemoteDevice(wires=2, backend=FakeManilaV2(), optimization_level=1, resilience_level=0,
                          seed_transpiler=7)
    assert _compat.transpile_options(device) == {"optimization_level": 1, "seed_transpiler": 7}
    options = _compat.primitive_options(device)
    assert options["resilience_level"] == 0 and options["default_shots"] == 1024
    assert "optimization_level" not in options


# ---------------------------------------------------------------- qiskit-ibm-runtime


def test_ibm_backends_keep_their_service_behind_the_public_property():
    from qiskit_ibm_runtime import IBMBackend

    service = object()
    backend = IBMBackend.__new__(IBMBackend)
    backend._service = service
    assert backend.service is service, "IBMBackend.service no longer returns _service"
    assert _compat.ibm_service(backend) is service


@pytest.mark.parametrize("attribute", ["service", "_service"])
def test_a_backend_holding_a_service_under_either_name_counts(attribute):
    from types import SimpleNamespace

    service = object()
    assert _compat.ibm_service(SimpleNamespace(**{attribute: service})) is service
    assert _compat.ibm_service(SimpleNamespace()) is None


# ---------------------------------------------------------------- Qiskit


_STEPS = {"ADD": lambda a, b: a + b, "SUB": lambda a, b: a - b, "MUL": lambda a, b: a * b,
          "DIV": lambda a, b: a / b, "POW": lambda a, b: a**b, "RSUB": lambda a, b: b - a,
          "RDIV": lambda a, b: b / a, "RPOW": lambda a, b: b**a, "SIN": lambda a, _: math.sin(a),
          "COS": lambda a, _: math.cos(a), "EXP": lambda a, _: math.exp(a), "LOG": lambda a, _: math.log(a)}


def _replayed(expression, values: dict) -> float:
    """``expression`` evaluated by running its replay as the stack machine ``_compat`` describes."""
    from qiskit.circuit import ParameterExpression

    def operand(value):
        if isinstance(value, ParameterExpression):
            return values[value] if value.is_symbol() else _replayed(value, values)
        return float(value)

    stack = []
    for op, lhs, rhs in _compat.expression_replay(expression):
        unary = op in ("SIN", "COS", "EXP", "LOG")
        b = None if unary else stack.pop() if rhs is None else operand(rhs)
        a = stack.pop() if lhs is None else operand(lhs)
        stack.append(_STEPS[op](a, b))
    assert len(stack) == 1
    return stack[0]


def _expressions():
    from qiskit.circuit import Parameter

    x, w = Parameter("x"), Parameter("w")
    return x, w, [x - (w + 1), x / (w + 5), 1 - x, 2 / (x + 3), (2 * x).sin() * w.cos(), (x * w + 1) ** 2,
                  (x - w).exp() - (w + 2).log(), 3 ** x]


def test_qiskit_replays_a_parameter_expression_step_by_step():
    x, w, expressions = _expressions()
    values = {x: 0.3, w: -0.7}
    for expression in expressions:
        want = float(expression.bind({p: values[p] for p in expression.parameters}).numeric())
        assert _replayed(expression, values) == pytest.approx(want, abs=1e-12), expression
    assert [op for op, _, _ in _compat.expression_replay((2 * x).sin())] == ["MUL", "SIN"]
    assert _compat.expression_replay(0 * x + 1) == []  # simplified to a number


def test_a_torch_layer_initialised_without_a_qnode_is_a_plain_module():
    """TorchLayer forwards attributes to its QNode only once its own constructor ran (PennyLane 0.45)."""
    import pennylane as qml

    class Layer(qml.qnn.TorchLayer):
        def __init__(self):
            _compat.init_torch_layer_without_qnode(self)
            self.weight = torch.nn.Parameter(torch.zeros(2))

    assert qml.qnn.TorchLayer._initialized is False
    layer = Layer()
    assert isinstance(layer, torch.nn.Module) and not layer._initialized
    assert [name for name, _ in layer.named_parameters()] == ["weight"]


def test_qiskit_ml_gives_every_gate_angle_a_parameter_of_its_own():
    """qiskit-ml's parameter-shift gradient circuit: angles ``__gθ<k>`` in gate order, a parameter's
    angles with the derivative of each angle's expression (the order of its primitive calls)."""
    pytest.importorskip("qiskit_machine_learning.gradients")
    from qiskit.circuit import Parameter, QuantumCircuit

    x, w = Parameter("x"), Parameter("w")
    qc = QuantumCircuit(2)
    qc.ry(2 * x, 0)
    qc.cx(0, 1)
    qc.p(x * w, 1)
    qc.ry(w, 0)
    before = qc.copy()
    circuit, parameter_map, angle_map = _compat.qiskit_ml_gradient_circuit(qc)
    assert qc == before
    names = ["__gθ0", "__gθ1", "__gθ2"]
    assert [p.name for p in circuit.parameters] == names
    # the translation runs through a DAG: ry(w) on qubit 0 comes before p(x*w) on qubit 1
    assert [str(angle_map[g]) for g in circuit.parameters] == ["2*x", "w", "w*x"]
    coefficients = [[(g.name, float(c.bind({x: 0.5, w: 3.0}) if hasattr(c, "bind") else c))
                     for g, c in parameter_map[p]] for p in (x, w)]
    assert coefficients == [[("__gθ0", 2.0), ("__gθ2", 3.0)], [("__gθ1", 1.0), ("__gθ2", 0.5)]]


def test_a_graph_module_with_lazy_code_writes_its_code_when_first_needed(monkeypatch):
    """torch.fx writes a graph module's Python code when it is built; the lazy module writes the same
    code when it is read or called (torch 2.14.1)."""
    graph = torch.fx.Graph()
    x = graph.placeholder("x_1")
    graph.output(graph.call_function(torch.ops.aten.mul.Tensor, (x, graph.get_attr("_tensor_constant0"))))
    root = {"_tensor_constant0": torch.tensor([2.0, 3.0])}
    written = []
    python_code = torch.fx.Graph.python_code
    monkeypatch.setattr(torch.fx.Graph, "python_code",
                        lambda *a, **k: written.append(1) or python_code(*a, **k))
    module = _compat.graph_module_with_lazy_code(root, graph)
    assert isinstance(module, torch.fx.GraphModule) and written == []
    assert module.code == torch.fx.GraphModule(root, graph).code and len(written) == 2
    assert torch.equal(module(torch.ones(2)), torch.tensor([2.0, 3.0]))


def test_torch_disable_dynamo_wrappers_are_recognised():
    """``torch._disable_dynamo``'s closure over ``fn`` and ``recursive`` (tested with torch 2.14.1)."""
    fn, recursive = _compat.dynamo_disabled_function(torch.optim.Optimizer.__dict__["zero_grad"])
    assert fn.__name__ == "zero_grad" and recursive is True
    assert _compat.dynamo_disabled_function(torch.optim.Optimizer.__dict__["register_step_pre_hook"]) is None
    assert _compat.dynamo_disabled_function(len) is None


def test_optimizer_steps_made_by_use_grad_are_recognised():
    """``_use_grad_for_differentiable``'s closure over the optimizer's own ``step`` (torch 2.14.1;
    AdamW inherits Adam's); LBFGS's step is not made so. In a fresh process: ``qnn-torch`` replaces
    these steps (``defer_dynamo_import``) where a test calls its ``main``."""
    code = """
import torch
from qnn_torch import _compat
for name in ["Adam", "SGD", "RMSprop", "Adagrad"]:
    cls = getattr(torch.optim, name)
    func, use_grad, hooked = _compat.optimizer_step_grad_mode(cls.__dict__["step"])
    assert use_grad is cls.__dict__["step"] and not hooked and func.__qualname__ == name + ".step", name
    cls.__new__(cls)._patch_step_function()  # what an optimizer's first instance does
    func, use_grad, hooked = _compat.optimizer_step_grad_mode(cls.__dict__["step"])
    assert hooked and use_grad is cls.__dict__["step"].__wrapped__ and func.__qualname__ == name + ".step"
assert _compat.optimizer_step_grad_mode(torch.optim.LBFGS.__dict__["step"]) is None
print("ok")
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.stdout.strip() == "ok", proc.stderr


def test_autograd_tells_the_base_of_the_views_it_tracks():
    """``Tensor._base`` (torch 2.14.1): the base of a view made under grad mode, none for a computed
    tensor, a detached one or a view made without grad mode."""
    x = torch.zeros(2, 3, requires_grad=True)
    assert _compat.autograd_view_base(x[..., 1]) is x and _compat.autograd_view_base(x.reshape(6)) is x
    assert _compat.autograd_view_base(x * 2) is None and _compat.autograd_view_base(x) is None
    with torch.no_grad():
        assert _compat.autograd_view_base(x[..., 1]) is None
