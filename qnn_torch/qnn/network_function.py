"""``NetworkFunction``: autograd through any :class:`~qnn_torch.qnn.base.NeuralNetwork`'s NumPy
``forward`` and ``backward``, dense or sparse, as qiskit-machine-learning's ``TorchConnector`` does.

:class:`~qnn_torch.TorchConnector` runs it for networks users subclass from ``NeuralNetwork`` and for
sparse connectors; the package's own networks, dense, take the engines' faster path instead.

* **Forward**: the network's ``forward`` on the inputs (a single ``(num_inputs,)`` input as one
  sample, its batch dimension dropped again). Dense outputs take the weight's dtype (float32 for a
  connector's default weight, as qiskit-machine-learning's ``torch.float``); sparse outputs are
  torch sparse COO tensors holding the ``sparse.COO`` array's float64 values.
* **Backward**: the network's ``backward``; the gradients contracted with ``grad_output`` over the
  output dimensions by ``torch.einsum`` in ``grad_output``'s dtype (``"ab,abc->ac"`` and
  ``"ab,abc->c"`` for a batch of vectors, qiskit-machine-learning's), or by ``sparse.einsum`` into
  torch sparse COO gradients for a sparse connector.
"""

from __future__ import annotations

from string import ascii_lowercase

import numpy as np
import torch

from ..exceptions import machine_learning_error
from .base import NeuralNetwork
from .sparse_arrays import require_sparse, to_dense

__all__ = ["NetworkFunction", "einsum_signature"]


def einsum_signature(output_dims: int, batch_dims: int, for_weights: bool = False) -> str:
    """The ``einsum`` contracting ``grad_output`` with a gradient over the output dimensions.

    Args:
        output_dims (int): dimensions of ``grad_output`` (the batch dimensions, then the outputs').
        batch_dims (int): how many of them are batch dimensions, kept for input gradients.
        for_weights (bool): sum over the batch too (weight gradients).

    Returns:
        str: e.g. ``"ab,abc->ac"`` (inputs) and ``"ab,abc->c"`` (weights) for a batch of vectors.

    Raises:
        RuntimeError: for more than 25 dimensions (one letter each).

    **Example**

    >>> einsum_signature(3, 1), einsum_signature(3, 1, for_weights=True)
    ('abc,abcd->ad', 'abc,abcd->d')
    """
    if output_dims + 1 > len(ascii_lowercase) - 1:
        raise RuntimeError(f"einsum signatures hold at most {len(ascii_lowercase) - 1} dimensions; "
                           f"got {output_dims + 1}.")
    grad, last = ascii_lowercase[:output_dims], ascii_lowercase[output_dims]
    kept = last if for_weights else grad[:batch_dims] + last
    return f"{grad},{grad}{last}->{kept}"


class NetworkFunction(torch.autograd.Function):
    """``NetworkFunction.apply(input_data, weights, neural_network, sparse)``: the outputs of
    ``neural_network`` (a :class:`~qnn_torch.qnn.base.NeuralNetwork`), differentiable by autograd
    through its ``backward``; torch sparse COO tensors when ``sparse``.

    **Example**

    >>> import torch
    >>> from qnn_torch import EstimatorQNN
    >>> qnn = EstimatorQNN(2)
    >>> NetworkFunction.apply(torch.zeros(3, 2), torch.zeros(8), qnn, False).shape
    torch.Size([3, 1])
    """

    @staticmethod
    def forward(ctx, input_data, weights, neural_network: NeuralNetwork,  # pylint: disable=arguments-differ
                sparse: bool):
        if input_data.ndim == 0 or input_data.shape[-1] != neural_network.num_inputs:
            raise machine_learning_error(
                f"inputs must have last dimension {neural_network.num_inputs} (the network's num_inputs); "
                f"got shape {tuple(input_data.shape)}.")
        if sparse and not neural_network.sparse:
            raise RuntimeError("a sparse connector needs a sparse network (sparse=True); "
                               f"got a {type(neural_network).__name__} with sparse=False.")
        ctx.network, ctx.sparse = neural_network, sparse
        ctx.save_for_backward(input_data, weights)
        rows = input_data.detach().reshape(1, -1) if input_data.ndim == 1 else input_data.detach()
        result = neural_network.forward(rows.cpu().numpy(), weights.detach().cpu().numpy())
        if sparse:
            coo = result.asformat("coo")
            out = _torch_coo(coo)
        else:
            dtype = weights.dtype if weights.is_floating_point() else torch.get_default_dtype()
            out = torch.as_tensor(np.asarray(to_dense(result)), dtype=dtype)
        if input_data.ndim == 1:
            out = out[0]
        return out.to(input_data.device)

    @staticmethod
    def backward(ctx, grad_output):  # pylint: disable=arguments-differ
        input_data, weights = ctx.saved_tensors
        want_x, want_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        if not (want_x or want_w):
            return None, None, None, None
        rows = input_data.detach().reshape(1, -1) if input_data.ndim == 1 else input_data.detach()
        input_grad, weight_grad = ctx.network.backward(rows.cpu().numpy(), weights.detach().cpu().numpy())
        grad_output = grad_output.detach().cpu()
        if input_data.ndim == 1:
            grad_output = grad_output.unsqueeze(0)
        contract = _sparse_contraction if ctx.sparse else _dense_contraction
        batch_dims = rows.ndim - 1
        grad_x = grad_w = None
        if want_x and input_grad is not None:
            grad_x = contract(grad_output, input_grad, einsum_signature(grad_output.ndim, batch_dims))
            grad_x = (grad_x[0] if input_data.ndim == 1 else grad_x).to(input_data.device)
        if want_w and weight_grad is not None:
            signature = einsum_signature(grad_output.ndim, batch_dims, for_weights=True)
            grad_w = contract(grad_output, weight_grad, signature).to(weights.device)
        return grad_x, grad_w, None, None


def _dense_contraction(grad_output: torch.Tensor, gradient, signature: str) -> torch.Tensor:
    """``grad_output`` (dense, or sparse from a sparse layer after this one) contracted with a dense
    or sparse NumPy gradient, in ``grad_output``'s dtype."""
    grad_output = grad_output.to_dense() if grad_output.is_sparse else grad_output
    gradient = torch.as_tensor(np.asarray(to_dense(gradient)), dtype=grad_output.dtype)
    return torch.einsum(signature, grad_output, gradient)


def _sparse_contraction(grad_output: torch.Tensor, gradient, signature: str) -> torch.Tensor:
    """``grad_output`` contracted with a sparse gradient by ``sparse.einsum``: a torch sparse COO
    tensor of the values' dtype."""
    sparse = require_sparse("TorchConnector(sparse=True)")
    if grad_output.is_sparse:
        grad_output = grad_output.coalesce()
        grad = sparse.COO(grad_output.indices().numpy(), grad_output.values().numpy(),
                          shape=tuple(grad_output.shape))
    else:
        grad = sparse.COO.from_numpy(grad_output.numpy())
    if not hasattr(gradient, "coords"):  # a dense gradient of a network that calls itself sparse
        gradient = sparse.COO.from_numpy(np.asarray(gradient))
    return _torch_coo(sparse.einsum(signature, grad, gradient))


def _torch_coo(coo) -> torch.Tensor:
    """A ``sparse.COO`` array as a torch sparse COO tensor of the same shape, values and dtype."""
    return torch.sparse_coo_tensor(torch.as_tensor(coo.coords), torch.as_tensor(coo.data), size=coo.shape,
                                   check_invariants=True)
