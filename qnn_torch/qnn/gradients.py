"""The ``gradient=`` argument: qiskit-machine-learning's gradient objects, or qnn_torch's :class:`SPSA`.

=========================================  ===============================================
``gradient=``                              how qnn_torch differentiates
=========================================  ===============================================
None                                       exact engines (adjoint) for an exact primitive or
                                           device; parameter-shift on a sampling one
``ParamShift{Estimator,Sampler}Gradient``  the same: exact where the primitive is exact (the
                                           same values), parameter-shift through the primitive
                                           where it samples (the same statistics)
``LinComb{Estimator,Sampler}Gradient``     exact where the primitive is exact (the same values);
                                           where it samples, parameter-shift through it, with a
                                           warning (the same mean, another variance)
``SPSA{Estimator,Sampler}Gradient``        :class:`SPSA` with its ``epsilon``, ``batch_size``
                                           and random generator: the same draws, the same
                                           estimates
``qnn_torch.SPSA(...)``                    SPSA, without qiskit-machine-learning
=========================================  ===============================================

A qiskit-machine-learning gradient brings its own primitive, and its Jacobians run there, as in
qiskit-machine-learning: on the network's route when it is the network's primitive (or both are
exact), else on a second route, the network's outputs still from the network's primitive (see
:mod:`qnn_torch.qnn.qiskit_arguments`).
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass

from .spsa import SPSA

__all__ = ["ACCEPTED_GRADIENTS", "GradientChoice", "resolve_gradient"]

ACCEPTED_GRADIENTS = (
    "None, qnn_torch.SPSA(...), or a qiskit-machine-learning gradient: ParamShiftEstimatorGradient, "
    "LinCombEstimatorGradient, SPSAEstimatorGradient (EstimatorQNN); ParamShiftSamplerGradient, "
    "LinCombSamplerGradient, SPSASamplerGradient (SamplerQNN)"
)
"""str: what ``gradient=`` accepts, for error messages."""

_FAMILIES = ("ParamShift", "LinComb", "SPSA")


@dataclass(frozen=True)
class GradientChoice:
    """A resolved ``gradient=``.

    Attributes:
        given: the argument as given.
        family (str or None): ``"ParamShift"``, ``"LinComb"``, ``"SPSA"`` or None (default).
        primitive: the gradient's own primitive (qiskit-machine-learning's), or None.
        spsa (SPSA or None): the SPSA method, for ``family == "SPSA"``.
    """

    given: object
    family: str | None
    primitive: object
    spsa: SPSA | None


def _qiskit_ml_family(gradient, kind: str) -> str | None:
    """The family of a qiskit-machine-learning gradient of ``kind``, else None."""
    cls = type(gradient)
    if not cls.__module__.startswith("qiskit_machine_learning.gradients"):
        return None
    suffix = "EstimatorGradient" if kind == "estimator" else "SamplerGradient"
    for klass in cls.__mro__:
        for family in _FAMILIES:
            if klass.__name__ == family + suffix:
                return family
    return None


def resolve_gradient(gradient, kind: str, network: str) -> GradientChoice:
    """Resolve ``gradient=`` for a network of ``kind`` (``"estimator"`` or ``"sampler"``).

    Raises:
        TypeError: for anything else than :data:`ACCEPTED_GRADIENTS` of the network's kind (the
            message names ``gradient``, what was given and what is accepted).
    """
    if gradient is None:
        return GradientChoice(None, None, None, None)
    if isinstance(gradient, SPSA):
        return GradientChoice(gradient, "SPSA", None, gradient)
    family = _qiskit_ml_family(gradient, kind)
    if family is None:
        raise TypeError(f"gradient of {network} must be {ACCEPTED_GRADIENTS}; got {gradient!r} "
                        f"({type(gradient).__name__}).")
    from .._compat import qiskit_ml_gradient_state

    state = qiskit_ml_gradient_state(gradient, kind)
    spsa = None
    if family == "SPSA":
        spsa = SPSA(state["epsilon"], state["batch_size"], per_output=kind == "estimator")
        spsa.rng = copy.deepcopy(state["rng"])  # its draws from now on, the object itself untouched
    return GradientChoice(gradient, family, state["primitive"], spsa)


def warn_lin_comb(choice: GradientChoice, network: str, stacklevel: int = 4) -> None:
    """Say that a linear-combination gradient runs as parameter shifts on a sampling primitive."""
    if choice.family == "LinComb":
        warnings.warn(f"{network}: {type(choice.given).__name__} on a sampling primitive runs as "
                      "parameter-shift circuits through the same primitive: the same expected "
                      "gradient, another variance (the Hadamard-test circuits are not built).",
                      UserWarning, stacklevel=stacklevel)
