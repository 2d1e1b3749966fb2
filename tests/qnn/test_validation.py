"""What users pass to a network, checked: real dtypes, weight shapes, and qiskit-machine-learning's
NumPy shapes."""

import numpy as np
import pytest
import torch

from qnn_torch.qnn.validation import check_real_dtype, check_weight_shape, input_rows, weight_vector


@pytest.mark.parametrize("value", [np.zeros(2), torch.zeros(2, dtype=torch.int64), [1, 2.5], None, 3])
def test_real_values_pass(value):
    assert check_real_dtype(value, "x") is value


@pytest.mark.parametrize("value", [np.zeros(2, dtype=complex), torch.zeros(2, dtype=torch.bool), [1j], ["a"]])
def test_complex_bool_and_other_values_are_refused(value):
    with pytest.raises(TypeError, match="x must hold real numbers; got dtype"):
        check_real_dtype(value, "x")


def test_weight_shape():
    check_weight_shape(torch.zeros(3), 3)
    with pytest.raises(ValueError, match=r"weight must have shape \(3,\) \(the QNN's num_weights\); got "):
        check_weight_shape(torch.zeros(2), 3)


@pytest.mark.parametrize("data, num_inputs, rows, batch", [
    ([0.1, 0.2], 2, (1, 2), (1,)), (np.zeros((4, 2)), 2, (4, 2), (4,)),
    (np.zeros((2, 3, 2)), 2, (6, 2), (2, 3)), (0.5, 1, (1, 1), (1,)), (None, 0, (1, 0), (1,)),
])
def test_input_rows_have_qiskit_machine_learnings_batch_shapes(data, num_inputs, rows, batch):
    x, got = input_rows(data, num_inputs)
    assert tuple(x.shape) == rows and got == batch and x.dtype == torch.float64


@pytest.mark.parametrize("data, match", [
    ([0.1, 0.2, 0.3], r"input_data must have shape \(num_inputs,\) or \(\.\.\., num_inputs\) with "),
    ([0.1, np.nan], "input_data must be finite"), (None, "input_data must be given: the network has 2"),
])
def test_bad_input_rows(data, match):
    with pytest.raises(ValueError, match=match):
        input_rows(data, 2)


def test_weight_vector():
    assert weight_vector(torch.ones(3), 3).dtype == torch.float64
    assert weight_vector(None, 0).shape == (0,)
    with pytest.raises(ValueError, match=r"weights must have shape \(3,\) \(the network's num_weights\)"):
        weight_vector(np.ones(2), 3)
