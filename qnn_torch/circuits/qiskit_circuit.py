"""A Qiskit ``QuantumCircuit`` as a PennyLane circuit function ``apply(inputs, weights, wires)``.

The circuit is read once: composite instructions are decomposed through their definitions,
final measurements are taken out of the gates and remembered (which qubit each classical bit
reads, for :class:`~qnn_torch.SamplerQNN`'s outcomes), and every distinct gate angle (a ``ParameterExpression`` of the
input and weight parameters) becomes one line of a generated Python function that computes all
angles from ``inputs`` and ``weights`` in torch (or through ``qml.math`` for other arrays). A call
evaluates that function once and queues the PennyLane operations.

Qiskit qubit ``i`` is PennyLane wire ``wires[i]``; with ``wire_order=reversed(wires)`` the matrix
of the queued operations equals Qiskit's ``Operator`` of the bound circuit, global phase
included when ``global_phase=True`` (the phase does not change expectation values or
probabilities, so by default it is not queued).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pennylane as qml
from pennylane.wires import Wires

from .._compat import expression_replay

__all__ = ["QiskitCircuit", "SUPPORTED_GATES"]

_PI = math.pi

# Qiskit gate name -> (PennyLane operation name, PennyLane parameters from Qiskit's ``params``).
# A parameter rule is an index into the Qiskit gate's parameters, a float, or a tuple
# ``(index, scale, offset)`` for ``scale * params[index] + offset``. Every mapping is exact,
# global phase included.
_GATES = {
    "h": ("Hadamard", ()),
    "x": ("PauliX", ()),
    "y": ("PauliY", ()),
    "z": ("PauliZ", ()),
    "s": ("S", ()),
    "sdg": ("PhaseShift", (-_PI / 2,)),
    "t": ("T", ()),
    "tdg": ("PhaseShift", (-_PI / 4,)),
    "sx": ("SX", ()),
    "sxdg": ("SXdg", ()),
    "rx": ("RX", (0,)),
    "ry": ("RY", (0,)),
    "rz": ("RZ", (0,)),
    "p": ("PhaseShift", (0,)),
    "u1": ("PhaseShift", (0,)),
    "u": ("U3", (0, 1, 2)),
    "u3": ("U3", (0, 1, 2)),
    "u2": ("U3", (_PI / 2, 0, 1)),
    "r": ("U3", (0, (1, 1.0, -_PI / 2), (1, -1.0, _PI / 2))),
    "cx": ("CNOT", ()),
    "cy": ("CY", ()),
    "cz": ("CZ", ()),
    "ch": ("CH", ()),
    "swap": ("SWAP", ()),
    "iswap": ("ISWAP", ()),
    "crx": ("CRX", (0,)),
    "cry": ("CRY", (0,)),
    "crz": ("CRZ", (0,)),
    "cp": ("ControlledPhaseShift", (0,)),
    "cu1": ("ControlledPhaseShift", (0,)),
    "rxx": ("IsingXX", (0,)),
    "ryy": ("IsingYY", (0,)),
    "rzz": ("IsingZZ", (0,)),
    "rzx": ("PauliRot:ZX", (0,)),
    "ccx": ("Toffoli", ()),
    "ccz": ("CCZ", ()),
    "cswap": ("CSWAP", ()),
}
_IGNORED = ("id", "barrier")  # and ``delay`` with a numeric duration
SUPPORTED_GATES = tuple(sorted(_GATES))
"""Qiskit gate names mapped to one PennyLane operation; other gates and composite instructions
with a ``definition`` are decomposed."""

_REFUSED = {
    "reset": "resets cannot be expressed as a unitary circuit",
    "initialize": "it resets the qubits",
    "if_else": "classical control is not supported",
    "while_loop": "classical control is not supported",
    "for_loop": "classical control is not supported",
    "switch_case": "classical control is not supported",
    "box": "boxes are not supported; compose the circuit instead",
    "store": "classical storage is not supported",
}


def _sxdg(wires):
    return qml.adjoint(qml.SX(wires))


def _pauli_rot_zx(angle, wires):
    return qml.PauliRot(angle, "ZX", wires=wires)


def _operation_factory(name: str):
    if name == "SXdg":
        return _sxdg
    if name == "PauliRot:ZX":
        return _pauli_rot_zx
    return getattr(qml, name)


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


_TORCH_MATH = None


def _torch_math():
    global _TORCH_MATH  # pylint: disable=global-statement
    if _TORCH_MATH is None:
        _TORCH_MATH = _TorchMath()
    return _TORCH_MATH


# -------------------------------------------------------------------------------------------
# expressions: Qiskit's replay of a ParameterExpression -> Python source over ``m`` (the math
# namespace), ``x_i`` and ``w_j``
# -------------------------------------------------------------------------------------------

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


def _source(value, names: dict, context=None):
    """A float for a constant, else Python source computing ``value``."""
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
            rhs = stack.pop() if rhs is None else _source(rhs, names, context)
            lhs = stack.pop() if lhs is None else _source(lhs, names, context)
            expression = _BINARY[op].format(a=_literal(lhs), b=_literal(rhs))
            if isinstance(lhs, float) and isinstance(rhs, float):
                stack.append(_constant(eval(expression), context))  # pylint: disable=eval-used
            else:
                stack.append(expression)
        elif op in _UNARY or op == "CONJ":
            arg = stack.pop() if lhs is None else _source(lhs, names, context)
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


def _compile(source: str):
    namespace: dict = {}
    exec(compile(source, "<qnn_torch.circuits.qiskit_circuit angles>", "exec"), namespace)  # pylint: disable=exec-used
    return namespace["angles"]


# -------------------------------------------------------------------------------------------
# validation
# -------------------------------------------------------------------------------------------


def _parameter_list(params, name: str) -> tuple:
    from qiskit.circuit import Parameter, ParameterVector

    if params is None:
        return ()
    if isinstance(params, ParameterVector):
        params = list(params)
    if isinstance(params, (str, bytes, Parameter)) or not isinstance(params, Iterable):
        raise TypeError(
            f"{name} must be a sequence of qiskit Parameters (a list or a ParameterVector) or None; "
            f"got {params!r} ({type(params).__name__})."
        )
    params = tuple(params)
    for i, param in enumerate(params):
        if not isinstance(param, Parameter):
            raise TypeError(
                f"{name}[{i}] must be a qiskit Parameter; got {param!r} ({type(param).__name__})."
            )
    seen = set()
    for param in params:
        if param in seen:
            raise ValueError(f"{name} lists the parameter '{param.name}' twice.")
        seen.add(param)
    return params


# -------------------------------------------------------------------------------------------
# the converter
# -------------------------------------------------------------------------------------------


class QiskitCircuit:
    """A Qiskit ``QuantumCircuit`` as a PennyLane circuit function, converted once.

    Args:
        circuit (qiskit.QuantumCircuit): the circuit; its parameters must all be listed in
            ``input_params`` or ``weight_params``.
        input_params (Sequence[Parameter] or ParameterVector or None): the parameters bound to
            ``inputs[..., i]``, in this order.
        weight_params (Sequence[Parameter] or ParameterVector or None): the parameters bound to
            ``weights[..., j]``, in this order.
        global_phase (bool): also queue ``qml.GlobalPhase`` for the circuit's global phase
            (the circuit's own and that of decomposed definitions), so that the matrix equals
            Qiskit's ``Operator`` exactly. It changes no expectation value or probability.

    Raises:
        TypeError: if ``circuit`` is not a ``QuantumCircuit`` or the parameter lists are not
            sequences of Parameters.
        ValueError: for a circuit parameter that is listed nowhere, a parameter listed twice or
            not in the circuit, an unsupported instruction (mid-circuit measurement, reset,
            classical control, a delay with a parameter, an opaque gate, a fractional power of an
            annotated gate with unbound parameters).

    Calling ``apply(inputs, weights, wires=None)`` queues the operations: ``inputs`` has shape
    ``(..., num_inputs)`` and ``weights`` ``(num_weights,)`` or ``(..., num_weights)`` (torch
    tensors, or NumPy/autograd arrays); a leading batch dimension becomes PennyLane parameter
    broadcasting. ``wires`` defaults to ``range(num_qubits)``; ``wires[i]`` plays Qiskit's qubit
    ``i``.

    **Example**

    >>> from qiskit import QuantumCircuit
    >>> from qiskit.circuit import Parameter
    >>> x, w = Parameter("x"), Parameter("w")
    >>> qc = QuantumCircuit(2)
    >>> _ = qc.ry(2 * x, 0); _ = qc.cx(0, 1); _ = qc.rz(w * x, 1)
    >>> apply = QiskitCircuit(qc, input_params=[x], weight_params=[w])
    >>> print(qml.draw(lambda a, b: apply(a, b))(np.array([0.5]), np.array([0.3])))  # doctest: +NORMALIZE_WHITESPACE
    0: ──RY(1.00)─╭●───────────┤
    1: ───────────╰X──RZ(0.15)─┤
    """

    def __init__(self, circuit, *, input_params=None, weight_params=None, global_phase=False):
        from qiskit import QuantumCircuit

        if not isinstance(circuit, QuantumCircuit):
            raise TypeError(f"circuit must be a qiskit QuantumCircuit; got {type(circuit).__name__}.")
        inputs = _parameter_list(input_params, "input_params")
        weights = _parameter_list(weight_params, "weight_params")
        both = set(inputs) & set(weights)
        if both:
            names = ", ".join(sorted(f"'{p.name}'" for p in both))
            raise ValueError(f"parameter {names} is listed in both input_params and weight_params.")
        present = set(circuit.parameters)
        for name, listed in (("input_params", inputs), ("weight_params", weights)):
            for param in listed:
                if param not in present:  # as qiskit-machine-learning's NeuralNetwork
                    raise ValueError(f"{name}: the parameter '{param.name}' is not in the circuit.")
        listed = set(inputs) | set(weights)
        for param in circuit.parameters:
            if param not in listed:
                raise ValueError(
                    f"circuit parameter '{param.name}' is neither an input nor a weight parameter "
                    "(list it in input_params or weight_params)."
                )

        self.num_qubits = circuit.num_qubits
        self.num_inputs = len(inputs)
        self.num_weights = len(weights)
        self.input_names = tuple(p.name for p in inputs)
        self.weight_names = tuple(p.name for p in weights)
        self.global_phase = bool(global_phase)

        flat, phase = _flatten(circuit)
        ops, measured = _drop_final_measurements(flat)
        self.num_clbits = circuit.num_clbits
        self.measured: tuple = tuple(measured.get(c) for c in range(circuit.num_clbits))
        """tuple[int or None]: the qubit whose final measurement lands in each classical bit."""
        self.logical_qubits: tuple = _logical_qubits(circuit)
        """tuple[int]: where the circuit's logical qubits end up (a transpiled circuit's final
        layout without its ancillas; ``0..num_qubits-1`` for a circuit without layout)."""

        # the angles: one slot per distinct symbolic expression, floats stay constants
        names = {p: f"x_{i}" for i, p in enumerate(inputs)}
        names.update({p: f"w_{j}" for j, p in enumerate(weights)})
        slots: dict = {}  # source -> slot index
        lines = []
        structure = []
        for name, qubits, params in ops:
            if name == "unitary":  # Qiskit's matrix is little-endian: its last qubit leads
                structure.append(("QubitUnitary", tuple(reversed(qubits)), (_Matrix(params[0]),)))
                continue
            pl_name, rules = _GATES[name]
            angles = []
            for rule in rules:
                if isinstance(rule, float):
                    angles.append(rule)
                    continue
                if isinstance(rule, int):
                    rule = (rule, 1.0, 0.0)
                index, scale, offset = rule
                angles.append(_angle(params[index], names, slots, lines, scale, offset))
            structure.append((pl_name, tuple(qubits), tuple(angles)))
        phase_slot = None
        if self.global_phase:
            phase_slot = _angle(phase, names, slots, lines, -1.0, 0.0)  # GlobalPhase(phi) is exp(-i phi)
            if isinstance(phase_slot, float) and phase_slot == 0.0:
                phase_slot = None
        self.operations = tuple(structure)
        self._phase = phase_slot
        used = " ".join(lines)
        unpack = []
        xs = [f"x_{i}" for i in range(self.num_inputs)]
        ws = [f"w_{j}" for j in range(self.num_weights)]
        if xs and any(f"x_{i}" in used for i in range(self.num_inputs)):
            unpack.append(f"    {', '.join(xs)}, = m.unbind(x, {len(xs)})")
        if ws and any(f"w_{j}" in used for j in range(self.num_weights)):
            unpack.append(f"    {', '.join(ws)}, = m.unbind(w, {len(ws)})")
        body = unpack + [f"    a{k} = {line}" for k, line in enumerate(lines)]
        returned = ", ".join(f"a{k}" for k in range(len(lines)))
        self.source = "def angles(x, w, m):\n" + "\n".join(body + [f"    return ({returned}{',' if lines else ''})"]) + "\n"
        self._setup()

    # ---------------------------------------------------------------------------------------

    def _setup(self):
        self._angles = _compile(self.source)
        self._factories = tuple(_operation_factory(name) for name, _, _ in self.operations)
        self._wire_cache = (None, None)

    def __getstate__(self):
        state = dict(self.__dict__)
        for key in ("_angles", "_factories", "_wire_cache"):
            state.pop(key)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._setup()

    def _key(self):
        return (self.num_qubits, self.input_names, self.weight_names, self.operations,
                self._phase, self.source, self.measured, self.logical_qubits)

    @property
    def num_virtual_qubits(self) -> int:
        """int: the number of logical qubits (fewer than ``num_qubits`` for a circuit transpiled
        onto a larger device)."""
        return len(self.logical_qubits)

    def outcomes(self) -> np.ndarray:
        """The integer a Qiskit sampler reports for each basis state of the circuit.

        Bit ``i`` of the result is classical bit ``i``: the final measurement into it, or 0 if
        nothing is measured into it. A circuit without classical bits is measured as
        qiskit-machine-learning measures it, every logical qubit into its own bit (through the
        layout of a transpiled circuit).

        Returns:
            numpy.ndarray: ``int64`` of length ``2**num_qubits``, indexed by basis state in Qiskit's
            order (qubit ``q`` is bit ``q`` of the index).
        """
        states = np.arange(2**self.num_qubits, dtype=np.int64)
        sources = self.measured if self.num_clbits else self.logical_qubits
        result = np.zeros_like(states)
        for bit, qubit in enumerate(sources):
            if qubit is not None:
                result |= ((states >> qubit) & 1) << bit
        return result

    def __eq__(self, other):
        return isinstance(other, QiskitCircuit) and self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    def __repr__(self):
        return (f"QiskitCircuit(num_qubits={self.num_qubits}, num_inputs={self.num_inputs}, "
                f"num_weights={self.num_weights}, operations={len(self.operations)})")

    # ---------------------------------------------------------------------------------------

    def _wires(self, wires):
        if wires is None:
            wires = tuple(range(self.num_qubits))
        else:
            wires = tuple(wires)
        cached_for, cached = self._wire_cache
        if cached_for == wires:
            return cached
        if len(wires) != self.num_qubits:
            raise ValueError(
                f"wires must hold {self.num_qubits} wires (one per qubit of the circuit); got {len(wires)}."
            )
        per_op = tuple(Wires([wires[q] for q in qubits]) for _, qubits, _ in self.operations)
        self._wire_cache = (wires, (per_op, Wires(wires)))
        return self._wire_cache[1]

    def _check(self, values, name, count):
        if values is None:
            if count:
                raise ValueError(f"{name} must have length {count}; got None.")
            return None
        shape = qml.math.shape(values)
        if len(shape) == 0 or shape[-1] != count:
            raise ValueError(f"{name} must have shape (..., {count}); got shape {tuple(shape)}.")
        return values

    def angles(self, inputs, weights):
        """Every non-constant gate angle, as computed for ``inputs`` and ``weights``."""
        x = self._check(inputs, "inputs", self.num_inputs)
        w = self._check(weights, "weights", self.num_weights)
        torch_like = [v for v in (x, w) if v is not None and qml.math.get_interface(v) == "torch"]
        if torch_like:
            import torch

            like = torch_like[0]
            if x is not None and not isinstance(x, torch.Tensor):
                x = torch.as_tensor(x, dtype=like.dtype if like.is_floating_point() else None, device=like.device)
            if w is not None and not isinstance(w, torch.Tensor):
                w = torch.as_tensor(w, dtype=like.dtype if like.is_floating_point() else None, device=like.device)
            return self._angles(x, w, _torch_math())
        return self._angles(x, w, _AnyMath)

    def __call__(self, inputs, weights, wires=None):
        """Queue the circuit's operations on ``wires`` (see the class docstring)."""
        values = self.angles(inputs, weights)
        per_op, all_wires = self._wires(wires)
        queued = []
        for factory, (_, _, rules), op_wires in zip(self._factories, self.operations, per_op):
            params = [values[r] if isinstance(r, int) else r.matrix if isinstance(r, _Matrix) else r
                      for r in rules]
            if len(params) > 1:
                params = _constants_like(params)
            queued.append(factory(*params, wires=op_wires))
        if self._phase is not None:
            phase = values[self._phase] if isinstance(self._phase, int) else self._phase
            queued.append(qml.GlobalPhase(phase, wires=all_wires))
        return queued


def _constants_like(params: list) -> list:
    """``params`` with its float constants as torch tensors when another parameter of the same
    operation is one: PennyLane's ``U3`` multiplies its angles together, and a NumPy constant
    times a torch tensor fails."""
    like = next((p for p in params if qml.math.get_interface(p) == "torch"), None)
    if like is None:
        return params
    import torch

    dtype = like.dtype if like.is_floating_point() else torch.float64
    return [torch.as_tensor(p, dtype=dtype, device=like.device) if isinstance(p, float) else p
            for p in params]


class _Matrix:
    """A fixed matrix parameter (``unitary`` gates), hashable by value."""

    __slots__ = ("matrix",)

    def __init__(self, matrix):
        self.matrix = np.array(matrix, dtype=complex)
        self.matrix.flags.writeable = False

    def __getstate__(self):
        return self.matrix

    def __setstate__(self, state):
        self.matrix = state

    def __eq__(self, other):
        return isinstance(other, _Matrix) and np.array_equal(self.matrix, other.matrix)

    def __hash__(self):
        return hash(self.matrix.tobytes())


def _angle(expr, names, slots, lines, scale=1.0, offset=0.0):
    """A float for a constant angle, else the index of its slot in the generated function."""
    source = _source(expr, names)
    if (scale, offset) != (1.0, 0.0):
        source = scale * source + offset if isinstance(source, float) else f"({scale!r} * {source} + {offset!r})"
    if isinstance(source, float):
        return source
    if source not in slots:
        slots[source] = len(lines)
        lines.append(source)
    return slots[source]


def _logical_qubits(circuit) -> tuple:
    """The final physical positions of a transpiled circuit's logical qubits, else all qubits."""
    layout = getattr(circuit, "layout", None)
    if layout is None:
        return tuple(range(circuit.num_qubits))
    return tuple(int(q) for q in layout.final_index_layout(filter_ancillas=True))


def _flatten(circuit):
    """The circuit as ``[(name, qubit indices, params)]`` of table gates and
    ``("measure", qubits, clbits)``, with the summed global phase (a number or ParameterExpression)."""
    flat = []
    phase = [0.0]
    _flatten_into(circuit, list(range(circuit.num_qubits)), flat, phase, outer=circuit,
                  clbit_map=list(range(circuit.num_clbits)))
    total = 0
    for value in phase:
        total = total + value
    return flat, total


def _phase_value(value):
    from qiskit.circuit import ParameterExpression

    if isinstance(value, ParameterExpression):
        return value if value.parameters else float(complex(value.numeric()).real)
    return float(value)


def _flatten_into(circuit, qubit_map, flat, phase, outer, clbit_map):
    from qiskit.circuit import ControlledGate, Delay, Gate, ParameterExpression, QuantumCircuit

    if _phase_value(circuit.global_phase) != 0.0:
        phase.append(_phase_value(circuit.global_phase))
    for item in circuit.data:
        op = item.operation
        name = op.name
        qubits = [qubit_map[circuit.find_bit(q).index] for q in item.qubits]
        if name in _IGNORED:
            continue
        if isinstance(op, Delay):
            if isinstance(op.duration, ParameterExpression) and op.duration.parameters:
                raise ValueError(f"unsupported instruction 'delay' with the parameter duration {op.duration}.")
            continue
        if name == "measure":
            clbits = [clbit_map[circuit.find_bit(c).index] for c in item.clbits]
            flat.append(("measure", tuple(qubits), tuple(clbits)))
            continue
        if name in _REFUSED or getattr(op, "blocks", None):
            reason = _REFUSED.get(name, "classical control is not supported")
            raise ValueError(f"unsupported instruction '{name}': {reason}.")
        if name == "global_phase":
            phase.append(_phase_value(op.params[0]))
            continue
        exact_control = not isinstance(op, ControlledGate) or op.ctrl_state == 2**op.num_ctrl_qubits - 1
        if name in _GATES and exact_control and isinstance(op, Gate):
            flat.append((name, tuple(qubits), tuple(op.params)))
            continue
        if name == "unitary":
            flat.append(("unitary", tuple(qubits), (np.asarray(op.to_matrix()),)))
            continue
        if name == "annotated":  # gate.inverse(annotated=True), AnnotatedOperation(gate, modifiers)
            resolved = _without_modifiers(op)
            single = QuantumCircuit(resolved.num_qubits)
            single.append(resolved, single.qubits)
            _flatten_into(single, qubits, flat, phase, outer, [])
            continue
        definition = None
        try:
            definition = op.definition
        except Exception:  # pylint: disable=broad-except
            definition = None
        if definition is None:
            raise ValueError(
                f"unsupported instruction '{name}': it has no definition to decompose. Supported: "
                f"{', '.join(SUPPORTED_GATES)}, 'unitary', composite gates and instructions with a "
                f"definition, annotated operations, {', '.join(_IGNORED)}, 'delay', 'global_phase' and final "
                "measurements."
            )
        clbits = [clbit_map[circuit.find_bit(c).index] for c in item.clbits]
        _flatten_into(definition, qubits, flat, phase, outer, clbits)


def _without_modifiers(op):
    """An annotated operation as the plain gate it stands for: its modifiers applied to its base
    operation in order (inverse, control with its control state, power).

    Raises:
        ValueError: for a modifier Qiskit cannot apply to the base operation (a fractional power
            of a gate with unbound parameters), with the reason and what to do instead.
    """
    from qiskit.circuit.annotated_operation import ControlModifier, InverseModifier, PowerModifier

    gate = _without_modifiers(op.base_op) if op.base_op.name == "annotated" else op.base_op
    for modifier in op.modifiers:
        if isinstance(modifier, InverseModifier):
            gate = gate.inverse()
        elif isinstance(modifier, ControlModifier):
            gate = gate.control(modifier.num_ctrl_qubits, ctrl_state=modifier.ctrl_state)
        elif isinstance(modifier, PowerModifier) and float(modifier.power).is_integer():
            gate = _integer_power(gate, int(modifier.power))
        elif isinstance(modifier, PowerModifier):
            try:
                gate = gate.power(modifier.power)
            except (TypeError, ValueError) as err:  # computed from the matrix: bound parameters only
                reason = f"{type(err).__name__}: {str(err).splitlines()[0][:120]}"
            else:
                continue
            raise ValueError(
                f"unsupported instruction 'annotated': the power {modifier.power} of '{gate.name}' has no "
                f"definition while its parameters are unbound ({reason}); use an integer power, bind the "
                "parameters first, or write the powered gate (e.g. ry(theta * p)).")
        else:
            raise ValueError(f"unsupported instruction 'annotated': unknown modifier {modifier!r}; apply it "
                             f"to '{gate.name}' yourself (gate.inverse(), gate.control(n), gate.power(p)).")
    return gate


def _integer_power(gate, power: int):
    """``gate`` applied ``power`` times (its inverse for a negative power; nothing for 0), as one gate."""
    from qiskit import QuantumCircuit

    step = gate if power >= 0 else gate.inverse()
    repeated = QuantumCircuit(gate.num_qubits, name=f"{gate.name}^{power}")
    for _ in range(abs(power)):
        repeated.append(step, repeated.qubits)
    return repeated.to_gate()


def _drop_final_measurements(flat):
    """Drop measurements after which their qubits see no gate; refuse the others.

    Returns:
        tuple: the gates, and ``{classical bit: measured qubit}`` (a later measurement into the
        same bit overwrites an earlier one, as on a device).
    """
    measured = set()
    into = {}
    for name, qubits, clbits in flat:
        if name == "measure":
            measured.update(qubits)
            into.update(zip(clbits, qubits))
            continue
        late = measured.intersection(qubits)
        if late:
            raise ValueError(
                f"unsupported instruction 'measure': mid-circuit measurement of qubit {min(late)} is "
                f"followed by '{name}'; only final measurements are allowed (they are dropped)."
            )
    return [op for op in flat if op[0] != "measure"], into
