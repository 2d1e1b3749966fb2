"""The tutorial's seeded data and initial weights, drawn in the seed's order."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["TutorialRandom", "tutorial_random"]


@dataclass(frozen=True)
class TutorialRandom:
    """Everything the first three tutorial parts draw from ``numpy.random.default_rng(seed)``.

    Attributes:
        X (numpy.ndarray): 20 points uniform in ``[-1, 1]^2``.
        y01 (numpy.ndarray): labels ``x0 + x1 >= 0`` in {0, 1}.
        y (numpy.ndarray): the same labels in {-1, +1}.
        w_estimator (numpy.ndarray): 8 initial weights of the estimator classifier.
        w_sampler (numpy.ndarray): 4 initial weights of the sampler classifier.
        X_reg (numpy.ndarray): 20 regression inputs in ``[-pi, pi]``, shape (20, 1).
        y_reg (numpy.ndarray): ``sin(X_reg)`` plus uniform noise of amplitude 0.2.
        w_regression (numpy.ndarray): 1 initial weight of the regression network.
    """

    X: np.ndarray
    y01: np.ndarray
    y: np.ndarray
    w_estimator: np.ndarray
    w_sampler: np.ndarray
    X_reg: np.ndarray
    y_reg: np.ndarray
    w_regression: np.ndarray


def _small_weights(rng, n):
    return 0.1 * (2 * rng.random(n) - 1)


def tutorial_random(seed: int = 42, num_samples: int = 20, noise: float = 0.2) -> TutorialRandom:
    """Draw the tutorial's data and weights in the order the seed tutorial draws them.

    Qiskit's ``algorithm_globals.random`` with seed 42 is ``numpy.random.default_rng(42)``; the
    draws are: classification points, the estimator's and the sampler's initial weights, the
    regression inputs and noise, the regression weight. Drawing everything here keeps each
    part's numbers the same whichever parts are run.

    **Example**

    >>> r = tutorial_random()
    >>> r.X.shape, r.w_estimator.shape, r.X_reg.shape
    ((20, 2), (8,), (20, 1))
    """
    rng = np.random.default_rng(seed)
    X = 2 * rng.random([num_samples, 2]) - 1
    y01 = 1 * (np.sum(X, axis=1) >= 0)
    w_estimator = _small_weights(rng, 8)
    w_sampler = _small_weights(rng, 4)
    X_reg = 2 * np.pi * rng.random([num_samples, 1]) - np.pi
    y_reg = np.sin(X_reg) + noise * (2 * rng.random([num_samples, 1]) - 1)
    w_regression = _small_weights(rng, 1)
    return TutorialRandom(X, y01, 2 * y01 - 1, w_estimator, w_sampler, X_reg, y_reg, w_regression)
