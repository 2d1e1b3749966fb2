"""A Qiskit ``QuantumCircuit`` as a PennyLane circuit function ``apply(inputs, weights, wires)``.

The circuit is read once (:mod:`~qnn_torch.circuits.qiskit_instructions`): composite
instructions are decomposed through their definitions, final measurements are taken out of the
gates and remembered (which qubit each classical bit reads, for :class:`~qnn_torch.SamplerQNN`'s
outcomes), and every distinct gate angle becomes one line of a generated Python function
(:mod:`~qnn_torch.circuits.qiskit_angles`) that computes all angles from ``inputs`` and
``weights`` in torch (or through ``qml.math`` for other arrays). A call evaluates that function
once and queues the PennyLane operations (:mod:`~qnn_torch.circuits.qiskit_gates`).

Qiskit qubit ``i`` is PennyLane wire ``wires[i]``; with ``wire_order=reversed(wires)`` the matrix
of the queued operations equals Qiskit's ``Operator`` of the bound circuit, global phase
included when ``global_phase=True`` (the phase does not change expectation values or
probabilities, so by default it is not queued).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pennylane as qml
from pennylane.wires import Wires

from .qiskit_angles import AngleCode, compile_angles, math_namespace
from .qiskit_gates import GATES, SUPPORTED_GATES, operation_factory
from .qiskit_instructions import drop_final_measurements, flatten, logical_qubits

__all__ = ["QiskitCircuit", "SUPPORTED_GATES"]


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


def _checked_parameters(circuit, input_params, weight_params) -> tuple[tuple, tuple]:
    """The input and weight parameters as tuples, each parameter of ``circuit`` in one of them."""
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
    return inputs, weights


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
    >>> print(qml.draw(lambda a, b: apply(a, b))(np.array([0.5]), np.array([0.3])))
    0: ──RY(1.00)─╭●───────────┤
    1: ───────────╰X──RZ(0.15)─┤
    """

    def __init__(self, circuit, *, input_params=None, weight_params=None, global_phase=False):
        inputs, weights = _checked_parameters(circuit, input_params, weight_params)
        self.num_qubits = circuit.num_qubits
        self.num_inputs = len(inputs)
        self.num_weights = len(weights)
        self.input_names = tuple(p.name for p in inputs)
        self.weight_names = tuple(p.name for p in weights)
        self.global_phase = bool(global_phase)

        flat, phase = flatten(circuit)
        ops, measured = drop_final_measurements(flat)
        self.num_clbits = circuit.num_clbits
        self.measured: tuple = tuple(measured.get(c) for c in range(circuit.num_clbits))
        """tuple[int or None]: the qubit whose final measurement lands in each classical bit."""
        self.logical_qubits: tuple = logical_qubits(circuit)
        """tuple[int]: where the circuit's logical qubits end up (a transpiled circuit's final
        layout without its ancillas; ``0..num_qubits-1`` for a circuit without layout)."""

        code = AngleCode(inputs, weights)  # the gates' angles first, the phase last
        self.operations = tuple(_operation(name, qubits, params, code) for name, qubits, params in ops)
        self._phase = _phase_slot(phase, code) if self.global_phase else None
        self.source = code.source()
        self._setup()

    # ---------------------------------------------------------------------------------------

    def _setup(self):
        self._angles = compile_angles(self.source)
        self._factories = tuple(operation_factory(name) for name, _, _ in self.operations)
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
            dtype = like.dtype if like.is_floating_point() else None
            x, w = (torch.as_tensor(v, dtype=dtype, device=like.device)
                    if v is not None and not isinstance(v, torch.Tensor) else v for v in (x, w))
            return self._angles(x, w, math_namespace(True))
        return self._angles(x, w, math_namespace(False))

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


def _operation(name: str, qubits: tuple, params: tuple, code: AngleCode) -> tuple:
    """``(PennyLane operation name, wires, parameter rules)`` of one flat gate; a rule is a float, a
    slot of ``code`` (an int) or a fixed matrix."""
    if name == "unitary":  # Qiskit's matrix is little-endian: its last qubit leads
        return "QubitUnitary", tuple(reversed(qubits)), (_Matrix(params[0]),)
    pl_name, rules = GATES[name]
    angles = []
    for rule in rules:
        if isinstance(rule, float):
            angles.append(rule)
            continue
        index, scale, offset = (rule, 1.0, 0.0) if isinstance(rule, int) else rule
        angles.append(code.angle(params[index], scale, offset))
    return pl_name, tuple(qubits), tuple(angles)


def _phase_slot(phase, code: AngleCode) -> float | int | None:
    """The slot of the circuit's global phase (``GlobalPhase(phi)`` is ``exp(-i phi)``), its
    constant value, or None for none."""
    slot = code.angle(phase, -1.0, 0.0)
    return None if isinstance(slot, float) and slot == 0.0 else slot
