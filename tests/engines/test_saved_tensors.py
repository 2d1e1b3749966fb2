"""An engine's saved state split into its tensors and the rest, and put together again."""

from typing import NamedTuple

import numpy as np
import torch

from qnn_torch.engines.saved_tensors import put_tensors, take_tensors


class _Pair(NamedTuple):
    left: object
    right: object


def test_tensors_and_arrays_are_taken_out_and_put_back():
    array, tensor = np.arange(6.0).reshape(2, 3), torch.ones(2)
    state = ([_Pair(tensor, None), (array, 3)], "plan", 7)
    tensors = []
    layout = take_tensors(state, tensors)
    assert len(tensors) == 2 and tensors[0] is tensor and np.shares_memory(tensors[1].numpy(), array)
    assert "plan" in layout and 7 in layout
    rebuilt = put_tensors(layout, tensors)
    assert rebuilt[0][0].left is tensor and isinstance(rebuilt[0][0], _Pair)
    assert isinstance(rebuilt[0][1][0], np.ndarray) and np.array_equal(rebuilt[0][1][0], array)
    assert rebuilt[1:] == ("plan", 7) and rebuilt[0][1][1] == 3


def test_what_the_hooks_give_back_is_what_is_put_back():
    tensors = []
    layout = take_tensors((torch.zeros(2), np.zeros(3)), tensors)
    copies = [t.clone() + 1 for t in tensors]
    rebuilt = put_tensors(layout, copies)
    assert torch.equal(rebuilt[0], torch.ones(2)) and np.array_equal(rebuilt[1], np.ones(3))


def test_an_array_torch_cannot_share_stays_in_place():
    reversed_view = np.arange(4.0)[::-1]  # negative strides
    tensors = []
    layout = take_tensors([reversed_view], tensors)
    assert tensors == [] and layout[0] is reversed_view
