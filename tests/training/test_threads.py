"""tiny_batch_mode: one thread and PyTorch's native kernels inside the block, restored after it."""

import pytest
import torch

from qnn_torch.training.threads import tiny_batch_mode


@pytest.mark.parametrize("threads", [1, 2])
def test_settings_inside_and_restored_after_an_error(threads):
    before, onednn = torch.get_num_threads(), torch.backends.mkldnn.enabled
    with pytest.raises(RuntimeError, match="inside"):
        with tiny_batch_mode(threads):
            assert torch.get_num_threads() == threads and torch.backends.mkldnn.enabled is False
            raise RuntimeError("inside")
    assert torch.get_num_threads() == before and torch.backends.mkldnn.enabled == onednn


def test_results_equal_the_default_settings_up_to_rounding():
    torch.manual_seed(0)
    conv, image = torch.nn.Conv2d(1, 2, kernel_size=5), torch.rand(1, 1, 28, 28)
    with tiny_batch_mode():
        inside = conv(image)
    torch.testing.assert_close(inside, conv(image), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("threads", [0, -1, 1.5, True, "2"])
def test_threads_must_be_a_positive_integer(threads):
    with pytest.raises(ValueError, match="threads must be a positive integer"):
        with tiny_batch_mode(threads):
            pass
