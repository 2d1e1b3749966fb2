"""Jacobians by autograd, and the input/weight split of an adjoint sweep's results."""

import numpy as np
import pytest
import torch

from qnn_torch.engines.jacobians import autograd_jacobians, graph_inputs, split_jacobian, split_vjp


@pytest.mark.parametrize("want", [(True, True), (True, False), (False, True), (False, False)])
def test_split_jacobian(want):
    jacobian = np.arange(2 * 3 * 5).reshape(2, 3, 5)  # 2 inputs, then 3 weights
    expected = [jacobian[..., :2]] * want[0] + [jacobian[..., 2:]] * want[1]
    got = split_jacobian(jacobian, 2, *want)
    assert len(got) == len(expected) and all(np.array_equal(a, b) for a, b in zip(got, expected))


def test_split_vjp_sums_shared_weights_over_the_batch():
    total = torch.arange(2 * 5.0).reshape(2, 5)
    grad_x, grad_w = split_vjp(total, 2, True, True, True)
    assert torch.equal(grad_x, total[:, :2]) and torch.equal(grad_w, total[:, 2:].sum(0))
    (per_sample,) = split_vjp(total, 2, False, False, True)
    assert torch.equal(per_sample, total[:, 2:])


@pytest.mark.parametrize("batch", [1, 3])
def test_autograd_jacobians_are_per_sample(batch):
    x = torch.linspace(0.1, 0.9, batch * 2, dtype=torch.float64).reshape(batch, 2)
    w = torch.tensor([0.3, -0.7, 1.1], dtype=torch.float64)
    xs, ws = graph_inputs(x, w, True, True)
    with torch.enable_grad():
        out = torch.stack([torch.sin(xs[:, 0]) * ws[..., 0], xs[:, 1] * ws[..., 1] * ws[..., 2]], dim=1)
    jx, jw = autograd_jacobians(out, xs, ws, True, True)
    assert jx.shape == (batch, 2, 2) and jw.shape == (batch, 2, 3)
    assert torch.allclose(jx[:, 0, 0], torch.cos(x[:, 0]) * w[0])
    assert torch.allclose(jw[:, 1, 2], x[:, 1] * w[1])


def test_outputs_that_depend_on_nothing_have_zero_jacobians():
    x, w = graph_inputs(torch.ones(2, 2, dtype=torch.float64), torch.ones(3, dtype=torch.float64), True, True)
    jx, jw = autograd_jacobians(torch.zeros(2, 4, dtype=torch.float64), x, w, True, True)
    assert jx.shape == (2, 4, 2) and jw.shape == (2, 4, 3) and not jx.any() and not jw.any()
