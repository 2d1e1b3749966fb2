"""VectorTemplate: the templates take one vector of angles, or a batch of them, and are valid
PennyLane operations."""

from functools import partial

import numpy as np
import pennylane as qml
import pytest

from qnn_torch import PauliFeatureMap, RealAmplitudes, ZZFeatureMap
from qnn_torch.templates.vector_template import VectorTemplate


@pytest.mark.parametrize(
    "template, kwargs, size",
    [
        (ZZFeatureMap, {}, 3),
        (partial(PauliFeatureMap, paulis=("Y", "XZ")), {"reps": 1}, 3),
        (RealAmplitudes, {"reps": 2, "entanglement": "sca"}, 9),
    ],
)
def test_batched_parameters_match_one_by_one(template, kwargs, size, rng):
    batch = rng.uniform(-1, 1, (4, size))
    dev = qml.device("default.qubit", wires=3)

    @qml.qnode(dev)
    def state(p):
        template(p, wires=range(3), **kwargs)
        return qml.state()

    batched = state(batch)
    assert batched.shape == (4, 8)
    for row, s in zip(batch, batched):
        assert np.allclose(state(row), s, atol=1e-12)


@pytest.mark.parametrize("template, size", [(ZZFeatureMap, 2), (RealAmplitudes, 8)])
def test_valid_operator(template, size):
    qml.ops.functions.assert_valid(template(np.linspace(0.1, 0.8, size), wires=[0, 1]), skip_pickle=False)


@pytest.mark.parametrize("template", [ZZFeatureMap, PauliFeatureMap, RealAmplitudes])
def test_one_vector_parameter_differentiated_through_the_decomposition(template):
    assert issubclass(template, VectorTemplate) and template.grad_method is None
    op = template(np.zeros(8 if template is RealAmplitudes else 2), wires=[0, 1])
    assert op.num_params == 1 and op.ndim_params == (1,)
