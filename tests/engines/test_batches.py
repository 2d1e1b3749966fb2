"""A batch split into pieces, per-sample weights alongside."""

import torch

from qnn_torch.engines.batches import split_batch


def test_shared_weights_go_whole_to_every_piece():
    x, w = torch.arange(10.0).reshape(5, 2), torch.arange(3.0)
    pieces = list(split_batch(x, w, 2))
    assert [tuple(p.shape) for p, _ in pieces] == [(2, 2), (2, 2), (1, 2)]
    assert all(q is w for _, q in pieces)
    assert torch.equal(torch.cat([p for p, _ in pieces]), x)


def test_per_sample_weights_are_split_with_the_inputs():
    x, w = torch.arange(10.0).reshape(5, 2), torch.arange(15.0).reshape(5, 3)
    pieces = list(split_batch(x, w, 3))
    assert [(tuple(p.shape), tuple(q.shape)) for p, q in pieces] == [((3, 2), (3, 3)), ((2, 2), (2, 3))]
    assert torch.equal(torch.cat([q for _, q in pieces]), w)
    assert len(list(split_batch(x, w, 99))) == 1
