"""What both kinds of network share: the circuit description, the engine chain that runs it, and
qiskit-machine-learning's NumPy API."""

from __future__ import annotations

from abc import abstractmethod
from typing import ClassVar

import numpy as np
import torch

from ..circuits import CircuitDescription
from ..engines import EngineChain
from ..engines.base import exact_simulation
from .base import NeuralNetwork
from .circuit_form import FORM_ARGUMENTS, CircuitForm, resolve_form
from .qiskit_arguments import QiskitArguments
from .sparse_arrays import require_sparse, to_coo
from .spsa import SPSA, spsa_jacobians
from .validation import check_real_dtype, input_rows, weight_vector

__all__ = ["QuantumNeuralNetwork"]


class _Part:
    """An attribute of a network that one of its parts holds: ``name = _Part("_form", doc)`` reads
    ``network._form.name``, and writes it too when ``settable``."""

    def __init__(self, part: str, doc: str, settable: bool = False):
        self.part, self.__doc__, self.settable = part, doc, settable

    def __set_name__(self, owner, name: str) -> None:
        self.name = name

    def __get__(self, network, owner=None):
        return self if network is None else getattr(getattr(network, self.part), self.name)

    def __set__(self, network, value) -> None:
        if not self.settable:
            raise AttributeError(f"{self.name} cannot be set")
        setattr(getattr(network, self.part), self.name, value)


class QuantumNeuralNetwork(NeuralNetwork):
    """A circuit on ``num_qubits`` wires, measured as a subclass says, run by an engine chain.

    A network is a description: its circuit (:class:`~qnn_torch.qnn.circuit_form.CircuitForm`),
    its measurement (:meth:`_measure`) and head (:meth:`_head`), its outputs' shape, and how it runs
    (an :class:`~qnn_torch.engines.EngineChain` built from the run options below). A subclass
    resolves the circuit arguments (:meth:`_circuit_form`), works out its outputs, and calls this
    constructor.

    Circuit arguments (one of three forms; see :func:`~qnn_torch.qnn.circuit_form.resolve_form`):

    * ``num_qubits`` (int): number of qubits; wire ``i`` plays Qiskit's qubit ``i``.
    * ``feature_map``: template class, partial or ``fn(params, wires)``; default
      :class:`~qnn_torch.ZZFeatureMap` (reps=2). ``ansatz``: likewise; default
      :class:`~qnn_torch.RealAmplitudes` (reps=3). ``num_inputs`` / ``num_weights`` (int or None):
      the parameter counts of plain functions.
    * ``circuit`` (Callable or QuantumCircuit or None): instead of ``feature_map`` and ``ansatz``,
      one function ``fn(inputs, weights)`` queuing the whole circuit on wires
      ``0..num_qubits-1``, for circuits that interleave inputs and weights (data re-uploading,
      trainable input scaling ``qml.RY(weights[..., k] * inputs[..., i], wires=i)``); needs
      ``num_inputs`` and ``num_weights``. Index as ``[..., i]`` so that batches pass through. Or a
      Qiskit ``QuantumCircuit`` with ``input_params`` and ``weight_params`` (Sequence[Parameter]),
      as in qiskit-machine-learning (``num_qubits`` may then be left out).

    Args:
        form (CircuitForm): the resolved circuit.
        output_shape (tuple[int, ...]): the shape of one sample's outputs.
        input_gradients (bool or None): whether gradients flow to the inputs (and so to earlier
            layers). ``None``: True, except for a Qiskit circuit, where it is False as in
            qiskit-machine-learning (a warning says so when an input asks for a gradient).
        device: see :func:`qnn_torch.devices.resolve_device`.
        shots (int or None): ``None`` for exact results.
        diff_method (str or None): override the automatic choice of differentiation method.
        device_options (dict or None): keyword arguments for the device, e.g. for IBM backends
            ``{"session": session, "optimization_level": 3, "resilience_level": 1}``.
        engine (str): how exact ``default.qubit`` runs. ``"auto"`` (default) takes the fastest
            engine that can run the circuit: ``"adjoint"`` up to 6 qubits (5 for probabilities),
            else ``"torch-adjoint"``, else ``"compiled"``, else the QNode. ``"adjoint"`` (the
            NumPy adjoint engine), ``"torch-adjoint"`` (fused gate blocks in torch, adjoint
            sweep), ``"compiled"`` (the traced torch engine, backprop) and ``"qnode"``
            (PennyLane's QNode) choose one; other devices always run the QNode.
        memory_budget (int or None): bytes one call may use for its state vectors and the
            engine's cached programs; a larger batch runs in chunks (identical results), and a
            call of which not even one sample fits is refused with a ValueError. ``None``
            (default): half the memory available on the device the engine computes on, at the
            time of the call. See :meth:`~qnn_torch.engines.Engine.bytes_per_sample`.
        precision (str): ``"double"`` (default; complex128 states) or ``"single"`` (complex64
            states where the engine supports them: the compiled engine, on exact
            ``default.qubit``; the others compute in double precision). Single precision halves
            the memory of a state; README, "GPUs, precision and memory", says what it costs in
            accuracy.

    **Devices of tensors.** Inputs and weights on a CUDA device stay there when an engine
    computes on that device (:attr:`~qnn_torch.engines.Engine.devices`: the torch engines);
    a call takes the first engine of the chain that does. Otherwise they are copied to the CPU
    for the engine and the results copied back: outputs and Jacobians are always on the inputs'
    device.
    """

    _probabilities: ClassVar[bool] = False
    """bool: whether the circuit measures probabilities (one output per basis state)."""

    _qiskit: QiskitArguments | None = None
    """QiskitArguments or None: qiskit-machine-learning's run arguments (a subclass sets them)."""

    _gradient_engines: EngineChain | None = None
    """EngineChain or None: where the Jacobians run when a gradient's primitive is not the network's."""

    def __init__(self, form: CircuitForm, *, output_shape: tuple[int, ...],
                 input_gradients: bool | None = None, sparse: bool | None = None, **run_options):
        self._form = form
        if input_gradients is not None and not isinstance(input_gradients, bool):
            raise TypeError(f"input_gradients must be True, False or None; got {input_gradients!r}.")
        # qiskit-machine-learning's networks compute no input gradients unless asked
        if input_gradients is None:
            input_gradients = form.qiskit_circuit is None
        NeuralNetwork.__init__(self, self.num_inputs, self.num_weights, check_sparse(self, sparse),
                               tuple(output_shape), input_gradients)
        self.description = self._describe()
        """CircuitDescription: the circuit as the engines see it."""
        self._engines = EngineChain(self.description, owner=type(self).__name__, **run_options)
        self._gradient_engines = self._gradient_chain()

    def _gradient_chain(self) -> EngineChain | None:
        """A second chain for a gradient whose primitive is not the network's: qiskit-machine-learning
        runs the Jacobians on the gradient's primitive and the outputs on the network's. None when
        the network's chain computes both."""
        owner = type(self).__name__
        device = None if self._qiskit is None else self._qiskit.gradient_device(
            self.num_qubits, exact_simulation(self.spec), owner)
        if device is None:
            return None
        return EngineChain(self.description, device, memory_budget=self.memory_budget, owner=owner)

    def _redescribe(self) -> None:
        """Describe the circuit again (another head or output shape), on the same chains."""
        self.description = self._describe()
        self._engines = self._engines.for_circuit(self.description)
        if self._gradient_engines is not None:
            self._gradient_engines = self._gradient_engines.for_circuit(self.description)

    def _describe(self) -> CircuitDescription:
        """The circuit as the engines see it, with the current head and output shape."""
        return CircuitDescription(
            num_qubits=self._form.num_qubits, num_inputs=self.num_inputs, num_weights=self.num_weights,
            circuit=self.qfunc, probabilities=self._probabilities, head=self._head(),
            output_size=int(np.prod(self.output_shape, dtype=np.int64)),
        )

    @staticmethod
    def _circuit_form(num_qubits: int | None, options: dict) -> CircuitForm:
        """Resolve the circuit arguments among a subclass's keyword ``options`` (taken out of it)."""
        given = {name: options.pop(name) for name in FORM_ARGUMENTS if name in options}
        return resolve_form(num_qubits, device=options.get("device", "default.qubit"), **given)

    @abstractmethod
    def _measure(self):
        """The measurement(s) the circuit ends with (what the QNode returns)."""

    @abstractmethod
    def _head(self) -> torch.Tensor | None:
        """A float64 matrix ``(outputs of the circuit, outputs of the network)`` applied to the
        measured outputs, or None when the network's outputs are the measured ones."""

    # ------------------------------------------------------------------ the circuit

    num_qubits = _Part("_form", "int: the number of qubits.")
    feature_map = _Part("_form", "CircuitBlock: the input block.")
    ansatz = _Part("_form", "CircuitBlock: the weight block.")
    qiskit_circuit = _Part("_form", "QuantumCircuit or None: the Qiskit circuit the network was built from.")
    input_params = _Part("_form", "list[Parameter] or None: the Qiskit circuit's input parameters.")
    weight_params = _Part("_form", "list[Parameter] or None: the Qiskit circuit's weight parameters.")

    @property
    def num_inputs(self) -> int:
        """int: the number of input features."""
        return self.feature_map.num_params

    @property
    def num_weights(self) -> int:
        """int: the number of trainable weights."""
        return self.ansatz.num_params

    @property
    def circuit(self):
        """The circuit: the Qiskit ``QuantumCircuit`` for a network built from one (as
        qiskit-machine-learning's ``circuit``), else :meth:`qfunc`, the function that queues it."""
        return self.qiskit_circuit if self.qiskit_circuit is not None else self.qfunc

    def qfunc(self, inputs, weight):
        """Queue the circuit and return the measurement (the QNode's function)."""
        if self._form.body is not None:
            self._form.body(inputs, weight)
            return self._measure()
        wires = list(range(self.num_qubits))
        # blocks without parameters are applied too: their gates are fixed, not absent
        self.feature_map.apply(inputs, wires)
        self.ansatz.apply(weight, wires)
        return self._measure()

    # ------------------------------------------------------------------ how it runs

    spec = _Part("_engines", "DeviceSpec: the resolved device, its shots and differentiation method; "
                 "settable.", settable=True)
    memory_budget = _Part("_engines", "int or None: bytes one call may use for its state vectors (None: half "
                          "the memory available on the device the engine computes on); settable.",
                          settable=True)
    precision = _Part("_engines", "str: ``\"double\"`` or ``\"single\"`` (see the class docstring).")
    dtype = _Part("_engines", "torch.dtype: the real dtype of :attr:`precision` (float64 or float32).")
    simulated_locally = _Part("_engines", "bool: whether the state vectors live in this process (not on IBM "
                              "hardware or a fake IBM backend), so that memory budgets apply.")
    differentiable_twice = _Part("_engines", "bool: whether every engine that builds a graph gives correct "
                                 "higher derivatives.")
    engine = _Part("_engines", "str: ``\"adjoint\"``, ``\"torch-adjoint\"``, ``\"compiled\"`` or "
                   "``\"qnode\"``, the engine the next call takes (a call that needs an autograd graph, for "
                   "second derivatives, skips the adjoint engines).")
    engine_fallback = _Part("_engines", "str or None: why the preferred engine was abandoned for the next "
                            "one, if it was.")
    qnode = _Part("_engines", "qml.QNode: ``qnode(inputs, weight)`` on the resolved device, torch "
                  "interface.")

    @property
    def device(self):
        """The PennyLane device the network runs on, e.g. for ``qml.Tracker(qnn.device)``.

        The QNode runs on it, and the engines of exact ``default.qubit`` (which compute without
        it) report their calls to its tracker as PennyLane's simulators do
        (:mod:`qnn_torch.engines.tracking`).
        """
        return self.spec.device

    @property
    def shots(self) -> int | None:
        """int or None: the shots the QNode runs with."""
        return self.spec.shots

    @property
    def gradient(self):
        """The ``gradient=`` argument as given: None (exact engines, or parameter-shift where the
        device or primitive samples), :class:`~qnn_torch.SPSA` or a qiskit-machine-learning
        gradient (see :mod:`qnn_torch.qnn.gradients`)."""
        return None if self._qiskit is None else self._qiskit.gradient.given

    @property
    def _spsa(self) -> SPSA | None:
        return None if self._qiskit is None else self._qiskit.gradient.spsa

    @property
    def _draws(self):
        """StatevectorDraws or None: a sampling statevector primitive's draws on the exact engines."""
        return None if self._qiskit is None else self._qiskit.draws

    # ------------------------------------------------------------------ tensors in, tensors out

    def evaluate(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """Outputs ``(batch, prod(output_shape))`` for real inputs ``(batch, num_inputs)`` and
        weights ``(num_weights,)`` or ``(batch, num_weights)``; differentiable by autograd when
        grad mode is on and ``x`` or ``weight`` requires grad.

        The outputs are on ``x``'s device, float64 (float32 where an engine computed in single
        precision). A batch larger than the memory budget runs in chunks; note that an autograd
        graph of every chunk is kept until it is used, so the budget bounds the memory of calls
        without a graph and of :meth:`differentiate`.
        """
        if self._draws is not None:
            return self._draws.outputs(self._exact_run, self.description, x, weight)
        return self._engines.run("values", x, weight)

    def differentiate(self, x: torch.Tensor, weight: torch.Tensor, want_x: bool = True,
                      want_w: bool = True) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Outputs and per-sample Jacobians, as qiskit-machine-learning's ``backward`` gives them.

        Args:
            x (torch.Tensor): real inputs ``(batch, num_inputs)``.
            weight (torch.Tensor): real weights ``(num_weights,)`` on ``x``'s device.
            want_x (bool): whether the input Jacobian is wanted.
            want_w (bool): whether the weight Jacobian is wanted.

        Returns:
            tuple: the outputs ``(batch, K)`` (detached) and the list of wanted Jacobians,
            ``(batch, K, num_inputs)`` then ``(batch, K, num_weights)``, on ``x``'s device, float64
            (float32 where an engine computed in single precision). A batch larger than the memory
            budget runs in chunks, with identical results.

        Raises:
            ValueError: if not even one sample fits in the memory budget (the message names
                ``num_qubits``, the batch and the memory it would need), or ``weight`` is on
                another device than ``x``.
        """
        if self._draws is not None:
            return self._draws.differentiate(self._exact_run, self.description, x, weight, want_x, want_w,
                                             self.input_gradients)
        if self._gradient_engines is not None and self._spsa is None:
            jacobians = self._gradient_engines.run("jacobians", x, weight, want_x, want_w)[1]
            with torch.no_grad():  # the outputs from the network's primitive, as qiskit-machine-learning's
                return self._engines.run("values", x, weight), jacobians
        return self._exact_run("jacobians", x, weight, want_x, want_w)

    def _exact_run(self, kind: str, x: torch.Tensor, weight: torch.Tensor, want_x: bool = True,
                   want_w: bool = True):
        """One call of the engines (Jacobians by the SPSA method where it is the gradient)."""
        if kind == "jacobians" and self._spsa is not None:
            return self._spsa_jacobians(x, weight, want_x, want_w)
        return self._engines.run(kind, x, weight, want_x, want_w)

    def _jacobians(self, x: torch.Tensor, weight: torch.Tensor, want_x: bool, want_w: bool):
        """The wanted Jacobians alone, as qiskit-machine-learning's ``backward`` computes them: no
        forward pass (so no forward draws) where the draws or a gradient primitive of its own allow,
        and nothing where no gradient is wanted."""
        if not (want_x or want_w):
            return []
        if self._draws is not None:
            return self._draws.differentiate(self._exact_run, self.description, x, weight, want_x, want_w,
                                             self.input_gradients, outputs=False)[1]
        if self._gradient_engines is not None and self._spsa is None:
            return self._gradient_engines.run("jacobians", x, weight, want_x, want_w)[1]
        return self.differentiate(x, weight, want_x, want_w)[1]

    def _spsa_jacobians(self, x: torch.Tensor, weight: torch.Tensor, want_x: bool, want_w: bool):
        """Outputs and SPSA Jacobians from one call (one job on hardware): the batch, then the
        perturbed points (their own PUBs where a primitive runs them at another precision); two
        calls where the gradient has a primitive of its own."""
        device, gradient_chain = self.spec.device, self._gradient_engines

        def values(rows_x, rows_w):
            with torch.no_grad():
                if gradient_chain is not None:  # the perturbed points on the gradient's own primitive
                    out = self._engines.run("values", rows_x[:x.shape[0]], rows_w[:x.shape[0]])
                    return torch.cat([out, gradient_chain.run("values", rows_x[x.shape[0]:],
                                                              rows_w[x.shape[0]:]).to(out)])
                if not getattr(device, "separate_gradient_circuits", False):
                    return self._engines.run("values", rows_x, rows_w)
                # the batch's rows at the forward precision, the perturbed ones at the gradient's
                with device.gradient_circuits(first=x.shape[0]):
                    return self._engines.run("values", rows_x, rows_w)

        return spsa_jacobians(values, self._spsa, x, weight, self.description.output_size, want_x, want_w)

    def forward_for_vjp(self, x: torch.Tensor, weight: torch.Tensor):
        """``(outputs, pending)`` when the engine in play computes vector-Jacobian products itself,
        for :meth:`vjp` in the backward pass; None when eager Jacobians serve (:meth:`differentiate`;
        see :meth:`~qnn_torch.engines.EngineChain.run`)."""
        if self._spsa is not None or self._draws is not None:
            return None
        if self._gradient_engines is None:
            return self._engines.run("vjp", x, weight)
        pending = self._gradient_engines.run("vjp", x, weight)
        if pending is None:
            return None
        with torch.no_grad():  # the outputs from the network's primitive, as qiskit-machine-learning's
            return self._engines.run("values", x, weight), pending[1]

    def vjp(self, saved, grad_output: torch.Tensor, want_x: bool, want_w: bool) -> list[torch.Tensor]:
        """The gradients ``grad_output^T J`` with respect to the inputs ``(B, I)`` and/or the
        weights ``(P,)`` for ``saved`` from :meth:`forward_for_vjp`."""
        return saved(grad_output, want_x, want_w)

    # ------------------------------------------------------------------ NumPy in, NumPy out

    def _validate_input(self, input_data) -> tuple[np.ndarray, tuple[int, ...]]:
        """Rows ``(batch, num_inputs)``, finite, and ``(*batch, num_inputs)``: the leading dimensions
        the outputs take (``(1,)`` for one sample: a 1-D input, a number for the one input of a
        network, None for a network without inputs)."""
        check_real_dtype(input_data, "input_data")
        x, batch = input_rows(input_data, self.num_inputs)
        return x.numpy(), (*batch, self.num_inputs)

    def _validate_weights(self, weights) -> np.ndarray:
        check_real_dtype(weights, "weights")
        return weight_vector(weights, self.num_weights).numpy()

    def _forward(self, input_data: np.ndarray, weights: np.ndarray):
        """Outputs ``(batch, *output_shape)`` in float64 without gradients, NumPy in and out, through
        the engine chain; a ``sparse.COO`` array for a sparse network.

        The public :meth:`forward` (qiskit-machine-learning's, from
        :class:`~qnn_torch.qnn.base.NeuralNetwork`) checks ``input_data`` (finite; shape
        ``(num_inputs,)``, ``(..., num_inputs)``, a number for one input, None without inputs) and
        ``weights`` (``(num_weights,)``, None without weights) and gives the outputs the shape
        ``(batch, *output_shape)``, or ``(*input_data.shape[:-1], *output_shape)`` for inputs of
        more than two dimensions: a ``QiskitMachineLearningError`` (a ``ValueError``) names a wrong
        last dimension, a ``ValueError`` wrong weights or non-finite values, a ``TypeError`` complex
        or bool values.
        """
        with torch.no_grad():
            out = self.evaluate(torch.as_tensor(input_data), torch.as_tensor(weights))
        out = out.numpy().astype(np.float64, copy=False).reshape(-1, *self.output_shape)
        return to_coo(out) if self.sparse else out

    def _backward(self, input_data: np.ndarray, weights: np.ndarray):
        """Per-sample gradients, NumPy in and out, as qiskit-machine-learning's ``backward``: the
        input gradients ``(batch, *output_shape, num_inputs)`` (None unless ``input_gradients`` and
        the network has inputs) and the weight gradients ``(batch, *output_shape, num_weights)``
        (None without weights); ``sparse.COO`` arrays for a sparse network. The public
        :meth:`backward` checks and shapes as :meth:`forward` does (see :meth:`_forward`)."""
        want_x, want_w = self.input_gradients and self.num_inputs > 0, self.num_weights > 0
        jacobians = self._jacobians(torch.as_tensor(input_data), torch.as_tensor(weights), want_x, want_w)
        grads = iter(j.numpy().astype(np.float64, copy=False).reshape(-1, *self.output_shape, j.shape[-1])
                     for j in jacobians)
        grads = [(next(grads) if want else None) for want in (want_x, want_w)]
        return tuple(to_coo(g) if self.sparse and g is not None else g for g in grads)

    def __repr__(self) -> str:
        # never raises, also for a network whose construction failed half way (a traceback with
        # locals shows it)
        def part(read):
            try:
                return read()
            except Exception:  # noqa: BLE001 - an attribute not set yet
                return "?"

        return (
            f"{type(self).__name__}(num_qubits={part(lambda: self.num_qubits)}, "
            f"feature_map={part(lambda: self.feature_map.name)}, ansatz={part(lambda: self.ansatz.name)}, "
            f"device={part(lambda: repr(self.spec.label))}, shots={part(lambda: self.spec.shots)}, "
            f"engine={part(lambda: repr(self.engine))})"
        )


def check_sparse(network: QuantumNeuralNetwork, sparse) -> bool:
    """Whether ``network`` is sparse: ``sparse`` checked, and the ``sparse`` package there when it is.
    Only probability networks take the argument, as in qiskit-machine-learning (whose
    ``EstimatorQNN`` has no ``sparse`` argument)."""
    if sparse is None:
        return False
    name = type(network).__name__
    if not network._probabilities:
        raise TypeError(f"{name} takes no sparse argument (its outputs are expectation values, dense, as in "
                        f"qiskit-machine-learning); got sparse={sparse!r}.")
    if not isinstance(sparse, (bool, np.bool_)):
        raise TypeError(f"sparse must be True or False; got {sparse!r}.")
    if sparse:
        require_sparse(f"{name}(sparse=True)")
    return bool(sparse)
