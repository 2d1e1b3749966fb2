"""SPSA gradients: two circuits per sample and draw, however many parameters.

The simultaneous-perturbation estimate of a network's Jacobian at parameters ``theta`` (its inputs
followed by its weights) draws a direction ``delta`` of random signs and evaluates the network at
``theta + epsilon * delta`` and ``theta - epsilon * delta``::

    J[k, j] ~ mean over the draws of (f_k(theta + epsilon * delta) - f_k(theta - epsilon * delta))
              / (2 * epsilon) * delta[j]

It is unbiased to first order in ``epsilon`` only along the drawn directions: each draw is a noisy
estimate, ``batch_size`` draws are averaged. Its cost does not grow with the number of weights: on
hardware a training step is one job of ``2 * batch_size`` circuits per sample, where the
parameter-shift rule needs ``2 * num_parameters``.

The draws replicate qiskit-machine-learning's ``SPSAEstimatorGradient``/``SPSASamplerGradient``:
the same seed gives the same directions, in the same order, so that the same estimates come out
(``EstimatorQNN`` draws one direction per sample and output, as qiskit-machine-learning runs one
circuit per observable; qnn_torch's own ``SPSA`` draws one per sample and measures every output in
the same two circuits).
"""

from __future__ import annotations

from collections.abc import Callable
from numbers import Integral, Real

import numpy as np
import torch

__all__ = ["SPSA", "spsa_jacobians"]


class SPSA:
    """The SPSA gradient method, for ``gradient=`` of :class:`~qnn_torch.EstimatorQNN` and
    :class:`~qnn_torch.SamplerQNN`.

    Args:
        epsilon (float): the size of the perturbation (positive).
        batch_size (int): the number of directions drawn and averaged per sample and step.
        seed (int or numpy.random.Generator or None): the random directions' seed; the
            generator advances with every step, as qiskit-machine-learning's does.

    Raises:
        ValueError: for an ``epsilon`` that is not positive or a ``batch_size`` below 1.
        TypeError: for arguments of the wrong type.

    **Example**

    >>> import qnn_torch
    >>> qnn = qnn_torch.EstimatorQNN(2, gradient=qnn_torch.SPSA(epsilon=0.01, batch_size=2, seed=7))
    >>> _, weight_grad = qnn.backward([0.1, 0.2], [0.5] * 8)
    >>> weight_grad.shape
    (1, 1, 8)
    """

    def __init__(self, epsilon: float = 1e-6, batch_size: int = 1, seed=None, *, per_output: bool = False):
        if isinstance(epsilon, bool) or not isinstance(epsilon, Real):
            raise TypeError(f"epsilon must be a positive number; got {epsilon!r} ({type(epsilon).__name__}).")
        if not epsilon > 0:
            raise ValueError(f"epsilon must be a positive number; got {epsilon!r}.")
        if isinstance(batch_size, bool) or not isinstance(batch_size, Integral):
            raise TypeError(f"batch_size must be a positive integer; got {batch_size!r} "
                            f"({type(batch_size).__name__}).")
        if batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer; got {batch_size!r}.")
        if not (seed is None or isinstance(seed, (Integral, np.random.Generator))) or isinstance(seed, bool):
            raise TypeError(f"seed must be None, an integer or a numpy Generator; got {seed!r}.")
        self.epsilon = float(epsilon)
        self.batch_size = int(batch_size)
        self.per_output = bool(per_output)
        """bool: one direction per sample and output (qiskit-machine-learning's EstimatorQNN draws)
        rather than one per sample."""
        self.rng = np.random.default_rng(seed)
        """numpy.random.Generator: where the directions come from."""

    def directions(self, groups: int, size: int) -> np.ndarray:
        """``(groups, batch_size, size)`` random signs, drawn group by group, draw by draw, as
        qiskit-machine-learning draws them (``(-1) ** rng.integers(0, 2, size)``)."""
        draws = [(-1) ** self.rng.integers(0, 2, size) for _ in range(groups * self.batch_size)]
        return np.asarray(draws, dtype=np.float64).reshape(groups, self.batch_size, size)

    def __repr__(self) -> str:
        return f"SPSA(epsilon={self.epsilon!r}, batch_size={self.batch_size!r})"


def spsa_jacobians(values: Callable, spsa: SPSA, x: torch.Tensor, weight: torch.Tensor, output_size: int,
                   want_x: bool, want_w: bool) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The outputs at ``(x, weight)`` and SPSA estimates of the wanted Jacobians, from one call of
    ``values(rows_x, rows_w)`` (rows: the batch, then the perturbed points).

    Args:
        values (Callable): ``values(x, w)`` -> outputs ``(rows, output_size)`` for per-row weights.
        spsa (SPSA): the method and its generator.
        x (torch.Tensor): inputs ``(B, I)``.
        weight (torch.Tensor): weights ``(P,)`` or ``(B, P)``.
        output_size (int): ``K``, the outputs of one sample.
        want_x (bool): whether the input Jacobian ``(B, K, I)`` is wanted.
        want_w (bool): whether the weight Jacobian ``(B, K, P)`` is wanted.

    Returns:
        tuple: the outputs ``(B, K)`` and the list of wanted Jacobians, float64 on ``x``'s device.
    """
    batch, num_inputs = x.shape
    w = weight.expand(batch, -1) if weight.dim() == 1 else weight
    if not ((want_x and num_inputs) or (want_w and w.shape[1])):
        # nothing to estimate (no parameters, or none wanted): no draws, as qiskit-machine-learning
        # runs no gradient then, and Jacobians without columns
        out = values(x, w).detach().to(torch.float64)
        return out, [torch.zeros(batch, output_size, n, dtype=torch.float64, device=x.device)
                     for n, want in ((num_inputs, want_x), (w.shape[1], want_w)) if want]
    theta = torch.cat([x, w], dim=1).detach().to(torch.float64).cpu().numpy()
    repeats = output_size if spsa.per_output else 1
    groups = np.tile(theta, (repeats, 1))  # output k's samples after output k - 1's
    delta = spsa.directions(len(groups), theta.shape[1])  # (G, draws, I + P)
    shifted = spsa.epsilon * delta
    rows = np.concatenate([theta, (groups[:, None] + shifted).reshape(-1, theta.shape[1]),
                           (groups[:, None] - shifted).reshape(-1, theta.shape[1])])
    rows_t = torch.as_tensor(rows, device=x.device)
    out = values(rows_t[:, :num_inputs], rows_t[:, num_inputs:]).detach().to(torch.float64).cpu().numpy()
    count = len(groups) * spsa.batch_size
    plus = out[batch:batch + count].reshape(len(groups), spsa.batch_size, -1)
    minus = out[batch + count:].reshape(len(groups), spsa.batch_size, -1)
    diffs = (plus - minus) / (2 * spsa.epsilon)  # (G, draws, K)
    estimates = np.mean(diffs[..., :, None] / delta[:, :, None, :], axis=1)  # (G, K, I + P)
    if spsa.per_output:  # output k's row of sample i from group k * B + i
        estimates = estimates.reshape(output_size, batch, output_size, -1)
        estimates = np.stack([estimates[k, :, k] for k in range(output_size)], axis=1)
    jacobians = torch.as_tensor(estimates, device=x.device)
    wanted = [part for part, want in ((jacobians[..., :num_inputs], want_x),
                                      (jacobians[..., num_inputs:], want_w)) if want]
    return torch.as_tensor(out[:batch], device=x.device), [j.contiguous() for j in wanted]
