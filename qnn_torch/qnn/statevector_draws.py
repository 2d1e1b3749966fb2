"""Qiskit's statevector primitives on the exact engines, with the primitives' own random draws.

``StatevectorEstimator`` (and qiskit-machine-learning's ``QMLEstimator`` given a precision) computes an
exact expectation value and returns ``rng.normal(value, precision)``; ``StatevectorSampler`` (and
``QMLSampler`` given shots) draws ``shots`` outcomes from the exact probabilities with ``rng.choice``.
Both take ``rng = numpy.random.default_rng(seed)`` afresh for every PUB (estimator) or every bound
circuit (sampler): an integer seed repeats the same draws each time, a ``numpy.random.Generator`` goes
on drawing, ``None`` brings fresh entropy. The exact part is what the exact engines compute, so a
network given such a primitive runs on them and then draws as the primitive would, in the order in
which qiskit-machine-learning's calls make it draw:

1. Forward pass. ``EstimatorQNN``: one PUB per observable over the batch, at the network's
   ``default_precision`` (none at precision 0). ``SamplerQNN``: one PUB, one bound circuit per sample.
2. Gradients, qiskit-machine-learning's parameter-shift rule. Its gradient circuit gives every gate
   angle a parameter of its own (:func:`~qnn_torch._compat.qiskit_ml_gradient_circuit`); per
   observable (estimator) and sample it runs one PUB per angle shifted by +pi/2, then one per angle
   shifted by -pi/2, at the primitive's own default precision or shots, and sums the angles'
   differences by the chain rule. An estimator's shifted values are exact values plus noise, so its
   gradient is the exact Jacobian plus ``precision * (z_plus - z_minus) / 2`` carried through the
   chain rule (with an integer seed every PUB draws the same ``z``: the noise cancels, the gradient is
   exact). A sampler's shifted probabilities are computed on the gradient circuit and sampled.

With the same seed (an integer, or a generator in the same state) the numbers are
qiskit-machine-learning's up to rounding; with ``seed=None`` they have the same distribution.
"""

from __future__ import annotations

from dataclasses import replace
from numbers import Integral

import numpy as np
import torch

__all__ = ["StatevectorDraws", "statevector_draws"]

_PRIMITIVES = {
    ("qiskit.primitives.statevector_estimator", "StatevectorEstimator"): "estimator",
    ("qiskit_machine_learning.primitives.estimator", "QMLEstimator"): "estimator",
    ("qiskit.primitives.statevector_sampler", "StatevectorSampler"): "sampler",
    ("qiskit_machine_learning.primitives.sampler", "QMLSampler"): "sampler",
}


def statevector_draws(primitive, kind: str, precision: float | None, gradient, form,
                      pass_manager) -> StatevectorDraws | None:
    """The draws of a sampling statevector primitive on the exact engines, or None where the
    primitive runs as given instead (another primitive; a pass manager; a gradient whose draws are
    not reproduced here: a linear-combination gradient with a precision, SPSA with noise that does
    not cancel, a sampler's SPSA; a circuit whose measured bits are not its qubits in order).

    Args:
        primitive: the network's ``estimator=`` or ``sampler=``, not exact.
        kind (str): ``"estimator"`` or ``"sampler"``.
        precision (float or None): an ``EstimatorQNN``'s ``default_precision``.
        gradient (GradientChoice): the resolved ``gradient=``.
        form (CircuitForm): the network's circuit.
        pass_manager: the ``pass_manager=`` argument.
    """
    if _PRIMITIVES.get((type(primitive).__module__, type(primitive).__name__)) != kind or pass_manager:
        return None
    if gradient.primitive is not None and gradient.primitive is not primitive:
        return None
    seed = primitive.seed
    if kind == "estimator":
        draws = StatevectorDraws(kind, seed, form, precision=precision,
                                 gradient_precision=float(primitive.default_precision))
        noisy = draws.gradient_draws
        if gradient.family == "LinComb" and draws.gradient_precision != 0 or \
                gradient.family == "SPSA" and noisy:
            return None
    else:
        draws = StatevectorDraws(kind, seed, form, shots=int(primitive.default_shots))
        if gradient.family not in (None, "ParamShift") or not _qubits_in_order(form):
            return None
        noisy = True
    if noisy and gradient.family in (None, "ParamShift") and not _gradient_circuit_available(form):
        return None
    return draws


def _qubits_in_order(form) -> bool:
    """Whether a sampler network's outcomes are its basis states (bit ``i`` reads qubit ``i``)."""
    converted = form.converted
    if converted is None:
        return True
    outcomes = converted.outcomes()
    return converted.num_virtual_qubits == form.num_qubits and \
        np.array_equal(outcomes, np.arange(2**form.num_qubits))


def _gradient_circuit_available(form) -> bool:
    if form.qiskit_circuit is None:
        return False
    try:
        import qiskit_machine_learning.gradients  # noqa: F401
    except ImportError:
        return False
    return True


class StatevectorDraws:
    """A statevector primitive's draws, on outputs and Jacobians the exact engines computed.

    Args:
        kind (str): ``"estimator"`` or ``"sampler"``.
        seed (int or numpy.random.Generator or None): the primitive's ``seed``.
        form (CircuitForm): the network's circuit.
        precision (float or None): the forward pass's precision (estimators).
        gradient_precision (float or None): the gradient circuits' precision (estimators: the
            primitive's default).
        shots (int or None): the shots of every PUB (samplers: the primitive's default).

    **Example**

    >>> import numpy as np
    >>> draws = StatevectorDraws("estimator", 7, None, precision=0.1, gradient_precision=0.0)
    >>> noisy = draws.estimator_outputs(np.zeros((1, 2)))
    >>> bool(noisy[0, 0] == noisy[0, 1] == 0.1 * np.random.default_rng(7).standard_normal())
    True
    """

    def __init__(self, kind: str, seed, form, *, precision: float | None = None,
                 gradient_precision: float | None = None, shots: int | None = None):
        self.kind = kind
        self.seed = seed
        self.precision = precision
        self.gradient_precision = gradient_precision
        self.shots = shots
        self._form = form
        self._structure = None  # qiskit-machine-learning's gradient circuit, built on first use
        self._probability_chain = None  # samplers with a head: the probabilities before it
        self._gradient_network = None  # samplers: the engines on the gradient circuit

    @property
    def gradient_draws(self) -> bool:
        """bool: whether the gradient draws (a sampler always; an estimator with a precision and a
        seed that is not an integer, whose noise does not cancel)."""
        if self.kind == "sampler":
            return True
        return self.gradient_precision != 0 and not _integer(self.seed)

    def _rng(self) -> np.random.Generator:
        """The generator of one PUB (estimator) or bound circuit (sampler), as the primitive makes it."""
        return np.random.default_rng(self.seed)

    # ------------------------------------------------------------------ the forward pass

    def estimator_outputs(self, values: np.ndarray) -> np.ndarray:
        """Expectation values ``(B, K)`` with the noise of one PUB per observable."""
        if not self.precision:
            return values
        return np.stack([self._rng().normal(values[:, k], self.precision)
                         for k in range(values.shape[1])], axis=1)

    def sample(self, probabilities: np.ndarray) -> np.ndarray:
        """Sampled probabilities ``(N, 2**n)``: ``shots`` outcomes per row, one generator per row."""
        size = probabilities.shape[1]
        probabilities = np.clip(probabilities, 0.0, None)
        counts = [np.bincount(self._rng().choice(size, p=row, size=self.shots), minlength=size)
                  for row in probabilities]
        return np.asarray(counts, dtype=np.float64) / self.shots

    def outputs(self, run, description, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """The network's outputs as the primitive returns them; with an autograd graph where one is
        wanted (the exact graph, the draws a constant offset).

        Args:
            run (Callable): the network's exact ``run(kind, x, weight, ...)``.
            description (CircuitDescription): the network's circuit description.
            x (torch.Tensor): inputs ``(B, I)``.
            weight (torch.Tensor): weights ``(P,)`` or ``(B, P)``.
        """
        with torch.no_grad():
            exact, drawn = self._forward(run, description, x, weight)
        if torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad):
            return run("values", x, weight) + (drawn - exact)
        return drawn

    def _forward(self, run, description, x, weight) -> tuple[torch.Tensor, torch.Tensor]:
        """The exact outputs and the drawn ones, on ``x``'s device."""
        exact = run("values", x, weight)
        if self.kind == "estimator":
            drawn = self.estimator_outputs(exact.detach().to(torch.float64).cpu().numpy())
        else:
            drawn = self.sample(self._probabilities(run, description, x, weight))
            if description.head is not None:
                drawn = drawn @ description.head.cpu().numpy()
        return exact, torch.as_tensor(drawn, dtype=exact.dtype, device=exact.device)

    def _probabilities(self, run, description, x, weight) -> np.ndarray:
        """The exact probabilities ``(B, 2**n)`` in Qiskit's order, before a sampler's head."""
        if description.head is None:
            out = run("values", x, weight)
        else:
            if self._probability_chain is None:
                from ..engines import EngineChain

                bare = replace(description, head=None, output_size=2**description.num_qubits)
                self._probability_chain = EngineChain(bare, owner="SamplerQNN")
            out = self._probability_chain.run("values", x, weight)
        return out.detach().to(torch.float64).cpu().numpy()

    # ------------------------------------------------------------------ gradients

    def differentiate(self, run, description, x: torch.Tensor, weight: torch.Tensor, want_x: bool,
                      want_w: bool, input_gradients: bool, outputs: bool = True):
        """Outputs and Jacobians as qiskit-machine-learning's forward and backward passes give them
        on the primitive (the outputs first: their draws come first).

        Args:
            run (Callable): the network's exact ``run(kind, x, weight, want_x, want_w)``.
            description (CircuitDescription): the network's circuit description.
            x (torch.Tensor): inputs ``(B, I)``.
            weight (torch.Tensor): weights ``(P,)``.
            want_x (bool): whether the input Jacobian is wanted.
            want_w (bool): whether the weight Jacobian is wanted.
            input_gradients (bool): the network's ``input_gradients`` (qiskit-machine-learning
                shifts the inputs' angles, and draws for them, only then).
            outputs (bool): whether the outputs are drawn (False: qiskit-machine-learning's
                ``backward``, which runs no forward pass; the exact outputs are returned).

        Returns:
            tuple: the outputs ``(B, K)`` and the list of wanted Jacobians, as
            :meth:`~qnn_torch.qnn.QuantumNeuralNetwork.differentiate`.
        """
        with torch.no_grad():
            if self.kind == "estimator":
                out, jacobians = run("jacobians", x, weight, want_x, want_w)
                if outputs:
                    out = torch.as_tensor(self.estimator_outputs(out.to(torch.float64).cpu().numpy()),
                                          dtype=out.dtype, device=out.device)
                if self.gradient_draws:
                    jacobians = self._noisy(jacobians, x, weight, want_x, want_w, input_gradients)
                return out, jacobians
            drawn = self._forward(run, description, x, weight)[1] if outputs else run("values", x, weight)
            return drawn, self._sampled_jacobians(description, x, weight, want_x, want_w, input_gradients)

    def _parameters(self, want_x: bool, input_gradients: bool) -> tuple[list, int]:
        """The circuit parameters qiskit-machine-learning differentiates, and how many are inputs."""
        form = self._form
        if input_gradients or want_x:
            return list(form.input_params) + list(form.weight_params), len(form.input_params)
        return list(form.weight_params), 0

    def _chain_rule(self, parameters: list, x: np.ndarray, w: np.ndarray) -> tuple[list, np.ndarray]:
        """The gate angles that depend on ``parameters`` (in qiskit-machine-learning's order) and the
        coefficients ``(B, len(parameters), angles)`` of the chain rule at each sample's values."""
        if self._structure is None:
            from .._compat import qiskit_ml_gradient_circuit

            self._structure = qiskit_ml_gradient_circuit(self._form.qiskit_circuit)
        _, parameter_map, _ = self._structure
        angles = list(dict.fromkeys(g for p in parameters for g, _ in parameter_map.get(p, [])))
        index = {g: i for i, g in enumerate(angles)}
        coefficients = np.zeros((len(x), len(parameters), len(angles)))
        for b, values in enumerate(self._bindings(x, w)):
            for j, parameter in enumerate(parameters):
                for g, coefficient in parameter_map.get(parameter, []):
                    coefficients[b, j, index[g]] += _bound(coefficient, values)
        return angles, coefficients

    def _bindings(self, x: np.ndarray, w: np.ndarray) -> list[dict]:
        """Each sample's ``{circuit parameter: value}``."""
        names = list(self._form.input_params) + list(self._form.weight_params)
        return [dict(zip(names, np.concatenate([xi, wi]))) for xi, wi in zip(x, w)]

    def _noisy(self, jacobians, x, weight, want_x, want_w, input_gradients) -> list[torch.Tensor]:
        """Exact Jacobians plus the noise of the shifted PUBs' draws, carried by the chain rule."""
        if not jacobians:
            return jacobians
        xs, ws = _rows(x, weight)
        parameters, num_inputs = self._parameters(want_x, input_gradients)
        angles, coefficients = self._chain_rule(parameters, xs, ws)
        # one draw per PUB: observable by observable, sample by sample, +pi/2 shifts then -pi/2;
        # a generator goes on drawing, None brings fresh entropy (the same distribution)
        z = self._rng().standard_normal((jacobians[0].shape[1], len(xs), 2, len(angles)))
        noise = self.gradient_precision / 2 * np.einsum("bjg,kbg->bkj", coefficients, z[:, :, 0] - z[:, :, 1])
        parts = [noise[..., :num_inputs]] * want_x + [noise[..., num_inputs:]] * want_w
        return [j + torch.as_tensor(n, dtype=j.dtype, device=j.device) for j, n in zip(jacobians, parts)]

    def _sampled_jacobians(self, description, x, weight, want_x, want_w,
                           input_gradients) -> list[torch.Tensor]:
        """A sampler's parameter-shift Jacobians, each shifted circuit sampled as qiskit-ml samples it."""
        xs, ws = _rows(x, weight)
        parameters, num_inputs = self._parameters(want_x, input_gradients)
        angles, coefficients = self._chain_rule(parameters, xs, ws)
        circuit, _, angle_map = self._structure
        order = list(circuit.parameters)  # the gradient circuit binds its angles in this order
        position = [order.index(g) for g in angles]
        rows = []
        for values in self._bindings(xs, ws):
            base = np.array([_bound(angle_map[g], values) for g in order])
            shifts = np.zeros((len(angles), len(order)))
            shifts[np.arange(len(angles)), position] = np.pi / 2
            rows.extend([base + shifts, base - shifts])
        sampled = self.sample(self._gradient_probabilities(np.concatenate(rows)))
        sampled = sampled.reshape(len(xs), 2, len(angles), -1)
        per_angle = sampled[:, 0] / 2 - sampled[:, 1] / 2  # (B, angles, 2**n)
        jac = np.einsum("bjg,bgs->bsj", coefficients, per_angle)
        if description.head is not None:
            jac = np.einsum("bsj,so->boj", jac, description.head.cpu().numpy())
        jac = torch.as_tensor(jac, device=x.device)
        parts = [jac[..., :num_inputs]] * want_x + [jac[..., num_inputs:]] * want_w
        return [part.contiguous() for part in parts]

    def _gradient_probabilities(self, rows: np.ndarray) -> np.ndarray:
        """The gradient circuit's exact probabilities ``(N, 2**n)`` at its angles ``rows``."""
        if self._gradient_network is None:
            self._gradient_network = _probabilities_chain(self._structure[0])
        w = torch.as_tensor(rows, dtype=torch.float64)
        with torch.no_grad():
            out = self._gradient_network.run("values", torch.zeros((len(rows), 0), dtype=torch.float64), w)
        return out.numpy()


def _probabilities_chain(circuit):
    """The exact engines on a Qiskit circuit whose parameters are all weights: its probabilities in
    Qiskit's order (the last measurements removed)."""
    import pennylane as qml

    from ..circuits import CircuitDescription
    from ..circuits.qiskit_circuit import QiskitCircuit
    from ..engines import EngineChain

    circuit = circuit.remove_final_measurements(inplace=False)
    converted = QiskitCircuit(circuit, input_params=[], weight_params=list(circuit.parameters))
    wires = list(reversed(range(circuit.num_qubits)))  # Qiskit's qubit 0 is the least significant bit

    def body(inputs, weight):
        converted(inputs, weight)
        return qml.probs(wires=wires)

    description = CircuitDescription(num_qubits=circuit.num_qubits, num_inputs=0,
                                     num_weights=circuit.num_parameters, circuit=body, probabilities=True,
                                     head=None, output_size=2**circuit.num_qubits)
    return EngineChain(description, owner="SamplerQNN")


def _integer(seed) -> bool:
    return isinstance(seed, Integral) and not isinstance(seed, bool)


def _bound(expression, values: dict) -> float:
    """A coefficient or angle (a number or a Qiskit parameter expression) at ``values``."""
    if not hasattr(expression, "parameters"):
        return float(expression)
    return float(expression.bind({p: values[p] for p in expression.parameters}))


def _rows(x: torch.Tensor, weight: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Inputs ``(B, I)`` and per-sample weights ``(B, P)`` as float64 NumPy arrays."""
    w = weight.expand(x.shape[0], -1) if weight.dim() == 1 else weight
    return (x.detach().to(torch.float64).cpu().numpy(), w.detach().to(torch.float64).cpu().numpy())
