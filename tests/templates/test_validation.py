"""The templates' argument checks: each names the argument, what was expected and what was given."""

import numpy as np
import pytest
import torch

from qnn_torch.templates import skip_value_checks
from qnn_torch.templates._validation import check_finite, check_last_dim, check_real_number, check_reps


def test_reps():
    assert check_reps(np.int64(2), 1) == 2
    with pytest.raises(ValueError, match="reps must be an integer >= 1; got 0"):
        check_reps(0, 1)
    with pytest.raises(TypeError, match=r"reps must be an integer >= 0; got True \(bool\)"):
        check_reps(True, 0)


def test_last_dim():
    check_last_dim(np.zeros((4, 3)), "features", 3, "one per wire")
    with pytest.raises(ValueError, match=r"features must have length 3 \(one per wire\); got length 2"):
        check_last_dim(np.zeros(2), "features", 3, "one per wire")
    with pytest.raises(ValueError, match=r"features must be a 1-D tensor of length 3 .*got shape \(1, 1, 3"):
        check_last_dim(np.zeros((1, 1, 3)), "features", 3, "one per wire")


def test_finite_values_and_the_traces_that_skip_them():
    with pytest.raises(ValueError, match="weights must be finite"):
        check_finite(torch.tensor([0.0, float("inf")]), "weights")
    with skip_value_checks():
        check_finite(torch.tensor([float("nan")]), "weights")  # a traced value is checked by its caller
    with pytest.raises(ValueError, match="weights must be finite"):
        check_finite(torch.tensor([float("nan")]), "weights")


@pytest.mark.parametrize("value, error, match", [
    ("big", TypeError, r"alpha must be a real number; got 'big' \(str\)"),
    (True, TypeError, "alpha must be a real number; got True"),
    (float("inf"), ValueError, "alpha must be a finite real number; got inf"),
])
def test_real_number(value, error, match):
    assert check_real_number(np.float32(1.5), "alpha") == 1.5
    with pytest.raises(error, match=match):
        check_real_number(value, "alpha")
