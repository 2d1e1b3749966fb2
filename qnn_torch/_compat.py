"""The private interfaces of other packages that qnn_torch uses, each in one place.

Every entry names the versions it is tested on; ``tests/test_compat.py`` fails loudly when one of
them changes. The packages behind them are imported inside the functions, so importing this
module costs nothing.
"""

from __future__ import annotations

import ctypes
import sys
import threading
from pathlib import Path

__all__ = ["aten_interceptor", "autograd_view_base", "autograd_would_decompose", "dynamo_disabled_function",
           "expression_replay",
           "graph_module_with_lazy_code", "optimizer_step_grad_mode",
           "ibm_service", "init_torch_layer_without_qnode", "mkl_cbwr_branch", "pennylane_queue_lock",
           "primitive_options", "qiskit_ml_gradient_circuit", "qiskit_ml_gradient_state", "transpile_options",
           "written_arguments"]

_MKL_CBWR_BRANCH = 1  # mkl_cbwr.h: ask mkl_cbwr_get for the branch in use


def _torch_mkl_symbol(name: str):
    """A C function of the Intel MKL linked into torch's CPU library, or None where there is none.

    torch's x86-64 Linux wheels (tested: torch 2.2 to 2.14.1, MKL 2024.0) link MKL statically into
    ``libtorch_cpu.so`` and export its service functions under their internal ``mkl_serv_`` names;
    other builds (macOS, aarch64, OpenBLAS builds) have no MKL.
    """
    import torch

    if not sys.platform.startswith("linux") or not torch.backends.mkl.is_available():
        return None
    library = Path(torch.__file__).parent / "lib" / "libtorch_cpu.so"
    try:
        return getattr(ctypes.CDLL(str(library)), name)
    except (OSError, AttributeError):
        return None


def mkl_cbwr_branch() -> int | None:
    """MKL's conditional numerical reproducibility branch in this process (``mkl_cbwr_get``).

    The first call fixes the branch for the life of the process, from the ``MKL_CBWR``
    environment variable as it is then (unless an MKL computation fixed it before).

    Returns:
        int or None: a ``MKL_CBWR_*`` constant of ``mkl_cbwr.h`` (1: off, MKL chooses its code per
        CPU; 2: AUTO; 3: COMPATIBLE; 10: AVX2; 12: AVX512; ...), or None without MKL.
    """
    get = _torch_mkl_symbol("mkl_serv_cbwr_get")
    if get is None:
        return None
    get.restype, get.argtypes = ctypes.c_int, [ctypes.c_int]
    return int(get(_MKL_CBWR_BRANCH)) & 0xFFFF  # without the STRICT flag


def init_torch_layer_without_qnode(layer) -> None:
    """Initialise a ``qml.qnn.TorchLayer`` subclass instance as a plain ``torch.nn.Module``.

    Tested: PennyLane 0.45.1. ``TorchLayer.__init__`` wants a QNode; skipping it relies on a
    detail of the class: its ``__getattr__`` and ``__setattr__`` forward to the QNode only once its
    own constructor has set ``_initialized``, which is False on the class.
    """
    import torch

    torch.nn.Module.__init__(layer)


def autograd_view_base(tensor):
    """The tensor whose view ``tensor`` is for autograd (``Tensor._base``, tested on torch 2.14.1),
    or None: a tensor computed from another, a leaf, ``detach()``'s result or a view made without
    grad mode (which autograd does not track back to its base) has none."""
    return tensor._base if tensor.grad_fn is not None else None


def pennylane_queue_lock() -> threading.RLock:
    """PennyLane's queuing lock, the class attribute ``qml.queuing.AnnotatedQueue._lock``.

    Tested: PennyLane 0.45.1. Every ``AnnotatedQueue`` (a tape being recorded, a QNode being
    constructed, ``qml.matrix`` of a function) holds it between ``__enter__`` and ``__exit__``,
    so code that holds it runs while no other thread records a PennyLane circuit.

    Returns:
        threading.RLock: PennyLane's lock, or a new reentrant lock where PennyLane has none.
    """
    import pennylane as qml

    return getattr(getattr(qml.queuing, "AnnotatedQueue", None), "_lock", None) or threading.RLock()


def transpile_options(device) -> dict:
    """The transpiler options of a pennylane-qiskit device (``optimization_level``,
    ``initial_layout``, ...): the keyword arguments it gives ``qiskit.transpile``.

    Tested: pennylane-qiskit 0.45.0, where ``QiskitDevice`` keeps them as the private
    ``_transpile_args``, split from its other keyword arguments when it is constructed.

    Args:
        device (pennylane_qiskit.qiskit_device.QiskitDevice): the device.

    Returns:
        dict: the device's own dictionary (not a copy).
    """
    return device._transpile_args  # pylint: disable=protected-access


def primitive_options(device) -> dict:
    """The primitive options of a pennylane-qiskit device (``resilience_level``,
    ``default_shots``, ...): what it passes to ``Estimator.options.update`` and
    ``Sampler.options.update``.

    Tested: pennylane-qiskit 0.45.0, where ``QiskitDevice`` keeps them as the private
    ``_kwargs``: its keyword arguments other than the transpiler's.

    Args:
        device (pennylane_qiskit.qiskit_device.QiskitDevice): the device.

    Returns:
        dict: the device's own dictionary (not a copy).
    """
    return device._kwargs  # pylint: disable=protected-access


def ibm_service(backend):
    """The IBM Quantum service a Qiskit backend belongs to (it holds the account), or None.

    Tested: qiskit-ibm-runtime 0.45.1, where ``IBMBackend.service`` returns the private
    ``_service`` given to its constructor. A backend with either attribute set counts, so that
    no backend holding an account is ever saved with it.
    """
    service = getattr(backend, "service", None)
    return service if service is not None else getattr(backend, "_service", None)


_OPCODE_NAMES: dict[int, str] = {}


def expression_replay(expression) -> list[tuple[str, object, object]]:
    """The steps that rebuild a Qiskit ``ParameterExpression`` from its operands, in order.

    Tested: Qiskit 2.3.0, where the private ``ParameterExpression._qpy_replay`` (kept for QPY)
    lists them and ``qiskit.circuit.parameterexpression.OpCode`` names their operations. Each
    step applies its operation to ``lhs`` and ``rhs``; an operand of None stands for the result
    of the steps before (a stack machine). ``ParameterExpression.sympify`` reads the same steps
    but is not used: in Qiskit 2.3 it swaps the operands of ``x - (w + 1)`` and ``x / (w + 5)``.

    Args:
        expression (qiskit.circuit.ParameterExpression): an expression of parameters.

    Returns:
        list[tuple[str, object, object]]: ``(operation, lhs, rhs)`` of every step; the operation
        is the ``OpCode``'s name (``"ADD"``, ``"SIN"``, ...), or the step's type name for a
        step without one. Empty for an expression that Qiskit simplified to a number.
    """
    from qiskit.circuit.parameterexpression import OpCode

    if not _OPCODE_NAMES:
        _OPCODE_NAMES.update({int(getattr(OpCode, name)): name for name in dir(OpCode) if name.isupper()})
    steps = []
    for step in expression._qpy_replay:  # pylint: disable=protected-access
        op = getattr(step, "op", None)
        name = None if op is None else _OPCODE_NAMES.get(int(op))
        steps.append((name or type(step).__name__, getattr(step, "lhs", None), getattr(step, "rhs", None)))
    return steps


def qiskit_ml_gradient_state(gradient, kind: str) -> dict:
    """What a qiskit-machine-learning gradient object holds: its primitive, and for its SPSA
    gradients ``epsilon``, ``batch_size`` and the random generator of its directions.

    Tested: qiskit-machine-learning 0.9.1, where ``BaseEstimatorGradient`` keeps its estimator as
    the private ``_estimator`` (``BaseSamplerGradient``: ``_sampler``) and the SPSA gradients keep
    ``_epsilon``, ``_batch_size`` and ``_seed`` (a ``numpy.random.Generator``, despite its name).

    Args:
        gradient: a ``qiskit_machine_learning.gradients`` estimator or sampler gradient.
        kind (str): ``"estimator"`` or ``"sampler"``.

    Returns:
        dict: ``primitive``, and ``epsilon``, ``batch_size``, ``rng`` (None where absent).
    """
    return {
        "primitive": getattr(gradient, "_estimator" if kind == "estimator" else "_sampler", None),
        "epsilon": getattr(gradient, "_epsilon", None),
        "batch_size": getattr(gradient, "_batch_size", None),
        "rng": getattr(gradient, "_seed", None),
    }


_INTERCEPTOR: list = []  # the dispatch mode class, defined on first use


def aten_interceptor(handler):
    """A context manager under which every ATen operation calls ``handler(func, args, kwargs)``.

    Tested: torch 2.14.1, with the private ``torch.utils._python_dispatch.TorchDispatchMode``
    (what ``make_fx`` records with). Inside ``handler`` the interception is off, so ``func(*args,
    **kwargs)`` runs the operation; entering the returned mode again (``with mode:``) intercepts the
    operations ``handler`` calls. Modes are per thread. A subclass of ``TorchDispatchMode`` wraps its
    ``__torch_dispatch__`` in ``torch._disable_dynamo`` unless its ``_should_skip_dynamo`` says
    False, and that wrapper imports ``torch._dynamo`` (about a second) on its first call: the
    interceptor says False, so nothing of the compiler stack is imported.

    Args:
        handler (Callable): ``handler(func, args, kwargs)`` with ``func`` a
            ``torch._ops.OpOverload`` (``torch.ops.aten.mul.Tensor``); what it returns is the
            operation's result.

    Returns:
        TorchDispatchMode: the mode, entered with ``with``.
    """
    if not _INTERCEPTOR:
        from torch.utils._python_dispatch import TorchDispatchMode

        class _Interceptor(TorchDispatchMode):
            @classmethod
            def _should_skip_dynamo(cls) -> bool:  # no torch._disable_dynamo wrapper
                return False

            def __init__(self, handler):
                super().__init__()
                self.handler = handler

            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                return self.handler(func, args, kwargs or {})

        _INTERCEPTOR.append(_Interceptor)
    return _INTERCEPTOR[0](handler)


def dynamo_disabled_function(wrapper):
    """What torch's ``torch._disable_dynamo`` wrapper ``wrapper`` disables, or None.

    Tested: torch 2.14.1. ``torch._disable_dynamo(fn, recursive)`` (``torch/_compile.py``) returns
    a closure ``inner`` over ``fn`` and ``recursive`` that imports ``torch._dynamo`` (about a
    second) on its first call, to build ``torch._dynamo.disable(fn, recursive, wrapping=False)``,
    which it keeps as ``fn.__dynamo_disable`` and calls from then on. torch wraps
    ``torch.optim.Optimizer``'s ``add_param_group``, ``zero_grad``, ``state_dict`` and
    ``load_state_dict`` so, and ``torch.utils.checkpoint.checkpoint``.

    Args:
        wrapper (object): anything; a function made by ``torch._disable_dynamo`` is recognised by
            its code.

    Returns:
        tuple or None: ``(fn, recursive)``, or None if ``wrapper`` is not such a function.
    """
    code = getattr(wrapper, "__code__", None)
    if (code is None or code.co_qualname != "_disable_dynamo.<locals>.inner"
            or code.co_freevars != ("fn", "recursive") or not code.co_filename.endswith("_compile.py")):
        return None
    fn, recursive = (cell.cell_contents for cell in wrapper.__closure__)
    return fn, recursive


def optimizer_step_grad_mode(step):
    """The parts of an optimizer class's ``step`` made by ``_use_grad_for_differentiable``, or None.

    Tested: torch 2.14.1. ``torch.optim.optimizer._use_grad_for_differentiable(func)`` (Adam,
    AdamW, SGD, RMSprop and most others; not LBFGS) returns a closure ``_use_grad`` over ``func``
    that imports ``torch._dynamo`` (about a second) on every call, sets the grad mode to the
    optimizer's ``defaults["differentiable"]`` around ``func`` and calls
    ``torch._dynamo.graph_break()`` (nothing outside compilation) before and after. The first
    instance of a class wraps the class's ``step`` in ``Optimizer.profile_hook_step`` (marked
    ``hooked``, the ``_use_grad`` function as ``__wrapped__``).

    Args:
        step (object): a class's ``step`` attribute.

    Returns:
        tuple or None: ``(func, use_grad, hooked)``: the optimizer's own step, torch's ``_use_grad``
        and whether ``step`` is the profiling wrapper around it; None for any other ``step``.
    """
    hooked = bool(getattr(step, "hooked", False))
    use_grad = getattr(step, "__wrapped__", None) if hooked else step
    code = getattr(use_grad, "__code__", None)
    if (code is None or code.co_qualname != "_use_grad_for_differentiable.<locals>._use_grad"
            or code.co_freevars != ("func",)):
        return None
    return use_grad.__closure__[0].cell_contents, use_grad, hooked


def graph_module_with_lazy_code(root: dict, graph):
    """A ``torch.fx.GraphModule`` of ``graph`` whose Python code is generated when it is first
    needed (``.code``, ``str``, a call), not when it is built: a graph only read node by node (the
    angle programs' NumPy translation) never pays for it.

    Tested: torch 2.14.1, the private ``torch.fx._lazy_graph_module._LazyGraphModule`` (inductor's
    pattern graphs), a ``GraphModule`` whose ``recompile`` marks the code stale; its code is then
    ``GraphModule.recompile``'s. Without it, a plain ``GraphModule``.

    Args:
        root (dict): attribute name -> tensor (the graph's constants).
        graph (torch.fx.Graph): the graph.
    """
    try:
        from torch.fx._lazy_graph_module import _LazyGraphModule as module_class
    except ImportError:  # pragma: no cover - a torch without it
        from torch.fx import GraphModule as module_class
    return module_class(root, graph)


_COMPOSITE: dict = {}  # operation -> whether it has a CompositeImplicitAutograd kernel


def autograd_would_decompose(func, args: tuple, kwargs: dict) -> bool:
    """Whether ``func`` is a composite operation that autograd would have decomposed before a
    dispatch mode saw it.

    Tested: torch 2.14.1, ``OpOverload.has_kernel_for_dispatch_key`` and the private
    ``torch.utils._python_dispatch.autograd_would_have_decomposed``, which ``make_fx`` asks before
    it records an operation: under ``torch.inference_mode()`` autograd is skipped, and composite
    operations (``reshape``, ``matmul``) reach a dispatch mode undecomposed.
    ``func.decompose(*args, **kwargs)`` runs the decomposition.

    Args:
        func (torch._ops.OpOverload): the operation.
        args (tuple): its positional arguments.
        kwargs (dict): its keyword arguments.
    """
    composite = _COMPOSITE.get(func)
    if composite is None:
        import torch

        composite = _COMPOSITE[func] = func.has_kernel_for_dispatch_key(
            torch._C.DispatchKey.CompositeImplicitAutograd)
    if not composite:
        return False
    import torch.utils._pytree as pytree
    from torch.utils._python_dispatch import autograd_would_have_decomposed

    return autograd_would_have_decomposed(func, pytree.tree_leaves((args, kwargs)))


_WRITTEN: dict = {}  # operation -> the arguments it writes into


def written_arguments(func) -> tuple:
    """The arguments an ATen operation writes into: ``self`` of an in-place operation (``add_``),
    ``out`` of an ``out=`` overload.

    Tested: torch 2.14.1, the private ``OpOverload._schema`` (a ``torch._C.FunctionSchema``), whose
    arguments' ``alias_info.is_write`` marks them.

    Args:
        func (torch._ops.OpOverload): the operation.

    Returns:
        tuple[tuple[int, str]]: the position and name of each argument written into (a keyword-only
        argument's position is past the positional arguments).
    """
    written = _WRITTEN.get(func)
    if written is None:
        written = _WRITTEN[func] = tuple(
            (i, a.name) for i, a in enumerate(func._schema.arguments)  # pylint: disable=protected-access
            if a.alias_info is not None and a.alias_info.is_write)
    return written


def qiskit_ml_gradient_circuit(circuit) -> tuple:
    """The circuit qiskit-machine-learning's parameter-shift gradients shift, and how its parameters
    map to ``circuit``'s: every gate angle a parameter of its own.

    Tested: qiskit-machine-learning 0.9.1, where ``ParamShiftEstimatorGradient`` and
    ``ParamShiftSamplerGradient`` translate a circuit to their ``SUPPORTED_GATES`` with Qiskit's
    ``TranslateParameterizedGates`` and give each angle a parameter ``__gθ<k>`` with the private
    ``gradients.utils._assign_unique_parameters`` (which the order of their primitive calls follows).

    Args:
        circuit (QuantumCircuit): a parameterized circuit (left unchanged).

    Returns:
        tuple: the gradient circuit, ``{parameter: [(gate parameter, coefficient), ...]}`` (the
        coefficient a number or a ``ParameterExpression`` of ``circuit``'s parameters), and
        ``{gate parameter: its angle as an expression of circuit's parameters}``.
    """
    from qiskit.transpiler.passes import TranslateParameterizedGates
    from qiskit_machine_learning.gradients import ParamShiftEstimatorGradient
    from qiskit_machine_learning.gradients.utils import _assign_unique_parameters

    translated = TranslateParameterizedGates(ParamShiftEstimatorGradient.SUPPORTED_GATES)(circuit.copy())
    unique = _assign_unique_parameters(translated)
    return unique.gradient_circuit, dict(unique.parameter_map), dict(unique.gradient_parameter_map)
