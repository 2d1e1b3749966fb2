"""Tracing a function of tensors into an ATen graph, with the refusal engines hand over on.

:func:`record` runs the function once on the given tensors, under a dispatch mode that records
every ATen operation it reaches into a :class:`Recording`: a list of plain nodes, the graph
``make_fx(fn, tracing_mode="real")`` builds, node for node, without ``make_fx``'s first use, which
imports ``torch._dynamo`` and ``torch._inductor`` (about a second), and without building a
``torch.fx`` graph (half of a trace's cost at 12 qubits): the angle programs only read the nodes.
:func:`trace` returns the same graph as a ``torch.fx.GraphModule``. The recorder costs some
microseconds per operation.

1. The arguments become placeholders, named as ``make_fx`` names them (``x_1`` for a parameter
   ``x``, ``arg0_1`` where the signature does not say).
2. Every operation becomes a ``call_function`` node of its ``OpOverload``, then runs on the real
   tensors. Its tensor arguments are the nodes that computed them; a tensor from outside (a
   simulator's table, ``torch.as_tensor`` of an array) is a constant, a ``get_attr`` node of
   ``_tensor_constant<i>`` per use; Python numbers, lists, dtypes and devices are written into the
   node. A factory operation (``torch.zeros``) is a node like any other, and an operation returning
   several tensors is followed by one ``operator.getitem`` node per tensor.
3. As in ``make_fx``: ``detach`` is recorded (and run) as ``alias``, ``lift_fresh``
   (``torch.tensor``) as ``lift_fresh_copy``; a composite operation that autograd would have
   decomposed (under ``torch.inference_mode()``) is decomposed; an operation that reads a value
   (``.item()``, ``bool(t)``, ``torch.equal``) of a tensor computed from the arguments raises
   :class:`~qnn_torch.engines.errors.EngineUnavailable` (data-dependent control flow), and one of
   tensors whose values are known constants (``make_fx``'s constant propagation: one-element
   tensors from ``torch.tensor`` and what is computed from them alone) runs unrecorded.
4. Every node knows its value's shape, strides and dtype (:mod:`~qnn_torch.engines.numpy_codegen`
   reads the shapes); in the graph module, they are its ``meta["val"]``, a tensor on the ``meta``
   device.
5. The graph module generates its Python code when it is first called or its ``code`` read
   (``torch.fx`` writes it at once, a third of the module's cost).

What the recorder does not follow it refuses, and :func:`record` gives that function to
``make_fx`` instead (the same graph as before, at the cost of the import): an operation whose
output shape depends on values (``nonzero``, indexing by a boolean mask), a tensor subclass, an
argument or result of another kind, an in-place write into a constant's memory, an output that is
not a tensor or a list or tuple of tensors, and a refusal the function caught itself.
"""

from __future__ import annotations

import inspect
import logging
import operator
import weakref
from typing import Callable

import torch

from .._compat import (aten_interceptor, autograd_would_decompose, graph_module_with_lazy_code,
                       written_arguments)
from .errors import EngineUnavailable

__all__ = ["Node", "Recording", "record", "trace"]

_LOG = logging.getLogger(__name__)
_ATEN = torch.ops.aten
_TENSOR_TYPES = (torch.Tensor, torch.nn.Parameter)  # exact types: subclasses go to make_fx
_LITERALS = (bool, int, float, complex, str, type(None), torch.dtype, torch.device, torch.layout,
             torch.memory_format)
_RECORDED_AS = {_ATEN.detach.default: _ATEN.alias.default,  # make_fx's default decomposition
                _ATEN.lift_fresh.default: _ATEN.lift_fresh_copy.default}  # a copy: constants stay fresh
_SHAPE_QUERIES = (_ATEN.size.default, _ATEN.stride.default, _ATEN.storage_offset.default)
_CONSTANT_NUMEL = 1  # make_fx's CONSTANT_NUMEL_LIMIT: the largest tensor whose value is propagated


class _Untraceable(Exception):
    """A construct the recorder does not follow: :func:`record` and :func:`trace` hand the function
    to ``make_fx``."""


class Node:
    """One node of a :class:`Recording`: what a ``torch.fx.Node`` says of it, without the graph.

    Attributes:
        op (str): ``"placeholder"``, ``"get_attr"``, ``"call_function"`` or ``"output"``.
        target: a placeholder's name, a constant's attribute name, the operation
            (``torch.ops.aten.mul.Tensor``, ``operator.getitem``) or ``"output"``.
        args (tuple): the arguments, with nodes in place of the tensors they computed.
        kwargs (dict): the keyword arguments, alike.
        val (tuple or None): the value's ``(shape, stride, dtype)``; None for the output and for
            an operation returning several tensors (its ``getitem`` nodes have theirs).
    """

    __slots__ = ("op", "target", "args", "kwargs", "val")

    def __init__(self, op: str, target, args: tuple = (), kwargs: dict | None = None,
                 val: tuple | None = None):
        self.op, self.target, self.args, self.kwargs, self.val = op, target, args, kwargs or {}, val

    @property
    def shape(self) -> tuple:
        """The value's shape."""
        return self.val[0]

    def __repr__(self) -> str:
        return f"Node({self.op}, {self.target})"


class Recording:
    """A traced function as a list of :class:`Node`, in execution order, and its constants.

    Args:
        nodes (list[Node]): the placeholders (one per argument) first, the output last.
        constants (dict): attribute name (``_tensor_constant<i>``) -> tensor, the targets of the
            ``get_attr`` nodes.
    """

    def __init__(self, nodes: list, constants: dict):
        self.nodes, self.constants = nodes, constants

    @property
    def placeholders(self) -> list:
        """The argument nodes, in order."""
        return [node for node in self.nodes if node.op == "placeholder"]

    def graph_module(self) -> torch.fx.GraphModule:
        """The recording as the ``torch.fx.GraphModule`` ``make_fx`` builds (names, ``meta["val"]``)."""
        graph = torch.fx.Graph()
        built: dict = {}

        def mapped(a):
            return _map_nodes(a, Node, built)

        for node in self.nodes:
            if node.op == "placeholder":
                made = graph.placeholder(node.target)
            elif node.op == "get_attr":
                made = graph.get_attr(node.target)
            elif node.op == "call_function":
                name = "getitem" if node.target is operator.getitem else _node_name(node.target)
                made = graph.create_node("call_function", node.target, mapped(node.args), mapped(node.kwargs),
                                         name=name)
            else:
                graph.output(mapped(node.args[0]))
                continue
            if node.val is not None:  # (an operation returning several tensors has none)
                shape, stride, dtype = node.val
                made.meta["val"] = torch.empty_strided(shape, stride, dtype=dtype, device="meta")
            built[node] = made
        return graph_module_with_lazy_code(self.constants, graph)

    @classmethod
    def of_graph_module(cls, module: torch.fx.GraphModule) -> "Recording":
        """The recording of a ``make_fx`` graph (its nodes' ``meta["val"]`` give the shapes)."""
        nodes, made, constants = [], {}, {}

        def mapped(a):
            return _map_nodes(a, torch.fx.Node, made)

        for fx_node in module.graph.nodes:
            target = fx_node.name if fx_node.op == "placeholder" else fx_node.target
            val = fx_node.meta.get("val")
            val = _val(val) if isinstance(val, torch.Tensor) else None
            node = Node(fx_node.op, target, mapped(fx_node.args), mapped(dict(fx_node.kwargs)), val)
            if fx_node.op == "get_attr":
                constants[fx_node.target] = getattr(module, fx_node.target)
            made[fx_node] = node
            nodes.append(node)
        return cls(nodes, constants)


def _map_nodes(a, node_type: type, table: dict):
    """``a`` (nested lists, tuples and dicts) with every node of ``node_type`` replaced by
    ``table[node]``."""
    if isinstance(a, node_type):
        return table[a]
    if isinstance(a, (list, tuple)):
        return type(a)(_map_nodes(b, node_type, table) for b in a)
    if isinstance(a, dict):
        return {k: _map_nodes(v, node_type, table) for k, v in a.items()}
    return a


def record(fn: Callable, *args: torch.Tensor) -> Recording:
    """The ATen graph of ``fn`` on tensors shaped as ``args``, as a :class:`Recording`: the graph
    ``make_fx(fn)(*args)`` returns.

    Args:
        fn (Callable): a function of tensors returning a tensor or a list or tuple of tensors.
        *args (torch.Tensor): the tensors to run it on (once).

    Returns:
        Recording: the graph's nodes.

    Raises:
        EngineUnavailable: for a function whose operations depend on tensor *values*
            (data-dependent Python control flow, which tracing cannot follow).

    Example:
        >>> recording = record(lambda x: torch.sin(x) * 2, torch.ones(2))
        >>> [str(node.target) for node in recording.nodes if node.op == "call_function"]
        ['aten.sin.default', 'aten.mul.Tensor']
    """
    try:
        return _Recorder(fn, args).run()
    except _Untraceable as why:
        _LOG.debug("make_fx traces %r: %s", fn, why)
        return Recording.of_graph_module(_make_fx(fn, args))


def trace(fn: Callable, *args: torch.Tensor) -> torch.fx.GraphModule:
    """The ATen graph of ``fn`` on tensors shaped as ``args``: what ``make_fx(fn)(*args)`` returns.

    Args:
        fn (Callable): a function of tensors returning a tensor or a list or tuple of tensors.
        *args (torch.Tensor): the tensors to run it on (once).

    Returns:
        torch.fx.GraphModule: the graph, called as ``fn`` is.

    Raises:
        EngineUnavailable: for a function whose operations depend on tensor *values*
            (data-dependent Python control flow, which tracing cannot follow).

    Example:
        >>> graph = trace(lambda x: torch.sin(x) * 2, torch.ones(2))
        >>> [str(node.target) for node in graph.graph.nodes if node.op == "call_function"]
        ['aten.sin.default', 'aten.mul.Tensor']
        >>> graph(torch.zeros(2))
        tensor([0., 0.])
    """
    try:
        return _Recorder(fn, args).run().graph_module()
    except _Untraceable as why:
        _LOG.debug("make_fx traces %r: %s", fn, why)
        return _make_fx(fn, args)


def _make_fx(fn: Callable, args: tuple) -> torch.fx.GraphModule:
    """``make_fx(fn)(*args)``, with the data-dependent refusal as :class:`EngineUnavailable`."""
    from torch.fx.experimental.proxy_tensor import make_fx  # its first call imports torch._dynamo

    try:
        return make_fx(fn, tracing_mode="real")(*args)
    except RuntimeError as err:
        if isinstance(err, EngineUnavailable) or "data-dependent" not in str(err):
            raise
        raise EngineUnavailable(f"{type(err).__name__}: {err}") from err


def placeholder_names(fn: Callable, count: int) -> list[str]:
    """The names ``make_fx`` gives the placeholders of ``fn``'s ``count`` arguments: a parameter's
    name and ``_1`` for a function with a signature of positional parameters, else ``arg<i>_1``."""
    unwrapped = inspect.unwrap(fn)
    code = getattr(unwrapped, "__code__", None)
    if code is None or code.co_flags & inspect.CO_VARARGS:
        return [f"arg{i}_1" for i in range(count)]
    names = list(code.co_varnames[:code.co_argcount])
    if inspect.ismethod(unwrapped):
        names = names[1:]
    return [f"{name}_1" for name in names[:count]]


def _val(t: torch.Tensor) -> tuple:
    """What a node keeps of its value ``t``: ``(shape, stride, dtype)``."""
    return tuple(t.shape), t.stride(), t.dtype


def _node_name(func) -> str:
    """``make_fx``'s name of a node of ``func``: its operation's name (``mul``, ``and`` for
    ``__and__``); the graph numbers repeats (``mul_1``)."""
    name = func.overloadpacket.__name__
    return name[2:-2] if name.startswith("__") and name.endswith("__") else name


def _flat_tensors(a, found: list) -> list:
    """The tensors in ``a`` (nested lists, tuples and dicts), appended to ``found``.

    Raises:
        _Untraceable: for a tensor subclass or a value that is neither a tensor nor a literal.
    """
    if isinstance(a, torch.Tensor):
        if type(a) not in _TENSOR_TYPES:
            raise _Untraceable(f"a tensor of type {type(a).__name__}")
        found.append(a)
    elif isinstance(a, (list, tuple)):
        for b in a:
            _flat_tensors(b, found)
    elif isinstance(a, dict):
        for b in a.values():
            _flat_tensors(b, found)
    elif not isinstance(a, _LITERALS):
        raise _Untraceable(f"an argument of type {type(a).__name__}")
    return found


class _Recorder:
    """One trace: the graph, which node computed each tensor, the constants (see the module)."""

    def __init__(self, fn: Callable, args: tuple):
        self.fn, self.args = fn, args
        self.nodes: list = []
        # id(tensor) -> (weak reference to it, its node, whether its value is a known constant):
        # an entry whose tensor died (its id reused) is stale, and the states of a traced
        # simulation are freed as they would be untraced
        self.computed: dict = {}
        self.constants: dict = {}  # attribute name -> tensor
        self.constant_names: dict = {}  # id(tensor) -> attribute name (the tensors are held above)
        self.refusal: BaseException | None = None  # the first one, even if the function caught it
        self.mode = aten_interceptor(self._intercept)

    def run(self) -> Recording:
        """Record ``fn(*args)``."""
        names = placeholder_names(self.fn, len(self.args))
        if len(names) != len(self.args):
            raise _Untraceable("more arguments than parameters")
        for name, arg in zip(names, self.args):
            if type(arg) not in _TENSOR_TYPES:
                raise _Untraceable(f"an argument of type {type(arg).__name__}")
            self._track(arg, self._node("placeholder", name), False)
        try:
            with self.mode:
                out = self.fn(*self.args)
        except BaseException as err:
            if self.refusal is None or err is self.refusal:
                raise
            raise _Untraceable(f"the function caught a refusal ({self.refusal}), "
                               f"then raised {err!r}") from err
        if self.refusal is not None:
            raise _Untraceable(f"the function caught a refusal: {self.refusal}")
        self.nodes.append(Node("output", "output", (self._output(out),)))
        return Recording(self.nodes, self.constants)

    def _node(self, op: str, target, args: tuple = (), kwargs: dict | None = None) -> Node:
        node = Node(op, target, args, kwargs)
        self.nodes.append(node)
        return node

    def _output(self, out):
        """The output node's argument: the node of each returned tensor."""
        if isinstance(out, (list, tuple)):
            if not all(isinstance(o, torch.Tensor) for o in out):
                raise _Untraceable("an output that is not a tensor or a list or tuple of tensors")
            _flat_tensors(out, [])
            return type(out)(self._argument(o) for o in out)
        if not isinstance(out, torch.Tensor):
            raise _Untraceable(f"an output of type {type(out).__name__}")
        _flat_tensors(out, [])
        return self._argument(out)

    def _entry(self, t: torch.Tensor) -> tuple | None:
        """``(reference, node, known)`` of a tensor the trace computed, or None."""
        entry = self.computed.get(id(t))
        return entry if entry is not None and entry[0]() is t else None

    def _track(self, t: torch.Tensor, node: Node, known: bool) -> None:
        self.computed[id(t)] = (weakref.ref(t), node, known)
        node.val = _val(t)

    def _intercept(self, func, args: tuple, kwargs: dict):
        try:
            return self._record(func, args, kwargs)
        except (EngineUnavailable, _Untraceable) as refusal:
            if self.refusal is None:
                self.refusal = refusal
            raise

    def _record(self, func, args: tuple, kwargs: dict):
        """Record one operation and run it (step 2 and 3 of the module)."""
        func = _RECORDED_AS.get(func, func)
        tensors = _flat_tensors((args, kwargs), [])
        if func not in _SHAPE_QUERIES and autograd_would_decompose(func, args, kwargs):
            with self.mode:
                result = func.decompose(*args, **kwargs)
            if result is not NotImplemented:
                return result
        entries = [self._entry(t) for t in tensors]
        tags = func.tags
        if torch.Tag.data_dependent_output in tags:
            if all(entry is None or entry[2] for entry in entries):
                return func(*args, **kwargs)  # constants only: make_fx computes it unrecorded too
            raise EngineUnavailable(f"{func} reads the value of a traced tensor: data-dependent control "
                                    "flow (a value deciding which operations run) cannot be traced")
        if torch.Tag.dynamic_output_shape in tags and not _static_index(func, args):
            raise _Untraceable(f"{func}'s output shape depends on values")
        self._refuse_writes_into_constants(func, args, kwargs)
        node = self._node("call_function", func, self._argument(args), self._argument(kwargs))
        out = func(*args, **kwargs)
        self._track_output(func, out, node, entries)
        return out

    def _argument(self, a):
        """``a`` as a node argument: tensors as their nodes, or as constants (``get_attr``)."""
        if isinstance(a, torch.Tensor):
            entry = self._entry(a)
            return entry[1] if entry is not None else self._constant(a)
        if isinstance(a, (list, tuple)):
            return type(a)(self._argument(b) for b in a)
        if isinstance(a, dict):
            return {k: self._argument(v) for k, v in a.items()}
        return a

    def _constant(self, t: torch.Tensor) -> Node:
        """A ``get_attr`` node of the constant ``t`` (one attribute per tensor, one node per use)."""
        name = self.constant_names.get(id(t))
        if name is None:
            name = f"_tensor_constant{len(self.constants)}"
            self.constants[name] = t
            self.constant_names[id(t)] = name
        node = self._node("get_attr", name)
        node.val = _val(t)
        return node

    def _track_output(self, func, out, node: Node, entries: list) -> None:
        """Map the tensors ``func`` returned to ``node`` (one ``getitem`` node each for several)."""
        known = _propagates_constant(func, out, entries)
        if isinstance(out, torch.Tensor):
            self._track(out, node, known)
        elif isinstance(out, (list, tuple)) and all(isinstance(o, torch.Tensor) for o in out):
            for i, item in enumerate(out):
                getitem = self._node("call_function", operator.getitem, (node, i))
                self._track(item, getitem, known)
        else:
            raise _Untraceable(f"{func} returned a {type(out).__name__}")

    def _refuse_writes_into_constants(self, func, args: tuple, kwargs: dict) -> None:
        """An in-place write into a constant's memory would change the graph's constant on every
        replay: refused."""
        for position, name in written_arguments(func):
            value = args[position] if position < len(args) else kwargs.get(name)
            for t in _flat_tensors(value, []):
                if t.device.type == "meta":
                    continue
                storage = t.untyped_storage().data_ptr()
                if self._entry(t) is None or any(
                        c.device == t.device and c.untyped_storage().data_ptr() == storage
                        for c in self.constants.values()):
                    raise _Untraceable(f"{func} writes into a tensor from outside the function")


def _static_index(func, args: tuple) -> bool:
    """Whether ``aten.index.Tensor`` indexes by integers only (its output shape then depends on
    shapes alone; a boolean mask's does not)."""
    if func is not _ATEN.index.Tensor:
        return False
    return all(i is None or i.dtype not in (torch.bool, torch.uint8) for i in args[1])


def _propagates_constant(func, out, entries: list) -> bool:
    """``make_fx``'s constant propagation: whether the value of ``out`` counts as a known constant
    (a one-element ``torch.tensor``, or one element computed from such constants alone)."""
    outs = out if isinstance(out, (list, tuple)) else [out]
    small = all(o.numel() <= _CONSTANT_NUMEL for o in outs if isinstance(o, torch.Tensor))
    if func is _ATEN.lift_fresh_copy.default:
        return small
    tracked = [entry for entry in entries if entry is not None]
    return (torch.Tag.nondeterministic_seeded not in func.tags and all(known for _, _, known in tracked)
            and any(known for _, _, known in tracked) and small)
