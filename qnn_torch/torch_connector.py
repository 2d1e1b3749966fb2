"""``TorchConnector``: a QNN as a ``torch.nn.Module``, built on ``qml.qnn.TorchLayer``."""

from __future__ import annotations

import numpy as np
import torch
from pennylane.qnn import TorchLayer

from .qnn.neural_network import QuantumNeuralNetwork

__all__ = ["TorchConnector"]


def _jacobians(qnn, out, x64, w64, want_x, want_w):
    """Per-sample Jacobians ``(B, K, P)`` of ``out`` (B, K) for the inputs and/or weights."""
    targets = [t for t, want in ((x64, want_x), (w64, want_w)) if want]
    k_out = out.shape[1]
    if not out.requires_grad:  # the outputs do not depend on inputs or weights at all
        return [torch.zeros(out.shape[0], k_out, t.shape[-1], dtype=t.dtype) for t in targets]
    rows = [[] for _ in targets]
    with torch.enable_grad(), qnn.expected_warnings_silenced():  # backward runs without grad mode
        for k in range(k_out):
            grads = torch.autograd.grad(out[:, k].sum(), targets, retain_graph=k < k_out - 1, allow_unused=True)
            for row, g, t in zip(rows, grads, targets):
                g = torch.zeros_like(t) if g is None else g
                row.append(g.reshape(out.shape[0], -1))  # unbatched weights (batch 1) get their row
    return [torch.stack(row, dim=1) for row in rows]


class _QNNFunction(torch.autograd.Function):
    """Exact evaluation in float64; gradients contracted as qiskit-machine-learning does.

    The forward pass runs the QNode in double precision and keeps its graph. The backward
    pass takes the per-sample Jacobians (one backward sweep per output, with the weights
    broadcast over the batch so that each sample has its own copy), casts them to the output's
    dtype and contracts them with ``grad_output`` by ``einsum``, exactly as Qiskit's
    ``TorchConnector`` does; in float32 this reproduces Qiskit's numbers to the last bit.
    """

    @staticmethod
    def forward(ctx, x, weight, layer):  # pylint: disable=arguments-differ
        want_x, want_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        x64 = x.detach().to(torch.float64)
        w64 = weight.detach().to(torch.float64)
        if not (want_x or want_w):
            ctx.graph = None
            return layer._evaluate(x64, w64).to(x.dtype)
        with torch.enable_grad():
            x64.requires_grad_(want_x)
            if want_w:
                # one copy of the weights per sample, so that backward can take per-sample
                # Jacobians; a single sample needs no copy
                batch = x64.shape[0]
                w64 = (w64.expand(batch, -1).clone() if batch > 1 else w64).requires_grad_(True)
            out = layer._evaluate(x64, w64)
        ctx.graph = (layer.qnn, out, x64, w64, want_x, want_w)
        ctx.weight_dtype = weight.dtype
        return out.detach().to(x.dtype)

    @staticmethod
    def backward(ctx, grad_output):  # pylint: disable=arguments-differ
        if ctx.graph is not None:  # first backward: take the Jacobians, free the QNode graph
            ctx.jacobians, ctx.graph = _jacobians(*ctx.graph), None
        want_x, want_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        jacobians = [j.to(grad_output.dtype) for j in ctx.jacobians]  # each (B, K, P)
        grad_x = grad_w = None
        if grad_output.shape == (1, 1):  # one sample, one output: a product, bit for bit the einsum
            if want_x:
                grad_x = grad_output * jacobians.pop(0)[:, 0]
            if want_w:
                grad_w = (grad_output[0, 0] * jacobians.pop(0)[0, 0]).to(ctx.weight_dtype)
            return grad_x, grad_w, None
        if want_x:
            grad_x = torch.einsum("ab,abc->ac", grad_output, jacobians.pop(0))
        if want_w:
            grad_w = torch.einsum("ab,abc->c", grad_output, jacobians.pop(0)).to(ctx.weight_dtype)
        return grad_x, grad_w, None


class TorchConnector(TorchLayer):
    r"""Wrap an :class:`~qnn_torch.EstimatorQNN` or :class:`~qnn_torch.SamplerQNN` as a torch module.

    The module has one trainable parameter, ``weight``, of shape ``(qnn.num_weights,)``: weight
    ``k`` is Qiskit's ``θ[k]``. Inputs of shape ``(batch, num_inputs)`` give outputs of shape
    ``(batch, *qnn.output_shape)``; a single ``(num_inputs,)`` input gives
    ``(*qnn.output_shape,)``. A batch runs as one broadcast execution. Gradients flow to the
    inputs and the weights on every device, so the layer can sit inside a larger network.

    State dicts have qiskit-machine-learning's key layout (``weight`` and its alias
    ``_weights``): checkpoints of either library's ``TorchConnector`` load into the other.

    Args:
        qnn (QuantumNeuralNetwork): the network to wrap.
        initial_weights (array_like or None): the starting weights; by default uniform in
            ``[-1, 1]``, as in Qiskit.

    Raises:
        TypeError: if ``qnn`` is not a qnn_torch network.
        ValueError: if ``initial_weights`` has the wrong length or non-finite values.

    **Example**

    >>> import torch
    >>> from qnn_torch import EstimatorQNN, TorchConnector
    >>> model = TorchConnector(EstimatorQNN(2), initial_weights=torch.zeros(8))
    >>> model(torch.zeros(5, 2)).shape
    torch.Size([5, 1])
    """

    def __init__(self, qnn: QuantumNeuralNetwork, initial_weights=None):
        if not isinstance(qnn, QuantumNeuralNetwork):
            raise TypeError(
                f"qnn must be a qnn_torch EstimatorQNN or SamplerQNN; got {type(qnn).__name__}."
            )
        n = qnn.num_weights
        if initial_weights is None:
            init = lambda tensor: torch.nn.init.uniform_(tensor, -1.0, 1.0)  # noqa: E731
        else:
            values = np.asarray(
                initial_weights.detach().cpu() if isinstance(initial_weights, torch.Tensor) else initial_weights,
                dtype=np.float64,
            )
            if values.shape != (n,):
                raise ValueError(
                    f"initial_weights must have shape ({n},) (the QNN's num_weights); got shape {values.shape}."
                )
            if not np.all(np.isfinite(values)):
                raise ValueError("initial_weights must be finite; got NaN or infinite values.")
            init = {"weight": torch.tensor(values, dtype=torch.float32)}
        super().__init__(qnn.qnode, {"weight": (n,)}, init_method=init)
        self.qnn = qnn

    # ------------------------------------------------------------------ forward

    def _check_inputs(self, inputs) -> torch.Tensor:
        if not isinstance(inputs, torch.Tensor):
            inputs = torch.as_tensor(np.asarray(inputs), dtype=torch.get_default_dtype())
        n = self.qnn.num_inputs
        if inputs.ndim == 0 or inputs.shape[-1] != n:
            raise ValueError(
                f"inputs must have last dimension {n} (the QNN's num_inputs); got shape {tuple(inputs.shape)}."
            )
        if not bool(torch.isfinite(inputs).all()):
            raise ValueError("inputs must be finite; got a tensor holding NaN or infinite values.")
        return inputs

    def forward(self, inputs):  # pylint: disable=arguments-renamed
        """Evaluate the QNN on ``inputs`` of shape ``(..., num_inputs)``."""
        inputs = self._check_inputs(inputs)
        if not inputs.is_floating_point():
            inputs = inputs.to(torch.get_default_dtype())
        batch_shape = inputs.shape[:-1]
        out = _QNNFunction.apply(inputs.reshape(-1, self.qnn.num_inputs), self.weight, self)
        return out.reshape(*batch_shape, *self.qnn.output_shape)

    def _evaluate(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """``(batch, outputs)`` for float64 ``(batch, num_inputs)`` inputs."""
        return self.qnn.evaluate(x, weight)

    # ------------------------------------------------------------------ state dicts

    def _save_to_state_dict(self, destination, prefix, keep_vars):
        super()._save_to_state_dict(destination, prefix, keep_vars)
        # the key layout of qiskit-machine-learning's TorchConnector, so checkpoints go both ways
        destination[prefix + "_weights"] = destination[prefix + "weight"]

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        # qiskit-machine-learning saves the same tensor as ``weight`` and ``_weights``
        alias = state_dict.pop(prefix + "_weights", None)
        if alias is not None and prefix + "weight" not in state_dict:
            state_dict[prefix + "weight"] = alias
        key = prefix + "weight"
        if key in state_dict:
            state_dict[key] = torch.as_tensor(state_dict[key]).to(self.weight.dtype)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)

    def extra_repr(self) -> str:
        return repr(self.qnn)

    def __repr__(self) -> str:  # TorchLayer replaces nn.Module's repr; restore it
        return torch.nn.Module.__repr__(self)

    __str__ = __repr__
