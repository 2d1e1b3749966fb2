"""The check shared by the tests of networks against qiskit-machine-learning 0.9: outputs, input
Jacobians and weight gradients of a TorchConnector equal the oracle's (a helper module, not a test
module)."""

import numpy as np
import torch

from .. import qiskit_reference as ref

ATOL = 1e-6


def ours(model, x):
    """Outputs (B, K), input Jacobian (B, K, I) and weight Jacobian summed over the batch."""
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    out = model(xt)
    out2 = out.reshape(out.shape[0], -1)
    gin, gw = [], []
    for k in range(out2.shape[1]):
        gx, gwk = torch.autograd.grad(out2[:, k].sum(), (xt, model.weight), retain_graph=True)
        gin.append(gx)
        gw.append(gwk)
    return (out2.detach().numpy(), torch.stack(gin, 1).numpy(),
            torch.stack(gw, 0).double().numpy())


def float32_weights(rng, n):
    """Weights that float32 holds exactly: the TorchConnector's weights are float32 parameters, as
    qiskit-machine-learning's."""
    return rng.uniform(-1, 1, n).astype(np.float32).astype(np.float64)


def assert_parity(model, qk_qnn, x, w):
    """``model`` (a TorchConnector) and the qiskit-machine-learning network ``qk_qnn`` agree on
    ``x`` with weights ``w``."""
    out, gin, gw = ours(model, x)
    r_out, r_gin, r_gw = ref.reference(qk_qnn, x, w)
    r_out = r_out.reshape(out.shape)
    assert np.allclose(out, r_out, atol=ATOL)
    assert np.allclose(gin, r_gin.reshape(gin.shape), atol=ATOL)
    assert np.allclose(gw, r_gw.reshape(r_gw.shape[0], out.shape[1], -1).sum(0), atol=ATOL)
