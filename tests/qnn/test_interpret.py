"""Interpret heads: basis-state integers (Qiskit's order) to classes, as a 0/1 matrix."""

import numpy as np
import pytest

from qnn_torch import parity
from qnn_torch.qnn.interpret import interpret_matrix


def test_parity():
    assert [parity(i) for i in range(8)] == [0, 1, 1, 0, 1, 0, 0, 1]


def test_parity_matrix_sums_probabilities_into_classes():
    matrix, shape = interpret_matrix(parity, 2, 2)
    assert shape == (2,)
    np.testing.assert_array_equal(matrix, [[1, 0], [0, 1], [0, 1], [1, 0]])
    probs = np.array([0.1, 0.2, 0.3, 0.4])
    np.testing.assert_allclose(probs @ matrix, [0.5, 0.5])


def test_tuple_classes_ravel_in_c_order():
    matrix, shape = interpret_matrix(lambda i: (i % 2, i // 4), (2, 2), 3)
    assert shape == (2, 2) and matrix.shape == (8, 4)
    for index in range(8):
        assert matrix[index].argmax() == np.ravel_multi_index((index % 2, index // 4), (2, 2))
        assert matrix[index].sum() == 1


def test_qubit_zero_is_the_least_significant_bit():
    matrix, _ = interpret_matrix(lambda i: i & 1, 2, 3)  # class = qubit 0's value
    np.testing.assert_array_equal(matrix[:, 1], [0, 1, 0, 1, 0, 1, 0, 1])


@pytest.mark.parametrize("shape, message", [
    (0, "output_shape must be a positive integer or tuple of them; got 0"),
    ((2, -1), r"output_shape must be a positive integer or tuple of them; got \(2, -1\)"),
    (True, "output_shape must be a positive integer or tuple of them; got True"),
    ("2", "output_shape must be a positive integer or tuple of them; got '2'"),
])
def test_bad_output_shapes(shape, message):
    with pytest.raises(ValueError, match=message):
        interpret_matrix(parity, shape, 2)


@pytest.mark.parametrize("interpret, message", [
    (lambda i: i, r"interpret\(2\) returned 2"),
    (lambda i: -1, r"interpret\(0\) returned -1"),
    (lambda i: (0, 0), r"interpret\(0\) returned \(0, 0\)"),
])
def test_classes_outside_the_shape(interpret, message):
    with pytest.raises(ValueError, match=message):
        interpret_matrix(interpret, 2, 2)


def test_interpret_must_be_callable():
    with pytest.raises(TypeError, match="interpret must be a callable int -> int; got 3"):
        interpret_matrix(3, 2, 2)
