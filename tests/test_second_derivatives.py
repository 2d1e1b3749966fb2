"""Second derivatives: correct on exact default.qubit (every engine), a clear error elsewhere; never zeros."""

import pytest
import torch

from qnn_torch import EstimatorQNN, SamplerQNN, TorchConnector, parity

EPS = 1e-5


def make(kind, engine, n=2, **kwargs):
    torch.manual_seed(3)
    if kind == "estimator":
        qnn = EstimatorQNN(n, engine=engine, **kwargs)
    else:
        qnn = SamplerQNN(n, interpret=parity, output_shape=2, engine=engine, **kwargs)
    return TorchConnector(qnn)


def grad_of(model, x, w=None):
    """Gradient of sum(outputs) with respect to the inputs and the weights (first order only)."""
    x = x.detach().clone().requires_grad_(True)
    if w is not None:
        with torch.no_grad():
            model.weight.copy_(w)
    out = model(x)
    weights = torch.tensor([0.3, -1.1], dtype=out.dtype)[: out.shape[-1]]
    gx, gw = torch.autograd.grad((out * weights).sum(), (x, model.weight))
    return gx, gw, weights


def fd_hessian_x(model, x):
    """Finite differences of the input gradient: (B, I, B, I)."""
    hess = torch.zeros(*x.shape, *x.shape, dtype=torch.float64)
    for idx in torch.cartesian_prod(*(torch.arange(s) for s in x.shape)):
        e = torch.zeros_like(x)
        e[tuple(idx)] = EPS
        hess[..., idx[0], idx[1]] = (grad_of(model, x + e)[0] - grad_of(model, x - e)[0]) / (2 * EPS)
    return hess


ENGINES = ["auto", "adjoint", "compiled", "qnode"]


@pytest.mark.parametrize("kind", ["estimator", "sampler"])
@pytest.mark.parametrize("engine", ENGINES)
def test_hessian_in_inputs_matches_finite_differences(kind, engine):
    if kind == "sampler" and engine == "adjoint":
        engine = "auto"
    model = make(kind, engine)
    model.weight.data = model.weight.data.double()
    x = torch.rand(2, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    weights = grad_of(model, x)[2]
    hess = torch.autograd.functional.hessian(lambda v: (model(v) * weights).sum(), x)
    assert hess.abs().max() > 1e-2  # not the zeros of a once-differentiable layer
    torch.testing.assert_close(hess, fd_hessian_x(model, x), atol=1e-6, rtol=0)
    assert model.qnn.engine == ("adjoint" if engine == "auto" else engine)  # nothing was given up


@pytest.mark.parametrize("engine", ENGINES)
def test_second_derivative_in_weights_matches_finite_differences(engine):
    model = make("estimator", engine)
    model.weight.data = model.weight.data.double()
    x = torch.rand(3, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    w0 = model.weight.detach().clone()
    # d/dw_j of (d sum(out) / dw)_k, by create_graph then grad
    out = model(x) * 0.3  # the weighting grad_of uses
    (gw,) = torch.autograd.grad(out.sum(), model.weight, create_graph=True)
    rows = [torch.autograd.grad(gw[k], model.weight, retain_graph=True)[0] for k in range(len(w0))]
    hess = torch.stack(rows)
    fd = torch.zeros_like(hess)
    for j in range(len(w0)):
        e = torch.zeros_like(w0)
        e[j] = EPS
        fd[:, j] = (grad_of(model, x, w0 + e)[1] - grad_of(model, x, w0 - e)[1]) / (2 * EPS)
    with torch.no_grad():
        model.weight.copy_(w0)
    assert hess.abs().max() > 1e-2
    torch.testing.assert_close(hess, fd, atol=1e-6, rtol=0)


@pytest.mark.parametrize("engine", ["auto", "compiled", "qnode"])
def test_gradgradcheck(engine):
    model = make("estimator", engine)
    model.weight.data = model.weight.data.double()
    x = torch.rand(2, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradgradcheck(lambda v, w: _with_weight(model, v, w), (x, model.weight))


def _with_weight(model, x, w):
    model.weight = torch.nn.Parameter(w) if not isinstance(w, torch.nn.Parameter) else w
    return model(x)


def test_first_derivatives_unchanged_with_create_graph():
    """create_graph=True gives the same first derivatives as the ordinary backward."""
    model = make("estimator", "auto").double()  # float64 outputs: the outputs take the weight's dtype
    x = torch.rand(4, 2, dtype=torch.float64)
    gx, gw, _ = grad_of(model, x)
    x = x.clone().requires_grad_(True)
    out = model(x)
    weights = torch.tensor([0.3], dtype=out.dtype)
    gx2, gw2 = torch.autograd.grad((out * weights).sum(), (x, model.weight), create_graph=True)
    torch.testing.assert_close(gx2, gx, atol=1e-10, rtol=0)
    torch.testing.assert_close(gw2, gw, atol=1e-10, rtol=0)


@pytest.mark.parametrize("kwargs", [{"device": "lightning.qubit"}, {"shots": 100},
                                    {"diff_method": "parameter-shift"}])
def test_once_differentiable_devices_refuse_clearly(kwargs):
    model = make("estimator", "auto", **kwargs)
    x = torch.rand(2, 2, dtype=torch.float64, requires_grad=True)
    with pytest.raises(RuntimeError, match="differentiable only once.*default.qubit"):
        torch.autograd.functional.hessian(lambda v: model(v).sum(), x)
    out = model(x)  # the first derivatives still work
    (g,) = torch.autograd.grad(out.sum(), x)
    assert g.shape == x.shape
