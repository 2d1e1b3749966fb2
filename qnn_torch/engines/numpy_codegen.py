"""NumPy code generated from a traced ATen graph, with forward-mode derivatives.

The gate angles of a QNN are small expressions of its inputs and weights (``2 * x0``,
``2 * (pi - x0) * (pi - x1)``, ``w3``), written by the templates in torch. Traced once
(:func:`~qnn_torch.engines.tracing.record`, or ``make_fx``), they are an ATen graph;
:func:`numpy_program` generates a NumPy function from the graph that returns the angles and,
optionally, their derivatives with respect to every input and weight (forward mode: each value
carries a trailing axis of tangents). Repeated sub-expressions are computed once and operations on
constants are folded when the program is generated.

Only the elementwise and shape operations that such expressions use are supported; anything
else raises :class:`UnsupportedGraph` (an :class:`~qnn_torch.engines.errors.EngineUnavailable`) and
the engine hands over. (``detach`` is traced as an alias, so it is invisible here, as it is to
any replay of a ``make_fx`` graph.)
"""

from __future__ import annotations

import keyword
import re
from typing import Callable

import numpy as np
import torch

from .errors import EngineUnavailable
from .tracing import Node, Recording

__all__ = ["UnsupportedGraph", "numpy_program"]


class UnsupportedGraph(EngineUnavailable):
    """The traced graph uses an operation that has no NumPy translation here."""


# unary operations: name -> (value expression, derivative expression), ``{a}`` is the argument
_UNARY = {
    "neg": ("-{a}", "-1.0"),
    "cos": ("np.cos({a})", "-np.sin({a})"),
    "sin": ("np.sin({a})", "np.cos({a})"),
    "tan": ("np.tan({a})", "1.0 / np.cos({a}) ** 2"),
    "exp": ("np.exp({a})", "np.exp({a})"),
    "log": ("np.log({a})", "1.0 / {a}"),
    "sqrt": ("np.sqrt({a})", "0.5 / np.sqrt({a})"),
    "rsqrt": ("1.0 / np.sqrt({a})", "-0.5 * {a} ** -1.5"),
    "reciprocal": ("1.0 / {a}", "-1.0 / {a} ** 2"),
    "tanh": ("np.tanh({a})", "1.0 - np.tanh({a}) ** 2"),
    "sinh": ("np.sinh({a})", "np.cosh({a})"),
    "cosh": ("np.cosh({a})", "np.sinh({a})"),
    "sigmoid": ("1.0 / (1.0 + np.exp(-{a}))", "np.exp(-{a}) / (1.0 + np.exp(-{a})) ** 2"),
    "acos": ("np.arccos({a})", "-1.0 / np.sqrt(1.0 - {a} ** 2)"),
    "asin": ("np.arcsin({a})", "1.0 / np.sqrt(1.0 - {a} ** 2)"),
    "atan": ("np.arctan({a})", "1.0 / (1.0 + {a} ** 2)"),
    "abs": ("np.abs({a})", "np.sign({a})"),
}
_ALIASES = {"alias", "clone", "lift_fresh_copy", "contiguous", "view_as", "_to_copy", "detach",
            "_conj", "resolve_conj", "resolve_neg"}
_REAL_DTYPES = (None, torch.float64, torch.float32, torch.float16, torch.bfloat16)


_NAMESPACE = {"np": np, "inf": np.inf, "nan": np.nan}
"""dict: the generated code's own names."""


def _op_name(node) -> str:
    """``aten.mul.Tensor`` -> ``mul``."""
    parts = str(node.target).split(".")
    return parts[1] if len(parts) > 1 else parts[0]


class _Writer:
    """Generates the body of the NumPy function, one statement per surviving node."""

    def __init__(self, tangents: int | None):
        self.tangents = tangents  # number of tangent directions, or None for values only
        self.lines: list[str] = []
        # ``repr`` writes non-finite floats as the names ``inf`` and ``nan``: they are defined here
        self.namespace: dict = dict(_NAMESPACE)
        self.value: dict = {}  # node -> expression of its value (a name or a literal)
        self.tangent: dict = {}  # node -> expression of its tangent, or None (zero)
        self.const: dict = {}  # node -> numpy constant (folded)
        self.shape: dict = {}
        self._cse: dict = {}
        self._count = 0

    # ------------------------------------------------------------ helpers

    def name(self, prefix="v") -> str:
        self._count += 1
        return f"{prefix}{self._count}"

    def constant(self, array) -> str:
        key = f"c{self._count}"
        self._count += 1
        self.namespace[key] = array
        return key

    def emit(self, expression: str, prefix="v") -> str:
        """Assign ``expression`` to a fresh name (reusing an identical earlier one); an
        expression of constants only is evaluated now and becomes a constant."""
        known = self._cse.get(expression)
        if known is not None:
            return known
        names = set(re.findall(r"(?<![.\w])[A-Za-z_]\w*", expression)) - {"None"}
        if all(name in self.namespace for name in names):
            target = self.constant(np.asarray(eval(expression, self.namespace)))  # noqa: S307
            self._cse[expression] = target
            return target
        target = self.name(prefix)
        self.lines.append(f"{target} = {expression}")
        self._cse[expression] = target
        return target

    def arg(self, a) -> str:
        """The value expression of a node argument or literal."""
        if isinstance(a, Node):
            if a in self.const:
                return self.constant(self.const[a])
            return self.value[a]
        if isinstance(a, (bool, int, float)):
            return repr(float(a)) if isinstance(a, float) else repr(a)
        raise UnsupportedGraph(f"argument {a!r} of type {type(a).__name__}")

    def t(self, a):
        return self.tangent.get(a) if isinstance(a, Node) else None

    def zeros(self, shape) -> str:
        return self.constant(np.zeros(tuple(shape)))

    def broadcast(self, tangent: str, node, sources=None) -> str:
        """``tangent`` with the full shape ``value.shape + (T,)`` (a no-op when its sources
        already have the node's shape)."""
        shape = tuple(self.shape[node])
        sources = sources if sources is not None else []
        if sources and all(tuple(self.shape[s]) == shape for s in sources):
            return tangent
        return self.emit(f"{tangent} + {self.zeros(shape + (self.tangents,))}", "t")

    def zeros_tangent(self, node) -> str:
        return self.constant(np.zeros(tuple(self.shape[node]) + (self.tangents,)))

    @staticmethod
    def index(dim: int, item: str) -> str:
        """``[:, :, item]`` with ``item`` on axis ``dim``."""
        return "[" + ", ".join([":"] * dim + [item]) + "]"


def _norm(dim: int, ndim: int) -> int:
    return dim + ndim if dim < 0 else dim


def _fold(node, writer: _Writer):
    """Evaluate a node whose arguments are all constants, in torch, while generating the program."""

    def conv(a):
        if isinstance(a, Node):
            return torch.as_tensor(writer.const[a])
        if isinstance(a, (list, tuple)):
            return type(a)(conv(b) for b in a)
        return a

    result = node.target(*conv(node.args), **{k: conv(v) for k, v in node.kwargs.items()})
    if not isinstance(result, torch.Tensor):
        raise UnsupportedGraph(f"{node.target} returned {type(result).__name__}")
    return result.detach().numpy().copy()


def _is_constant(node, writer) -> bool:
    args = list(node.args) + list(node.kwargs.values())
    flat = []
    for a in args:
        flat.extend(a if isinstance(a, (list, tuple)) else [a])
    return all(a in writer.const for a in flat if isinstance(a, Node))


# ---------------------------------------------------------------- translation rules
#
# One rule per family of ATen operations. A rule gets the node, the writer and the operation's
# name and returns the expressions of the node's value and tangent (None: zero or not wanted).


def _alias(node, w: _Writer, name: str):
    """Copies, casts to real dtypes and ``detach``: the argument itself."""
    a = node.args[0]
    dtype = node.kwargs.get("dtype")
    if name == "_to_copy" and dtype not in _REAL_DTYPES:
        raise UnsupportedGraph(f"cast to {dtype}")
    return w.value[a], None if name == "detach" else w.t(a)


def _reshape(node, w: _Writer, name: str):
    a, shape = node.args[0], tuple(w.shape[node])
    ta = w.t(a)
    if tuple(w.shape[a]) == shape:
        return w.value[a], ta
    value = w.emit(f"{w.value[a]}.reshape({shape!r})")
    return value, ta and w.emit(f"{ta}.reshape({shape + (w.tangents,)!r})", "t")


def _expand_rule(node, w: _Writer, name: str):
    a, shape = node.args[0], tuple(w.shape[node])
    ta = w.t(a)
    if tuple(w.shape[a]) == shape:
        return w.value[a], ta
    value = w.emit(f"{w.value[a]} + {w.zeros(shape)}")  # adding zeros broadcasts, and fast
    return value, ta and w.broadcast(ta, node)


def _index_item(node, w: _Writer, name: str) -> str:
    """The NumPy index expression of ``select``, ``slice``, ``unsqueeze`` or ``squeeze``."""
    a, args = node.args[0], node.args
    ndim = len(w.shape[a])
    if name == "select":
        return w.index(_norm(args[1], ndim), str(int(args[2])))
    if name == "slice":
        dim = _norm(args[1] if len(args) > 1 else 0, ndim)
        start, end, step = (list(args[2:5]) + [None, None, None])[:3]
        start = 0 if start is None else start
        end = "" if end is None or end >= 2**62 else end
        return w.index(dim, f"{start}:{end}:{1 if step is None else step}")
    if name == "unsqueeze":
        return w.index(_norm(args[1], ndim + 1), "None")
    dims = args[1] if len(args) > 1 else [i for i, s in enumerate(w.shape[a]) if s == 1]
    dims = [dims] if isinstance(dims, int) else dims
    dims = sorted(_norm(d, ndim) for d in dims if w.shape[a][_norm(d, ndim)] == 1)
    parts = [":"] * ndim
    for d in dims:
        parts[d] = "0"
    return "[" + ", ".join(parts) + "]"


def _index(node, w: _Writer, name: str):
    a = node.args[0]
    item = _index_item(node, w, name)
    ta = w.t(a)
    return w.emit(f"{w.value[a]}{item}"), ta and w.emit(f"{ta}{item}", "t")


def _take(node, w: _Writer, name: str):
    """``index.Tensor`` by one constant integer tensor on one axis (``x[..., [0, 2, 2]]``, as a
    template gathers the features of its blocks): ``np.take`` along that axis."""
    a, indices = node.args[0], list(node.args[1])
    axes = [d for d, i in enumerate(indices) if i is not None]
    index = indices[axes[0]] if len(axes) == 1 else None
    # (torch reads a uint8 or bool index as a mask)
    if not isinstance(index, Node) or index not in w.const or w.const[index].dtype.kind != "i":
        raise UnsupportedGraph("index by anything but one constant integer tensor")
    positions, ta = w.constant(w.const[index]), w.t(a)
    take = f"np.take({{}}, {positions}, axis={axes[0]})"
    return w.emit(take.format(w.value[a])), ta and w.emit(take.format(ta), "t")


def _permute(node, w: _Writer, name: str):
    a, args = node.args[0], node.args
    ndim = len(w.shape[a])
    if name == "permute":
        dims = [_norm(d, ndim) for d in args[1]]
    else:
        dims = list(range(ndim))
        i, j = (0, 1) if name == "t" else (_norm(args[1], ndim), _norm(args[2], ndim))
        dims[i], dims[j] = dims[j], dims[i]
    ta = w.t(a)
    if dims == list(range(ndim)):
        return w.value[a], ta
    value = w.emit(f"{w.value[a]}.transpose({tuple(dims)!r})")
    return value, ta and w.emit(f"{ta}.transpose({tuple(dims + [ndim])!r})", "t")


def _join(node, w: _Writer, name: str):
    """``stack`` and ``cat``."""
    args = node.args
    items = list(args[0])
    ndim = len(w.shape[node])
    dim = _norm(args[1] if len(args) > 1 else node.kwargs.get("dim", 0), ndim)

    def join(parts, ndim):
        if name == "cat":
            return f"np.concatenate([{', '.join(parts)}], axis={dim})"
        # np.array stacks along a new first axis, much faster than np.stack; then move it
        order = list(range(1, ndim))
        order.insert(dim, 0)
        moved = "" if dim == 0 else f".transpose({tuple(order)!r})"
        return f"np.array([{', '.join(parts)}]){moved}"

    value = w.emit(join([w.arg(i) for i in items], ndim))
    tangent = None
    if w.tangents is not None and any(w.t(i) is not None for i in items):
        parts = [w.t(i) or w.zeros_tangent(i) for i in items]
        tangent = w.emit(join(parts, ndim + 1), "t")
    return value, tangent


def _unary(node, w: _Writer, name: str):
    """Elementwise functions of one argument: :data:`_UNARY` and the chain rule."""
    a = node.args[0]
    value_fmt, deriv_fmt = _UNARY[name]
    va = w.value[a]
    value = w.emit(value_fmt.format(a=va))
    ta = w.t(a)
    deriv = deriv_fmt.format(a=va)
    deriv = deriv if "{a}" not in deriv_fmt else f"({deriv})[..., None]"  # a literal needs no new axis
    return value, ta and w.emit(f"{deriv} * {ta}", "t")


def _sum_or_difference(node, w: _Writer, name: str):
    """``add``, ``sub`` and ``rsub`` (with ``alpha``)."""
    a, b = node.args[0], node.args[1]
    alpha = node.kwargs.get("alpha", 1)
    if name == "rsub":
        a, b = b, a
    op = "+" if name == "add" else "-"
    va, vb = w.arg(a), w.arg(b)
    ta, tb = w.t(a), w.t(b)
    scaled_b = vb if alpha == 1 else f"{alpha!r} * {vb}"
    value = w.emit(f"{va} {op} {scaled_b}")
    if tb is not None and alpha != 1:
        tb = f"({alpha!r} * {tb})"
    if ta is None and tb is None:
        tangent = None
    elif tb is None:
        tangent = ta
    elif ta is None:
        tangent = tb if op == "+" else f"-{tb}"
    else:
        tangent = f"{ta} {op} {tb}"
    return value, _broadcast_tangent(node, w, tangent, a, b)


def _product_or_quotient(node, w: _Writer, name: str):
    """``mul`` and ``div``: d(a b) = da b + a db, d(a / b) = da / b - a / b**2 db."""
    a, b = node.args[0], node.args[1]
    va, vb = w.arg(a), w.arg(b)
    ta, tb = w.t(a), w.t(b)
    op = "*" if name == "mul" else "/"
    value = w.emit(f"{va} {op} {vb}")
    db = _expand(va, a) if name == "mul" else "-" + _expand(f"{va} / {vb} ** 2", a, b)
    terms = [f"{ta} {op} {_expand(vb, b)}"] if ta is not None else []
    if tb is not None:
        terms.append(f"{db} * {tb}")
    return value, _broadcast_tangent(node, w, " + ".join(terms) or None, a, b)


def _broadcast_tangent(node, w: _Writer, tangent: str | None, a, b) -> str | None:
    """A binary operation's tangent expression, emitted with the node's full shape."""
    if tangent is None:
        return None
    sources = [n for n in (a, b) if isinstance(n, Node)]
    return w.broadcast(w.emit(tangent, "t"), node, sources)


def _pow(node, w: _Writer, name: str):
    """``tensor ** constant``; a tensor exponent (``2 ** x``, ``x ** w``) by :func:`_exponential`."""
    base, exponent = node.args[0], node.args[1]
    if isinstance(exponent, Node):
        if exponent in w.const and w.const[exponent].ndim == 0:
            exponent = float(w.const[exponent])
        else:
            return _exponential(node, w, base, exponent)
    if not isinstance(base, Node):  # a scalar to a constant power: folded before it gets here
        raise UnsupportedGraph("pow of two scalars")
    vb = w.value[base]
    value = w.emit(f"{vb} ** {float(exponent)!r}")
    tb = w.t(base)
    deriv = f"({float(exponent)!r} * {vb} ** {float(exponent) - 1.0!r})[..., None]"
    return value, tb and w.emit(f"{deriv} * {tb}", "t")


def _exponential(node, w: _Writer, base, exponent):
    """``base ** exponent`` with a tensor exponent: d(a ** b) = b a ** (b - 1) da + a ** b log(a) db,
    as torch's derivatives have it: the first term zero where ``b == 0``, the second where ``a == 0``
    and ``b >= 0``, NaN where ``a < 0`` (the logarithms are taken where they are finite, so no
    NumPy warning). A term counts only in the directions its argument's tangent is nonzero in, as
    in a backward pass: ``(-2) ** b`` has a NaN derivative with respect to ``b``, which must not
    spread to the directions ``b`` does not depend on."""
    va, vb = w.arg(base), w.arg(exponent)
    value = w.emit(f"np.power({va}, {vb})")
    ta, tb = w.t(base), w.t(exponent)
    terms = []
    if ta is not None:
        derivative = f"{vb} * np.power(np.where({vb} == 0, 1.0, {va}), {vb} - 1.0)"
        terms.append(f"np.where({ta} == 0, 0.0, {_expand(derivative, base, exponent)} * {ta})")
    if tb is not None:
        log = (f"(np.log(np.where({va} > 0, {va}, 1.0)) "
               f"+ np.where({va} < 0, nan, np.where(({va} == 0) & ({vb} < 0), -inf, 0.0)))")
        terms.append(f"np.where({tb} == 0, 0.0, {_expand(f'{value} * {log}', base, exponent)} * {tb})")
    return value, _broadcast_tangent(node, w, " + ".join(terms) or None, base, exponent)


def _sum(node, w: _Writer, name: str):
    args = node.args
    if not args:
        raise UnsupportedGraph(f"operation {node.target} is not supported")
    a = args[0]
    dims = args[1] if len(args) > 1 else None
    keepdim = args[2] if len(args) > 2 else node.kwargs.get("keepdim", False)
    ndim = len(w.shape[a])
    axes = tuple(range(ndim)) if not dims else tuple(_norm(d, ndim) for d in dims)
    value = w.emit(f"np.sum({w.value[a]}, axis={axes!r}, keepdims={bool(keepdim)})")
    ta = w.t(a)
    return value, ta and w.emit(f"np.sum({ta}, axis={axes!r}, keepdims={bool(keepdim)})", "t")


_RULES: dict[str, Callable] = {
    **{name: _alias for name in _ALIASES},
    **{name: _reshape for name in ("view", "_unsafe_view", "reshape")},
    "expand": _expand_rule,
    **{name: _index for name in ("select", "slice", "unsqueeze", "squeeze")},
    "index": _take,
    **{name: _permute for name in ("permute", "t", "transpose")},
    **{name: _join for name in ("stack", "cat")},
    **{name: _unary for name in _UNARY},
    **{name: _sum_or_difference for name in ("add", "sub", "rsub")},
    **{name: _product_or_quotient for name in ("mul", "div")},
    "pow": _pow,
    "sum": _sum,
}
"""dict: ATen operation name -> the rule that translates it."""


def _translate(node, w: _Writer) -> None:
    """Emit the value (and tangent) of one call_function node by its operation's rule."""
    rule = _RULES.get(_op_name(node))
    if rule is None:
        raise UnsupportedGraph(f"operation {node.target} is not supported")
    value, tangent = rule(node, w, _op_name(node))
    w.value[node] = value
    w.tangent[node] = tangent if w.tangents is not None else None


def _expand(expr: str, *nodes) -> str:
    """``expr`` with a trailing axis, so that it broadcasts against a tangent."""
    if all(not isinstance(n, Node) for n in nodes):
        return expr  # a Python scalar
    return f"({expr})[..., None]"


def numpy_program(graph: Recording | torch.fx.GraphModule, tangents: bool) -> Callable:
    """Generate ``fn(*inputs) -> value`` or ``-> (value, tangent)`` from a traced graph.

    Args:
        graph (Recording or torch.fx.GraphModule): a graph with one tensor output:
            :func:`~.tracing.record`'s, or a ``make_fx`` graph.
        tangents (bool): also return the derivatives of the output with respect to every
            column (last-axis element) of every input, as a trailing axis: inputs of shapes
            ``(B, I)`` and ``(P,)`` give tangents of shape ``output.shape + (I + P,)``. The
            leading axes are taken as independent samples (a batch): entry ``[b, ..., i]`` is
            the derivative of sample ``b``'s output with respect to sample ``b``'s column ``i``.

    Raises:
        UnsupportedGraph: if an operation has no translation.
    """
    if isinstance(graph, torch.fx.GraphModule):
        graph = Recording.of_graph_module(graph)
    placeholders = graph.placeholders
    w = _seed(graph, placeholders, tangents)
    output = _translate_graph(graph, w)
    return _generate(w, placeholders, output, tangents)


def _parameter_names(placeholders: list) -> list[str]:
    """The program's parameters: the placeholders' names (``x_1``) where they are ASCII identifiers
    (the generated code's names are), else ``arg<i>_1`` (a parameter ``θ``: ``torch.fx`` would name
    it ``__1``)."""
    names: list = []
    for i, node in enumerate(placeholders):
        name = node.target
        if (not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) or keyword.iskeyword(name) or name in names
                or name in _NAMESPACE):
            name = f"arg{i}_1"
        names.append(name)
    return names


def _seed(graph: Recording, placeholders: list, tangents: bool) -> _Writer:
    """Step 1: a writer knowing every node's shape, with the inputs' values and unit tangents
    (one tangent direction per column of every input)."""
    sizes = [int(n.shape[-1]) if n.shape else 1 for n in placeholders]
    total = sum(sizes)
    w = _Writer(total if tangents else None)
    for node in graph.nodes:
        if node.val is not None:
            w.shape[node] = node.shape
    offset = 0
    for node, size, name in zip(placeholders, sizes, _parameter_names(placeholders)):
        w.value[node] = name
        if tangents:
            # d(input[..., j]) / d(direction offset + j) = 1: one direction per column
            seed = np.zeros((size, total))
            seed[np.arange(size), offset + np.arange(size)] = 1.0
            shape = tuple(w.shape[node])
            seed = seed.reshape(shape[-1:] + (total,)) if shape else seed[0]
            w.tangent[node] = w.constant(np.ascontiguousarray(np.broadcast_to(seed, shape + (total,))))
        offset += size
    return w


def _translate_graph(graph: Recording, w: _Writer):
    """Step 2: fold constants and translate every other node; returns the output node."""
    output = None
    for node in graph.nodes:
        if node.op == "get_attr":
            w.const[node] = graph.constants[node.target].detach().numpy().copy()
        elif node.op == "call_function":
            if _is_constant(node, w):
                w.const[node] = _fold(node, w)
            else:
                _translate(node, w)
        elif node.op == "output":
            output = node.args[0]
            if isinstance(output, (list, tuple)):
                if len(output) != 1:
                    raise UnsupportedGraph("the graph must have exactly one output")
                output = output[0]
    return output


def _generate(w: _Writer, placeholders: list, output, tangents: bool) -> Callable:
    """Step 3: the Python source of the program, turned into a function."""
    if output in w.const:
        value = w.constant(w.const[output])
        tangent = w.zeros_tangent(output) if tangents else None
    else:
        value = w.value[output]
        tangent = (w.tangent.get(output) or w.zeros_tangent(output)) if tangents else None
    result = f"{value}, {tangent}" if tangents else value
    source = "\n".join(
        [f"def program({', '.join(w.value[n] for n in placeholders)}):"]
        + [f"    {line}" for line in w.lines]
        + [f"    return {result}"]
    )
    namespace = dict(w.namespace)
    exec(compile(source, "<qnn_torch angles>", "exec"), namespace)  # noqa: S102 - generated above
    program = namespace["program"]
    program.source = source
    return program
