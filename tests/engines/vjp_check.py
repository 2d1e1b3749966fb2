"""One check shared by the engine tests: an engine's vector-Jacobian product contracts its own
Jacobians (``grad_output^T J``), for weights shared by the batch or given per sample."""

import torch


def check_vjp_contracts_jacobians(engine, qnn, batched_weights: bool, rng, batch: int = 3,
                                  spread: float = 1.0):
    x = torch.tensor(rng.uniform(-spread, spread, (batch, qnn.num_inputs)))
    shape = (batch, qnn.num_weights) if batched_weights else qnn.num_weights
    w = torch.tensor(rng.uniform(-spread, spread, shape))
    out, (jx, jw) = engine.values_and_jacobians(x, w, True, True)
    g = torch.tensor(rng.normal(size=tuple(out.shape)))
    values, saved = engine.forward_for_vjp(x, w)
    gx, gw = engine.vjp(saved, g, True, True)
    assert torch.allclose(values, out, atol=1e-12, rtol=0)
    assert torch.allclose(gx, torch.einsum("bk,bki->bi", g, jx), atol=1e-10, rtol=0)
    expected = torch.einsum("bk,bkp->bp", g, jw)
    assert torch.allclose(gw, expected if batched_weights else expected.sum(0), atol=1e-10, rtol=0)
    assert [t.shape for t in engine.vjp(saved, g, False, True)] == [gw.shape]
