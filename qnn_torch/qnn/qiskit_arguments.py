"""qiskit-machine-learning's run arguments: ``estimator=``/``sampler=``, ``gradient=``, ``pass_manager=``
and ``default_precision=``, turned into a network's run options.

========================================================  =========================================
given                                                     runs on
========================================================  =========================================
``None``                                                  the ``device=`` argument (default: the
                                                          exact engines), as without these arguments
``QMLEstimator()``/``QMLSampler()`` (exact modes),        the exact engines (adjoint gradients)
``StatevectorEstimator`` at precision 0
``StatevectorEstimator``/``QMLEstimator`` with a          the exact engines, then the primitive's
precision, ``StatevectorSampler``/``QMLSampler`` with     own draws (:mod:`qnn_torch.qnn.
shots (no pass manager; parameter-shift gradients, or     statevector_draws`): with its seed,
any gradient where the estimator's draws cancel)          qiskit-machine-learning's numbers
any other V2 primitive: ``qiskit_aer``'s                  :class:`~qnn_torch.devices.primitive.
``EstimatorV2``/``SamplerV2``, ``qiskit_ibm_runtime``'s   PrimitiveDevice`: the primitive itself,
(backend, ``Session`` or ``Batch`` mode),                 all circuits of a step in one ``run`` call
``BackendEstimatorV2``/``BackendSamplerV2``, your own,    (one job), parameter-shift gradients in
and the statevector ones in the cases above not covered   the same call
========================================================  =========================================

A qiskit-machine-learning gradient with a primitive of its own (``ParamShiftSamplerGradient(
sampler=QMLSampler())`` beside ``sampler=SamplerV2(mode=session)``) runs as qiskit-machine-learning
runs it: the network's outputs on the network's primitive, its Jacobians on the gradient's (the
exact engines for an exact one, else that primitive's own device), two routes and so two jobs per
step where both sample. With the network's own primitive (or none) a step stays one job.

An ``EstimatorQNN``'s forward pass runs at its ``default_precision`` (qiskit-machine-learning's
default 0.015625: a ``StatevectorEstimator`` adds Gaussian noise of that standard deviation) and
its gradient circuits at the estimator's own default precision, as qiskit-machine-learning's
gradients run them; exact primitives ignore it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from numbers import Real

from .gradients import GradientChoice, resolve_gradient, warn_lin_comb

__all__ = ["DEFAULT_PRECISION", "QiskitArguments", "take_qiskit_arguments"]

DEFAULT_PRECISION = 0.015625
"""float: qiskit-machine-learning's ``EstimatorQNN`` default precision."""

_RUN_OPTIONS = {"device": "default.qubit", "shots": None, "device_options": None, "diff_method": None}


@dataclass(frozen=True)
class QiskitArguments:
    """A network's qiskit-machine-learning run arguments, resolved.

    Attributes:
        kind (str): ``"estimator"`` or ``"sampler"``.
        primitive: the primitive as given (None: none).
        gradient (GradientChoice): the resolved ``gradient=``.
        default_precision (float or None): an estimator network's precision; None for samplers.
        pass_manager: the pass manager as given.
    """

    kind: str
    primitive: object
    gradient: GradientChoice
    default_precision: float | None
    pass_manager: object

    draws: object = None
    """StatevectorDraws or None: a sampling statevector primitive's draws on the exact engines."""

    def run_options(self, form, options: dict, network: str) -> QiskitArguments:
        """Put the primitive's route into a network's run ``options`` (``device`` and the rest).

        Args:
            form (CircuitForm): the network's circuit.
            options (dict): the network's run options (changed in place).
            network (str): the network's class name, for messages.

        Returns:
            QiskitArguments: these arguments, with :attr:`draws` where a statevector primitive's
            draws run on the exact engines.

        Raises:
            ValueError: for ``device=``, ``shots=``, ``device_options=`` or ``diff_method=`` given with
                a primitive that runs elsewhere.
        """
        if self.primitive is None:
            return self
        from ..devices.primitive import exact_primitive, primitive_route
        from .statevector_draws import statevector_draws

        own = self.own_gradient_primitive
        # a gradient on the network's primitive shares its route: sampled gradient circuits put an
        # exact forward pass on the primitive's device too, so that a step stays one job
        gradient_exact = own is not None or exact_primitive(self.primitive, None)
        draws = None
        if not (exact_primitive(self.primitive, self.default_precision) and gradient_exact):
            draws = statevector_draws(self.primitive, self.kind, self.default_precision, self.gradient, form,
                                      self.pass_manager)  # None beside a gradient primitive of its own
        if draws is not None:
            exact, label = True, f"{type(self.primitive).__name__} (its draws on the exact engines)"
        else:
            route = primitive_route(self.primitive, self.kind, form.num_qubits, self.default_precision,
                                    gradient_exact)
            exact, label = route.exact, route.label
        for name, default in _RUN_OPTIONS.items():
            value = options.get(name, default)
            if value is default or (exact and value == default):
                continue
            raise ValueError(f"{network}: give {self.kind}= or {name}=, not both ({self.kind} "
                             f"{label} decides where the network runs); got {name}={value!r}.")
        if not exact:
            options["device"] = route.spec
            if own is None:
                warn_lin_comb(self.gradient, network)
        return replace(self, draws=draws)

    @property
    def own_gradient_primitive(self):
        """The gradient's primitive where it is not the network's (None: none, or the same object)."""
        theirs = self.gradient.primitive
        return None if theirs is None or theirs is self.primitive else theirs

    def gradient_device(self, num_qubits: int, network_exact: bool, network: str):
        """Where a gradient with a primitive of its own runs, as qiskit-machine-learning runs it: the
        ``device=`` of a second engine chain for the Jacobians and vector-Jacobian products.

        Args:
            num_qubits (int): the circuit's qubits.
            network_exact (bool): whether the network's own chain simulates exactly.
            network (str): the network's class name, for messages.

        Returns:
            None when the network's chain computes the gradients too (no primitive of its own, or
            both exact); ``"default.qubit"`` (the exact engines) for an exact gradient primitive;
            else the gradient primitive's own device (its circuits at its own default precision or
            shots, as qiskit-machine-learning's gradients run them).

        Raises:
            TypeError: for a gradient primitive of the wrong kind.
        """
        own = self.own_gradient_primitive
        if own is None:
            return None
        from ..devices.primitive import primitive_route

        route = primitive_route(own, self.kind, num_qubits)
        if route.exact:
            return None if network_exact else "default.qubit"
        warn_lin_comb(self.gradient, network, stacklevel=6)
        return route.spec


def take_qiskit_arguments(kind: str, network: str, kwargs: dict) -> QiskitArguments:
    """Take qiskit-machine-learning's run arguments out of a network's keyword arguments, and
    transpile its Qiskit circuit by ``pass_manager`` as qiskit-machine-learning does (unless the
    circuit is transpiled already).

    Raises:
        TypeError: for a primitive, gradient or pass manager of the wrong kind, the other network's
            primitive, or a ``default_precision`` that is not a number.
        ValueError: for a negative ``default_precision``, or ``pass_manager`` without a Qiskit
            circuit.
    """
    other = "sampler" if kind == "estimator" else "estimator"
    if other in kwargs:
        raise TypeError(f"{network} takes {kind}=, not {other}=; got {other}={kwargs[other]!r}.")
    primitive = kwargs.pop(kind, None)
    gradient = resolve_gradient(kwargs.pop("gradient", None), kind, network)
    pass_manager = kwargs.pop("pass_manager", None)
    precision = None
    if kind == "estimator":
        precision = _check_precision(kwargs.pop("default_precision", DEFAULT_PRECISION))
    if pass_manager is not None:
        kwargs["circuit"] = _transpiled(kwargs.get("circuit"), pass_manager)
    return QiskitArguments(kind, primitive, gradient, precision, pass_manager)


def _check_precision(value) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"default_precision must be a number >= 0; got {value!r} ({type(value).__name__}).")
    if not value >= 0:
        raise ValueError(f"default_precision must be a number >= 0; got {value!r}.")
    return float(value)


def _transpiled(circuit, pass_manager):
    """``circuit`` run through ``pass_manager``, unless it has a layout already (qiskit-ml's rule)."""
    if not callable(getattr(pass_manager, "run", None)):
        raise TypeError(f"pass_manager must be a Qiskit pass manager (with a run method) or None; got "
                        f"{pass_manager!r} ({type(pass_manager).__name__}).")
    if not any(c.__name__ == "QuantumCircuit" for c in type(circuit).__mro__):
        raise ValueError(f"pass_manager transpiles a Qiskit QuantumCircuit given as circuit=; got "
                         f"circuit={circuit!r}.")
    if getattr(circuit, "layout", None) is not None:
        return circuit
    return pass_manager.run(circuit)
