"""qiskit-machine-learning's run arguments: ``estimator=``/``sampler=``, ``gradient=``, ``pass_manager=``
and ``default_precision=``, turned into a network's run options.

========================================================  =========================================
given                                                     runs on
========================================================  =========================================
``None``                                                  the ``device=`` argument (default: the
                                                          exact engines), as without these arguments
``QMLEstimator()``/``QMLSampler()`` (exact modes),        the exact engines (adjoint gradients)
``StatevectorEstimator`` at precision 0
any other V2 primitive: ``StatevectorEstimator`` at a     :class:`~qnn_torch.devices.primitive.
precision > 0, ``StatevectorSampler``, ``qiskit_aer``'s   PrimitiveDevice`: the primitive itself,
``EstimatorV2``/``SamplerV2``, ``qiskit_ibm_runtime``'s   all circuits of a step in one ``run`` call
(backend, ``Session`` or ``Batch`` mode),                 (one job), parameter-shift gradients in
``BackendEstimatorV2``/``BackendSamplerV2``, your own     the same call
========================================================  =========================================

An ``EstimatorQNN``'s forward pass runs at its ``default_precision`` (qiskit-machine-learning's
default 0.015625: a ``StatevectorEstimator`` adds Gaussian noise of that standard deviation) and
its gradient circuits at the estimator's own default precision, as qiskit-machine-learning's
gradients run them; exact primitives ignore it.
"""

from __future__ import annotations

from dataclasses import dataclass
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

    def run_options(self, num_qubits: int, options: dict, network: str) -> None:
        """Put the primitive's route into a network's run ``options`` (``device`` and the rest).

        Raises:
            ValueError: for ``device=``, ``shots=``, ``device_options=`` or ``diff_method=`` given with
                a primitive that runs elsewhere, or a gradient whose primitive runs elsewhere.
        """
        if self.primitive is None:
            return
        from ..devices.primitive import exact_primitive, primitive_route

        theirs = self.gradient.primitive
        gradient_exact = exact_primitive(self.primitive, None) if theirs is None or theirs is self.primitive \
            else exact_primitive(theirs, None)
        route = primitive_route(self.primitive, self.kind, num_qubits, self.default_precision, gradient_exact)
        if theirs is not None and theirs is not self.primitive and not (route.exact and gradient_exact):
            raise ValueError(f"gradient of {network} must use the network's {self.kind} (or both be exact): "
                             f"a network runs on one route; {self.kind} {route.label}, got a gradient "
                             f"with {type(theirs).__name__}.")
        for name, default in _RUN_OPTIONS.items():
            value = options.get(name, default)
            if value is default or (route.exact and value == default):
                continue
            raise ValueError(f"{network}: give {self.kind}= or {name}=, not both ({self.kind} "
                             f"{route.label} decides where the network runs); got {name}={value!r}.")
        if not route.exact:
            options["device"] = route.spec
            warn_lin_comb(self.gradient, network)


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
