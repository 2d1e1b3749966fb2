"""Angle expressions compiled to NumPy agree with torch: values and per-sample derivatives."""

import warnings

import numpy as np
import pytest
import torch
from torch.fx.experimental.proxy_tensor import make_fx
from torch.func import jacrev, vmap

from qnn_torch.engines.numpy_codegen import UnsupportedGraph, numpy_program
from qnn_torch.engines.tracing import record

CONSTANT = torch.tensor([0.25, -1.5, 2.0], dtype=torch.float64)

# each maps inputs (B, 3) and weights (4,) to angles (B, G); rows must depend on their own sample only
EXPRESSIONS = {
    "zz-map": lambda x, w: torch.stack([2 * x[:, 0], 2 * (torch.pi - x[:, 0]) * (torch.pi - x[:, 1]),
                                        w[0].expand(x.shape[0])], dim=1),
    "arithmetic": lambda x, w: torch.stack([x[:, 0] / (2 + x[:, 1] ** 2), 3 - x[:, 2], w[1] - x[:, 0],
                                            torch.add(x[:, 1], x[:, 2], alpha=-0.5), -x[:, 1] * w[2],
                                            x[:, 0] ** 3 + w[3] / w[0]], dim=1),
    "unary": lambda x, w: torch.stack([torch.cos(x[:, 0]), torch.sin(x[:, 1]) * torch.exp(w[0]),
                                       torch.sqrt(1.5 + x[:, 2]), torch.tanh(x[:, 0]),
                                       torch.arccos(x[:, 1] / 3), torch.arctan(x[:, 2]),
                                       torch.abs(x[:, 0] - 0.1), torch.sigmoid(w[1] * x[:, 1]),
                                       torch.log(2 + x[:, 0]),
                                       torch.arcsin(x[:, 2] / 4)], dim=1),
    "shapes": lambda x, w: torch.cat([(x.unsqueeze(-1) * w[:3].reshape(1, 3, 1)).squeeze(-1),
                                      x.t().t()[:, 1:3], x.permute(1, 0).transpose(0, 1)[:, ::2],
                                      x.sum(dim=1, keepdim=True), (x * CONSTANT).sum(-1).unsqueeze(1)],
                                     dim=1),
    "constants": lambda x, w: torch.stack([x[:, 0] * CONSTANT[1] + torch.tensor(3.0, dtype=torch.float64),
                                           x[:, 1] * torch.arange(1, 4, dtype=torch.float64).sum(),
                                           torch.zeros(x.shape[0], dtype=torch.float64) + w[2]], dim=1),
    "gathers": lambda x, w: torch.cat([x[:, [2, 0, 2]] * 2.0,
                                       (torch.pi - x[..., [0, 1]]) * (torch.pi - x[..., [1, -1]]),
                                       w[[3, 0]].expand(x.shape[0], 2),
                                       x[:, torch.tensor([[0, 1], [2, 2]])].reshape(x.shape[0], 4)], dim=1),
    "tensor-exponents": lambda x, w: torch.stack([2 ** x[:, 0], (x[:, 1] + 1) ** w[0],
                                                  0.5 ** (x[:, 2] * w[1]), (w[2] + x[:, 0]) ** x[:, 1],
                                                  torch.pow(w[3], x[:, 2])], dim=1),
}


def reference(fn, x, w):
    """Values and per-sample Jacobians (B, G, 3 + 4) by torch.func."""

    def single(xi, w):
        return fn(xi[None], w)[0]

    jx, jw = vmap(jacrev(single, argnums=(0, 1)), in_dims=(0, None))(x, w)
    return fn(x, w), torch.cat([jx, jw], dim=-1)


@pytest.mark.parametrize("name", list(EXPRESSIONS))
@pytest.mark.parametrize("batch", [1, 6])
def test_values_and_tangents_match_torch(name, batch):
    fn = EXPRESSIONS[name]
    gen = torch.Generator().manual_seed(batch)
    x = torch.rand(batch, 3, generator=gen, dtype=torch.float64) - 0.5
    w = torch.rand(4, generator=gen, dtype=torch.float64) + 0.5
    graph = make_fx(fn)(x, w)
    values_only = numpy_program(graph, tangents=False)
    value, tangent = numpy_program(graph, tangents=True)(x.numpy(), w.numpy())
    ref_value, ref_tangent = reference(fn, x, w)
    assert np.allclose(values_only(x.numpy(), w.numpy()), ref_value.numpy(), atol=1e-12)
    assert np.allclose(value, ref_value.numpy(), atol=1e-12)
    assert tangent.shape == tuple(ref_tangent.shape)
    assert np.allclose(tangent, ref_tangent.numpy(), atol=1e-12)


@pytest.mark.parametrize("name", list(EXPRESSIONS))
@pytest.mark.parametrize("tangents", [False, True])
def test_a_recording_gives_the_program_of_make_fx_s_graph(name, tangents):
    """The angle programs read :func:`record`'s nodes; the program is the one generated from
    ``make_fx``'s graph, character for character."""
    x, w = torch.rand(3, 3, dtype=torch.float64) - 0.5, torch.rand(4, dtype=torch.float64) + 0.5
    fn = EXPRESSIONS[name]
    recorded = numpy_program(record(fn, x, w), tangents).source
    assert recorded == numpy_program(make_fx(fn)(x, w), tangents).source


@pytest.mark.parametrize("base, exponent", [(0.0, 0.0), (0.0, 2.0), (0.0, -1.0), (0.0, 0.5), (-2.0, 2.0),
                                            (-2.0, 0.5), (1.5, -0.7), (2.0, 0.0)])
def test_a_tensor_exponent_has_torch_s_values_and_derivatives_at_every_base(base, exponent):
    """``a ** b`` with both traced, against autograd: torch's conventions where the formula has no
    value (a zero base, a negative one), NaN for NaN and infinity for infinity, a NaN derivative
    with respect to one argument not spreading to the other; NumPy warns only where the value or a
    derivative is infinite. (NumPy's and torch's ``pow`` and ``log`` may differ in the last bit on
    another CPU: finite numbers to 1e-14, NaN and infinities exactly.)"""
    x = torch.tensor([[base, exponent]], dtype=torch.float64, requires_grad=True)
    w = torch.tensor([1.0, 0.0, 0.0, 0.0], dtype=torch.float64)

    def fn(x, w):
        return (x[:, 0] ** x[:, 1]).unsqueeze(1)

    expected = fn(x, w)
    expected.sum().backward()
    finite = bool(torch.isfinite(expected).all() and torch.isfinite(x.grad).all())
    with warnings.catch_warnings():
        warnings.filterwarnings("error" if finite else "ignore", category=RuntimeWarning)
        program = numpy_program(record(fn, x.detach(), w), tangents=True)
        value, tangent = program(x.detach().numpy(), w.numpy())
    np.testing.assert_allclose(value, expected.detach().numpy(), rtol=1e-14, atol=0)
    np.testing.assert_allclose(tangent[0, 0, :2], x.grad.numpy()[0], rtol=1e-14, atol=0)


def test_parameters_named_beyond_ascii_get_names_of_their_own():
    def angles(θ, w):  # a name a user may write
        return torch.stack([2 * θ[:, 0], θ[:, 1] * w[0]], dim=1)

    x, w = torch.rand(3, 2, dtype=torch.float64), torch.rand(2, dtype=torch.float64)
    for graph in (record(angles, x, w), make_fx(angles)(x, w)):
        value, tangent = numpy_program(graph, True)(x.numpy(), w.numpy())
        np.testing.assert_array_equal(value, angles(x, w).numpy())
        assert tangent.shape == (3, 2, 4)


def test_repeated_subexpressions_are_computed_once():
    fn = EXPRESSIONS["zz-map"]
    x, w = torch.rand(2, 3, dtype=torch.float64), torch.rand(4, dtype=torch.float64)
    source = numpy_program(make_fx(lambda x, w: torch.stack([fn(x, w), fn(x, w)], 1))(x, w), True).source
    assert source.count("3.141592653589793 - ") == 2  # (pi - x0) and (pi - x1), once each


@pytest.mark.parametrize("fn, match", [
    (lambda x, w: (x @ w[:3, None])[:, 0], "mm|matmul|mv|bmm"),
    (lambda x, w: torch.polar(x[:, 0], w[0].expand(x.shape[0])).abs(), "polar|complex"),
    (lambda x, w: x[[0, 1], [1, 2]], "index by anything but one constant integer tensor"),
    (lambda x, w: x[:, torch.tensor([1, 1, 1], dtype=torch.uint8)], "index by anything but one constant"),
])
@pytest.mark.filterwarnings("ignore:indexing with dtype torch.uint8:UserWarning")  # a mask, as torch reads it
def test_unsupported_operations_are_refused(fn, match):
    x, w = torch.rand(2, 3, dtype=torch.float64), torch.rand(4, dtype=torch.float64)
    with pytest.raises(UnsupportedGraph, match=match):
        numpy_program(make_fx(fn)(x, w), tangents=True)


@pytest.mark.parametrize("fn", [
    lambda x, w: x[:, 0] * float("inf") + w[0],
    lambda x, w: torch.add(x[:, 1], float("-inf")) - w[1],
    lambda x, w: x[:, 2] * float("nan"),
    lambda x, w: torch.add(x[:, 0], w[2], alpha=float("inf")),
    lambda x, w: x[:, 1].abs() ** float("inf"),
], ids=["times-inf", "minus-inf", "nan", "alpha-inf", "power-inf"])
def test_non_finite_literals_compute_as_torch(fn):
    """Non-finite literals in a traced graph are numbers in the generated code (they were written as
    the names ``inf`` and ``nan``, which the program did not define)."""
    x = torch.tensor([[0.3, -0.2, 0.7], [0.0, 0.4, -0.9]], dtype=torch.float64)
    w = torch.tensor([0.5, -1.0, 0.25, 2.0], dtype=torch.float64)
    expected = fn(x, w).numpy()
    graph = make_fx(fn)(x, w)
    with np.errstate(invalid="ignore", over="ignore"):
        values = numpy_program(graph, tangents=False)(x.numpy(), w.numpy())
        value, _ = numpy_program(graph, tangents=True)(x.numpy(), w.numpy())
    np.testing.assert_array_equal(values, expected)
    np.testing.assert_array_equal(value, expected)
