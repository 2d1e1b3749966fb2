"""The gate angles of a Qiskit circuit as one generated Python function.

Every distinct gate angle, a ``ParameterExpression`` of the input and weight parameters, becomes
one line of a function ``angles(x, w, m)`` that computes all of them at once from ``x``
(``inputs``) and ``w`` (``weights``), each of them indexed as ``x[..., i]`` so that a leading
batch passes through. ``m`` holds the functions the lines call: torch's for torch tensors
(the engines trace them), ``qml.math``'s for other arrays. Constant angles stay floats.

**Example**

>>> from qiskit.circuit import Parameter
>>> x, w = Parameter("x"), Parameter("w")
>>> code = AngleCode([x], [w])
>>> code.angle(2 * x), code.angle((w * x).sin()), code.angle(x * 2), code.angle(0.5 * w - w / 2)
(0, 1, 0, 0.0)
>>> print(code.source())
def angles(x, w, m):
    x_0, = m.unbind(x, 1)
    w_0, = m.unbind(w, 1)
    a0 = (2.0 * x_0)
    a1 = m.sin((w_0 * x_0))
    return (a0, a1,)
<BLANKLINE>
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pennylane as qml

from .._compat import expression_replay

__all__ = ["AngleCode", "compile_angles", "expression_source", "math_namespace"]


class _TorchMath:
    """The functions the generated angle code calls, for torch tensors."""

    def __init__(self):
        import torch

        self.sin, self.cos, self.tan = torch.sin, torch.cos, torch.tan
        self.asin, self.acos, self.atan = torch.asin, torch.acos, torch.atan
        self.exp, self.log, self.abs, self.sign = torch.exp, torch.log, torch.abs, torch.sign

    @staticmethod
    def unbind(tensor, count):
        # indexing, not ``Tensor.unbind``: the engines' angle compiler reads ``x[..., i]``
        return tuple(tensor[..., i] for i in range(count))


class _AnyMath:
    """The same functions through ``qml.math`` (NumPy, autograd, JAX, ...)."""

    sin, cos, tan = staticmethod(qml.math.sin), staticmethod(qml.math.cos), staticmethod(qml.math.tan)
    asin, acos = staticmethod(qml.math.arcsin), staticmethod(qml.math.arccos)
    atan, exp = staticmethod(qml.math.arctan), staticmethod(qml.math.exp)
    log, abs, sign = staticmethod(qml.math.log), staticmethod(qml.math.abs), staticmethod(qml.math.sign)

    @staticmethod
    def unbind(tensor, count):
        return tuple(tensor[..., i] for i in range(count))


@functools.cache
def _torch_math() -> _TorchMath:
    return _TorchMath()


def math_namespace(torch_tensors: bool):
    """The ``m`` of the generated function: torch's functions, or ``qml.math``'s."""
    return _torch_math() if torch_tensors else _AnyMath


# Qiskit's operation names -> (the function of ``m``, the same for a float constant)
_UNARY = {"SIN": ("sin", math.sin), "COS": ("cos", math.cos), "TAN": ("tan", math.tan),
          "ASIN": ("asin", math.asin), "ACOS": ("acos", math.acos), "ATAN": ("atan", math.atan),
          "EXP": ("exp", math.exp), "LOG": ("log", math.log), "ABS": ("abs", abs),
          "SIGN": ("sign", lambda v: float(np.sign(v)))}
_BINARY = {"ADD": "({a} + {b})", "SUB": "({a} - {b})", "MUL": "({a} * {b})", "DIV": "({a} / {b})",
           "POW": "({a} ** {b})", "RSUB": "({b} - {a})", "RDIV": "({b} / {a})", "RPOW": "({b} ** {a})"}


def _constant(value, context) -> float:
    value = complex(value)
    if abs(value.imag) > 1e-12 * max(1.0, abs(value.real)):
        raise ValueError(f"gate angle {context} is not real")
    return float(value.real)


def _literal(value) -> str:
    """Python source for a float constant (``float('inf')`` where ``repr`` would give a bare
    ``inf``), or ``value`` itself if it already is source."""
    if not isinstance(value, float):
        return value
    return repr(value) if math.isfinite(value) else f"float({str(value)!r})"


def expression_source(value, names: dict, context=None) -> float | str:
    """A float for a constant, else Python source computing ``value`` over ``m`` and ``names``.

    Args:
        value (ParameterExpression or float): a gate angle.
        names (dict): the variable name of every parameter the angle may use (``x_0``, ``w_3``).
        context: what error messages name (``value`` itself by default).

    Raises:
        ValueError: for an angle that is not real, uses a parameter missing from ``names``, or
            applies an operation the generated code does not have.
    """
    from qiskit.circuit import ParameterExpression

    context = value if context is None else context
    if not isinstance(value, ParameterExpression):
        return _constant(value, context)
    if not value.parameters:
        return _constant(value.numeric(), context)
    if value.is_symbol():
        if value not in names:
            raise ValueError(f"the gate angle {context} uses '{value}', which is not a listed parameter")
        return names[value]
    replay = expression_replay(value)
    if not replay:  # simplified to a number (``0 * x + 1``) that still lists its parameters
        return _constant(value.bind({p: 0.0 for p in value.parameters}).numeric(), context)
    stack = []
    for op, lhs, rhs in replay:
        if op in _BINARY:
            rhs = stack.pop() if rhs is None else expression_source(rhs, names, context)
            lhs = stack.pop() if lhs is None else expression_source(lhs, names, context)
            expression = _BINARY[op].format(a=_literal(lhs), b=_literal(rhs))
            if isinstance(lhs, float) and isinstance(rhs, float):
                stack.append(_constant(eval(expression), context))  # pylint: disable=eval-used
            else:
                stack.append(expression)
        elif op in _UNARY or op == "CONJ":
            arg = stack.pop() if lhs is None else expression_source(lhs, names, context)
            if op == "CONJ":  # the parameters are real
                stack.append(arg)
            elif isinstance(arg, float):
                stack.append(_constant(_UNARY[op][1](arg), context))
            else:
                stack.append(f"m.{_UNARY[op][0]}({arg})")
        else:
            raise ValueError(f"unsupported operation {op} in the gate angle {context}")
    if len(stack) != 1:
        raise ValueError(f"could not read the gate angle {context}")
    return stack[0]


class AngleCode:
    """The generated angle function of one circuit, written one gate angle at a time.

    Args:
        inputs (Sequence[Parameter]): the parameters read from ``x[..., i]``, in this order.
        weights (Sequence[Parameter]): the parameters read from ``w[..., j]``, in this order.
    """

    def __init__(self, inputs, weights):
        self._names = {p: f"x_{i}" for i, p in enumerate(inputs)}
        self._names.update({p: f"w_{j}" for j, p in enumerate(weights)})
        self._counts = (len(inputs), len(weights))
        self._slots: dict[str, int] = {}
        self.lines: list[str] = []
        """list[str]: the source of every slot, in order."""

    def angle(self, value, scale: float = 1.0, offset: float = 0.0) -> float | int:
        """Add the angle ``scale * value + offset``.

        Returns:
            float or int: the angle itself if it is constant, else the index of its slot in the
            function's result (one slot per distinct expression).
        """
        source = expression_source(value, self._names)
        if (scale, offset) != (1.0, 0.0):
            if isinstance(source, float):
                source = scale * source + offset
            else:
                source = f"({scale!r} * {source} + {offset!r})"
        if isinstance(source, float):
            return source
        if source not in self._slots:
            self._slots[source] = len(self.lines)
            self.lines.append(source)
        return self._slots[source]

    def source(self) -> str:
        """The Python source of ``angles(x, w, m)``, which returns the slots as a tuple."""
        used = " ".join(self.lines)
        unpack = []
        for letter, count in zip("xw", self._counts):
            names = [f"{letter}_{i}" for i in range(count)]
            if names and any(name in used for name in names):
                unpack.append(f"    {', '.join(names)}, = m.unbind({letter}, {count})")
        slots = [f"    a{k} = {line}" for k, line in enumerate(self.lines)]
        returned = ", ".join(f"a{k}" for k in range(len(self.lines))) + ("," if self.lines else "")
        return "\n".join(["def angles(x, w, m):", *unpack, *slots, f"    return ({returned})"]) + "\n"


def compile_angles(source: str):
    """The function ``angles(x, w, m)`` that :meth:`AngleCode.source` wrote."""
    namespace: dict = {}
    code = compile(source, "<qnn_torch.circuits.qiskit_circuit angles>", "exec")
    exec(code, namespace)  # pylint: disable=exec-used
    return namespace["angles"]
