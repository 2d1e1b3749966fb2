"""``TorchConnector``: a QNN as a ``torch.nn.Module`` whose one parameter is its weight vector."""

from __future__ import annotations

import warnings

import numpy as np
import torch
from pennylane.qnn import TorchLayer

from ._compat import init_torch_layer_without_qnode
from .exceptions import machine_learning_error
from .qnn.base import NeuralNetwork
from .qnn.network_function import NetworkFunction, einsum_signature
from .qnn.neural_network import QuantumNeuralNetwork
from .qnn.validation import check_real_dtype, check_weight_shape

__all__ = ["TorchConnector"]

_TorchNNFunction = NetworkFunction
"""qiskit-machine-learning's name for the autograd function of any network (its private name, for code
that imports it from ``...connectors.torch_connector``)."""


def _get_einsum_signature(n_dimensions: int, for_weights: bool = False) -> str:
    """qiskit-machine-learning's private helper, for code that imports it: the ``einsum`` of a
    gradient of ``n_dimensions`` dimensions ``(batch, outputs, parameters)`` with ``grad_output``.
    Equal to qiskit-machine-learning's for 3 dimensions; beyond, the input signature sums over the
    output dimensions (qiskit-machine-learning's over the second dimension).

    Raises:
        RuntimeError: for more than 25 dimensions.
    """
    return einsum_signature(n_dimensions - 1, 1, for_weights)


class _QNNFunction(torch.autograd.Function):
    """Exact evaluation in float64; gradients contracted as qiskit-machine-learning does.

    The forward pass evaluates the QNN in double precision (see
    :meth:`~qnn_torch.qnn.neural_network.QuantumNeuralNetwork.differentiate`). The backward
    pass takes the per-sample Jacobians, casts them to the output's dtype and contracts them
    with ``grad_output`` by ``einsum``, exactly as Qiskit's ``TorchConnector`` does; in float32
    this reproduces Qiskit's numbers to the last bit. Engines that compute vector-Jacobian
    products themselves (the adjoint engines, for three outputs or more) skip the Jacobians: the
    backward pass sweeps once with the outputs weighted by ``grad_output``, in float64.

    Every tensor the backward pass needs (the inputs, the weight, the Jacobians or what the
    engine's sweep needs) goes through ``ctx.save_for_backward``, so that saved-tensor hooks and
    checkpointing see them all.
    """

    @staticmethod
    def forward(ctx, x, weight, layer, grad_enabled):  # pylint: disable=arguments-differ
        qnn = layer.qnn
        want_x, want_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        if want_x and not qnn.input_gradients:  # qiskit-machine-learning's behaviour, and its pitfall
            layer._warn_inputs_blocked()
            want_x = False
        _check_weight(weight, x, qnn.num_weights)
        ctx.want, ctx.qnn, ctx.weight_dtype = (want_x, want_w), qnn, weight.dtype
        # the outputs take the weight's dtype, as a torch module's do: float32 by default, as
        # qiskit-machine-learning's (its torch.float), float64 after model.double()
        dtype = weight.dtype if weight.is_floating_point() else x.dtype
        x64, w64 = x.detach().to(torch.float64), weight.detach().to(torch.float64)
        if not (grad_enabled and (want_x or want_w)):
            return qnn.evaluate(x64, w64).to(dtype)
        pending = qnn.forward_for_vjp(x64, w64)  # three outputs or more: one sweep in backward
        if pending is not None:
            out, pending = pending
            ctx.pending = pending.without_tensors()
            ctx.save_for_backward(x, weight, *pending.tensors)
            return out.to(dtype)
        out, jacobians = qnn.differentiate(x64, w64, want_x, want_w)
        ctx.pending = None
        ctx.save_for_backward(x, weight, *jacobians)  # x and weight also for create_graph=True
        return out.to(dtype)

    @staticmethod
    def backward(ctx, grad_output):  # pylint: disable=arguments-differ
        want_x, want_w = ctx.want
        if not (want_x or want_w):  # inputs whose gradients input_gradients=False blocks
            return None, None, None, None
        if torch.is_grad_enabled():  # create_graph=True: the gradient must be differentiable itself
            return _QNNFunction._differentiable_backward(ctx, grad_output)
        x, weight, *saved = ctx.saved_tensors
        if ctx.pending is not None:  # the engine's own vector-Jacobian product, in float64
            grads = iter(ctx.qnn.vjp(ctx.pending.with_tensors(saved), grad_output.to(torch.float64),
                                     want_x, want_w))
            grad_x = next(grads).to(x.dtype) if want_x else None
            grad_w = next(grads).to(ctx.weight_dtype) if want_w else None
            return grad_x, grad_w, None, None
        return (*_contract(saved, grad_output, want_x, want_w, ctx.weight_dtype), None, None)

    @staticmethod
    def _differentiable_backward(ctx, grad_output):
        """The vector-Jacobian product as a graph, for second derivatives: the QNN is evaluated
        again by autograd on an engine that builds a torch graph, and differentiated with
        ``create_graph``. The Jacobians of the first pass are constants and would give zero
        second derivatives, so devices without such an engine refuse instead."""
        qnn = ctx.qnn
        if not qnn.differentiable_twice:
            raise RuntimeError(
                f"TorchConnector is differentiable only once on device {qnn.spec.label!r} "
                f"(shots={qnn.spec.shots}): higher derivatives (create_graph=True, hessian, "
                "gradgradcheck) need exact simulation on device 'default.qubit' (shots=None), "
                "whose engines, engine='qnode' included, differentiate twice."
            )
        x, weight = ctx.saved_tensors[:2]
        wanted = [t for t, want in zip((x, weight), ctx.want) if want]
        out = qnn.evaluate(x.to(torch.float64), weight.to(torch.float64))
        grads = iter(torch.autograd.grad(out, wanted, grad_output.to(out.dtype), create_graph=True,
                                         allow_unused=True, materialize_grads=True))
        return tuple(next(grads) if want else None for want in ctx.want) + (None, None)


def _check_weight(weight: torch.Tensor, x: torch.Tensor, num_weights: int) -> None:
    """The weight's shape, dtype and device, checked as cheaply as the usual case allows."""
    if weight.shape != (num_weights,):  # e.g. weight.data replaced by a wrong-size tensor
        check_weight_shape(weight, num_weights)
    if weight.is_complex() or weight.dtype == torch.bool:
        check_real_dtype(weight, "weight")
    if weight.device != x.device:
        raise ValueError(f"inputs must be on the TorchConnector's device {weight.device} (where its "
                         f"weight is); got inputs on {x.device}. Move the model with "
                         f"model.to({str(x.device)!r}) or the inputs with inputs.to({str(weight.device)!r}).")


def _contract(jacobians: list[torch.Tensor], grad_output: torch.Tensor, want_x: bool, want_w: bool,
              weight_dtype: torch.dtype) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """``grad_output^T J`` for the input and weight Jacobians ``(B, K, I)``, ``(B, K, P)``, in the
    output's dtype, as qiskit-machine-learning's ``TorchConnector`` contracts them."""
    jacobians = [j.to(grad_output.dtype) for j in jacobians]
    grad_x = grad_w = None
    if grad_output.shape == (1, 1):  # one sample, one output: a product, bit for bit the einsum
        if want_x:
            grad_x = grad_output * jacobians.pop(0)[:, 0]
        if want_w:
            grad_w = (grad_output[0, 0] * jacobians.pop(0)[0, 0]).to(weight_dtype)
        return grad_x, grad_w
    if want_x:
        grad_x = torch.einsum("ab,abc->ac", grad_output, jacobians.pop(0))
    if want_w:
        grad_w = torch.einsum("ab,abc->c", grad_output, jacobians.pop(0)).to(weight_dtype)
    return grad_x, grad_w


class TorchConnector(TorchLayer):
    r"""Wrap an :class:`~qnn_torch.EstimatorQNN`, a :class:`~qnn_torch.SamplerQNN` or any subclass of
    :class:`~qnn_torch.NeuralNetwork` as a torch module.

    The module has one trainable parameter, ``weight``, of shape ``(qnn.num_weights,)``: weight
    ``k`` is Qiskit's ``θ[k]``. Inputs of shape ``(batch, num_inputs)`` give outputs of shape
    ``(batch, *qnn.output_shape)``; a single ``(num_inputs,)`` input gives
    ``(*qnn.output_shape,)``. A batch runs as one call of the network's engine chain. Gradients
    flow to the inputs and the weights on every device, so the layer can sit inside a larger
    network.

    The module moves like any other: after ``model.to("cuda")`` its inputs, outputs and
    gradients live on the GPU. The torch engines compute there; the other engines receive
    copies on the CPU and their results come back to the inputs' device (see
    :class:`~qnn_torch.qnn.neural_network.QuantumNeuralNetwork`). Under
    ``torch.nn.parallel.DistributedDataParallel`` it trains like any module with parameters.

    State dicts have qiskit-machine-learning's key layout (``weight`` and its alias
    ``_weights``): checkpoints of either library's ``TorchConnector`` load into the other.

    **What TorchLayer gives.** The class is a ``qml.qnn.TorchLayer`` so that code written for
    PennyLane's layers (``isinstance(layer, qml.qnn.TorchLayer)``, ``layer.qnode_weights``) takes
    it. It shares nothing else with one: it registers its weight itself, evaluates through the
    network's engine chain (which builds a QNode only when the QNode engine runs), and has no
    ``qnode`` attribute; use ``qnn.qnode`` for the network's QNode.

    **Dtypes.** The outputs take the dtype of the module's weight, as a torch module's do: float32
    by default, as qiskit-machine-learning's (also for float64 inputs, so that a float32
    ``nn.Linear`` can follow), float64 after ``model.double()``. The package's networks compute in
    float64 either way. Sparse outputs hold float64 values, as qiskit-machine-learning's.

    **Networks users write.** A subclass of :class:`~qnn_torch.NeuralNetwork` (NumPy ``_forward``
    and ``_backward``, no circuit) runs through its public ``forward`` and ``backward``, with the
    gradients contracted as qiskit-machine-learning's connector contracts them
    (:class:`~qnn_torch.qnn.network_function.NetworkFunction`); so does a sparse connector.

    Args:
        neural_network (NeuralNetwork): the network to wrap (also accepted as ``qnn=``).
        initial_weights (array_like or None): the starting weights; by default uniform in
            ``[-1, 1]``, as in Qiskit.
        sparse (bool or None): return torch sparse COO tensors (outputs, and the gradients of the
            inputs and the weight), as qiskit-machine-learning does; None (default) takes the
            network's ``sparse``. True needs a sparse network (``SamplerQNN(..., sparse=True)``).

    Gradients reach the inputs (and earlier layers) when the network's ``input_gradients`` is
    True: always for template and function networks, and for Qiskit circuits when asked for,
    as in qiskit-machine-learning (a warning says when inputs ask for gradients they will not get).

    Inputs on the CPU are checked to be finite; on other devices the check is left out (it would
    wait for the device on every call), and non-finite inputs give non-finite outputs.

    Raises:
        TypeError: if ``qnn`` is not a qnn_torch network, or inputs, ``initial_weights`` or
            ``weight`` hold complex or bool values.
        QiskitMachineLearningError: (a ``ValueError``) for ``sparse=True`` with a network that is not
            sparse, and inputs whose last dimension is not the network's ``num_inputs``.
        ValueError: if ``initial_weights`` (or a replaced ``weight``) has the wrong length, or
            ``initial_weights`` or inputs on the CPU hold non-finite values.

    **Example**

    >>> import torch
    >>> from qnn_torch import EstimatorQNN, TorchConnector
    >>> model = TorchConnector(EstimatorQNN(2), initial_weights=torch.zeros(8))
    >>> model(torch.zeros(5, 2)).shape
    torch.Size([5, 1])
    """

    def __init__(self, neural_network: NeuralNetwork | None = None, initial_weights=None,
                 sparse: bool | None = None, *, qnn: NeuralNetwork | None = None):
        if (neural_network is None) == (qnn is None):
            raise TypeError("TorchConnector takes one network: neural_network (qiskit-machine-learning's "
                            f"name) or qnn; got {'neither' if qnn is None else 'both'}.")
        qnn = neural_network if qnn is None else qnn
        if not isinstance(qnn, NeuralNetwork):
            raise TypeError("qnn must be a qnn_torch EstimatorQNN, SamplerQNN or subclass of "
                            f"qnn_torch.NeuralNetwork; got {type(qnn).__name__}.")
        init_torch_layer_without_qnode(self)
        self.qnn = qnn
        self._sparse = _check_sparse(sparse, qnn)
        self.weight = torch.nn.Parameter(_initial_weights(initial_weights, qnn.num_weights))

    @property
    def qnode_weights(self) -> dict[str, torch.nn.Parameter]:
        """dict: the weights by name, as a ``TorchLayer`` shows them: ``{"weight": self.weight}``."""
        return {"weight": self.weight}

    # ------------------------------------------------------------------ forward

    def _check_inputs(self, inputs) -> torch.Tensor:
        if not isinstance(inputs, torch.Tensor):
            inputs = torch.as_tensor(check_real_dtype(np.asarray(inputs), "inputs"),
                                     dtype=torch.get_default_dtype())
        elif inputs.is_complex() or inputs.dtype == torch.bool:
            check_real_dtype(inputs, "inputs")
        n = self.qnn.num_inputs
        if inputs.ndim == 0 or inputs.shape[-1] != n:
            raise machine_learning_error(
                f"inputs must have last dimension {n} (the network's num_inputs); "
                f"got shape {tuple(inputs.shape)}."
            )
        # on the CPU only: elsewhere reading the answer would wait for the device on every call
        if inputs.device.type == "cpu" and not np.isfinite(inputs.detach().numpy()).all():
            raise ValueError("inputs must be finite; got a tensor holding NaN or infinite values.")
        return inputs

    @property
    def sparse(self) -> bool:
        """bool: whether the outputs (and the gradients of the inputs and the weight) are torch sparse
        COO tensors."""
        return self._sparse

    def forward(self, inputs=None):  # pylint: disable=arguments-renamed
        """Evaluate the QNN on ``inputs`` of shape ``(..., num_inputs)`` (``None`` for a network
        without inputs, as one sample)."""
        if inputs is None and self.qnn.num_inputs == 0:
            inputs = torch.zeros(0, dtype=torch.get_default_dtype())
        inputs = self._check_inputs(inputs)
        if not inputs.is_floating_point():
            inputs = inputs.to(torch.get_default_dtype())
        if self._sparse or not isinstance(self.qnn, QuantumNeuralNetwork):
            # the network's own NumPy forward and backward, as qiskit-machine-learning's connector
            return NetworkFunction.apply(inputs, self.weight, self.qnn, self._sparse)
        flat = inputs.ndim == 2  # (batch, num_inputs): no reshaping on the way in or out
        batch_shape = inputs.shape[:-1]
        rows = inputs if flat else inputs.reshape(batch_shape.numel(), self.qnn.num_inputs)
        out = _QNNFunction.apply(rows, self.weight, self, torch.is_grad_enabled())
        if flat and len(self.qnn.output_shape) == 1:
            return out
        return out.reshape(*batch_shape, *self.qnn.output_shape)

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

    @property
    def neural_network(self) -> NeuralNetwork:
        """NeuralNetwork: the wrapped network (qiskit-machine-learning's name for ``qnn``)."""
        return self.qnn

    def _warn_inputs_blocked(self) -> None:
        if not getattr(self, "_inputs_blocked_warned", False):
            self._inputs_blocked_warned = True
            warnings.warn(
                "TorchConnector: the inputs require gradients, but the network has input_gradients=False, "
                "so no gradient flows to them or to the layers before this one (qiskit-machine-learning's "
                "default for circuits); set qnn.input_gradients = True to train them.", UserWarning,
                stacklevel=4)

    def extra_repr(self) -> str:
        return repr(self.qnn)

    def __repr__(self) -> str:  # TorchLayer describes its QNode; this layer has none
        return torch.nn.Module.__repr__(self)

    __str__ = __repr__


def _check_sparse(sparse, qnn: NeuralNetwork) -> bool:
    """The connector's ``sparse``: the network's when None; True only for a sparse network."""
    if sparse is None:
        return bool(qnn.sparse)
    if not isinstance(sparse, (bool, np.bool_)):
        raise TypeError(f"sparse must be True, False or None (the network's); got {sparse!r}.")
    if sparse and not qnn.sparse:
        raise machine_learning_error(
            "TorchConnector(sparse=True) needs a sparse network (e.g. SamplerQNN(..., sparse=True)); "
            f"got a {type(qnn).__name__} with sparse=False.")
    return bool(sparse)


def _initial_weights(initial_weights, num_weights: int) -> torch.Tensor:
    """The starting weights, float32: ``initial_weights`` checked, or uniform in ``[-1, 1]``."""
    if initial_weights is None:
        return torch.nn.init.uniform_(torch.empty(num_weights), -1.0, 1.0)
    if isinstance(initial_weights, torch.Tensor):
        check_real_dtype(initial_weights.detach(), "initial_weights")
        values = np.asarray(initial_weights.detach().cpu(), dtype=np.float64)
    else:
        check_real_dtype(initial_weights, "initial_weights")
        values = np.asarray(initial_weights, dtype=np.float64)
    if values.shape != (num_weights,):
        raise ValueError(
            f"initial_weights must have shape ({num_weights},) (the QNN's num_weights); "
            f"got shape {values.shape}."
        )
    if not np.all(np.isfinite(values)):
        raise ValueError("initial_weights must be finite; got NaN or infinite values.")
    return torch.tensor(values, dtype=torch.float32)
