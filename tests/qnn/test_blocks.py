"""Circuit blocks: every user form of a feature map or ansatz turned into one small value."""

import pickle
from functools import partial

import numpy as np
import pennylane as qml
import pytest
import torch

from qnn_torch import RealAmplitudes, ZZFeatureMap
from qnn_torch.qnn import resolve_block


def _queued(block, params, n):
    with qml.queuing.AnnotatedQueue() as queue:
        block.apply(params, list(range(n)))
    return queue.queue


@pytest.mark.parametrize("spec, n, count", [
    (ZZFeatureMap, 3, 3),
    (partial(ZZFeatureMap, reps=1), 2, 2),
    (RealAmplitudes, 2, 8),
    (partial(RealAmplitudes, reps=1, skip_final_rotation_layer=True), 3, 3),
    (partial(qml.AngleEmbedding, rotation="Y"), 4, 4),
    (qml.StronglyEntanglingLayers, 2, 6),  # n_layers defaults to 1
    (partial(qml.StronglyEntanglingLayers, n_layers=2), 2, 12),
    (partial(qml.BasicEntanglerLayers, rotation=qml.RY), 3, 3),
])
def test_template_counts_come_from_their_shape(spec, n, count):
    block = resolve_block(spec, n, None, "ansatz", "num_weights")
    assert block.num_params == count
    # a matching count is fine
    assert resolve_block(spec, n, count, "ansatz", "num_weights").num_params == count


@pytest.mark.parametrize("spec, n", [(RealAmplitudes, 2),
                                     (partial(RealAmplitudes, reps=1, entanglement="linear"), 3)])
def test_a_batch_passes_through_reshaped_to_the_template(spec, n):
    block = resolve_block(spec, n, None, "ansatz", "num_weights")
    params = torch.rand(5, block.num_params, dtype=torch.float64)
    (op,) = _queued(block, params, n)
    assert op.batch_size == 5
    one = _queued(block, params[2], n)[0]
    np.testing.assert_allclose(qml.matrix(op)[2], qml.matrix(one), atol=1e-12)


def test_plain_function_needs_and_keeps_its_count():
    def ry(params, wires):
        qml.RY(params[..., 0], wires=wires[0])

    with pytest.raises(TypeError, match="ry is a plain function: give its parameter count explicitly with "
                                        "num_inputs"):
        resolve_block(ry, 2, None, "feature_map", "num_inputs")
    block = resolve_block(ry, 2, 1, "feature_map", "num_inputs")
    assert block.num_params == 1 and block.name == "ry"
    (op,) = _queued(block, torch.tensor([0.3]), 2)
    assert isinstance(op, qml.RY) and float(op.data[0]) == pytest.approx(0.3)


@pytest.mark.parametrize("spec, count, error, message", [
    (RealAmplitudes, 5, ValueError, r"num_weights must be 8 for ansatz RealAmplitudes on 2 qubits; got 5"),
    (lambda p, w: None, -1, ValueError, "num_weights must be a non-negative integer; got -1"),
    (lambda p, w: None, True, ValueError, "num_weights must be a non-negative integer; got True"),
    ("RealAmplitudes", None, TypeError, "ansatz must be a template class"),
    (partial(RealAmplitudes, entanglement="diagonal"), None, ValueError,
     "ansatz RealAmplitudes on 2 qubits: entanglement must be"),
])
def test_bad_blocks_name_the_argument(spec, count, error, message):
    with pytest.raises(error, match=message):
        resolve_block(spec, 2, count, "ansatz", "num_weights")


def test_template_blocks_pickle():
    block = resolve_block(partial(RealAmplitudes, reps=1, entanglement="linear"), 3, None, "ansatz",
                          "num_weights")
    clone = pickle.loads(pickle.dumps(block))
    params = torch.linspace(-1, 1, block.num_params)
    np.testing.assert_array_equal(qml.matrix(_queued(clone, params, 3)[0]),
                                  qml.matrix(_queued(block, params, 3)[0]))
