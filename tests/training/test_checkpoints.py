"""Training checkpoints: the entries fit writes, read back only when they are whole and consistent,
and restored into a model, an optimizer and torch's random state."""

import pytest
import torch

from qnn_torch.checkpoint import CheckpointError, save_atomic
from qnn_torch.training.checkpoints import (TRAINING_KEYS, load_checkpoint, restore_training_state,
                                            save_training_state, training_state)


def _model_and_optimizer(seed=0):
    torch.manual_seed(seed)
    model = torch.nn.Linear(2, 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    model(torch.rand(3, 2)).sum().backward()
    optimizer.step()  # an optimizer with state
    return model, optimizer


def test_a_checkpoint_round_trip_restores_model_optimizer_and_random_state(tmp_path):
    model, optimizer = _model_and_optimizer()
    path = tmp_path / "run.pt"
    save_training_state(model, optimizer, 2, [0.5, 0.25], path)
    rng = torch.get_rng_state()
    assert set(load_checkpoint(path)) == set(TRAINING_KEYS)
    other, other_optimizer = _model_and_optimizer(seed=1)
    torch.manual_seed(99)
    assert restore_training_state(path, other, other_optimizer, epochs=3) == [0.5, 0.25]
    assert torch.equal(torch.get_rng_state(), rng)
    assert torch.equal(other.weight, model.weight)
    assert other_optimizer.state_dict()["state"][0]["step"] == optimizer.state_dict()["state"][0]["step"]


def test_the_model_entry_has_no_wrapper_prefix():
    model, optimizer = _model_and_optimizer()
    wrapped = torch.nn.DataParallel(model)
    state = training_state(wrapped, optimizer, 0, [])
    assert set(state["model"]) == {"weight", "bias"} and "torch_rng_ranks" not in state
    assert training_state(model, optimizer, 0, [], rng_states=["r0", "r1"])["torch_rng_ranks"] == ["r0", "r1"]


@pytest.mark.parametrize("change, problem", [
    ({"epoch": -1}, "its epoch -1 is not a non-negative integer"),
    ({"epoch": True}, "its epoch True is not a non-negative integer"),
    ({"epoch": 3}, r"its epoch 3 is not the number of its losses \(2\)"),
    ({"losses": "0.5"}, r"its epoch 2 is not the number of its losses \(str\)"),
])
def test_a_damaged_checkpoint_is_refused(tmp_path, change, problem):
    model, optimizer = _model_and_optimizer()
    path = save_atomic({**training_state(model, optimizer, 2, [0.5, 0.25]), **change}, tmp_path / "run.pt")
    with pytest.raises(CheckpointError, match=f"checkpoint {path} is damaged: {problem}; restore it"):
        load_checkpoint(path)


def test_restoring_refuses_more_epochs_and_another_model(tmp_path):
    model, optimizer = _model_and_optimizer()
    path = tmp_path / "run.pt"
    save_training_state(model, optimizer, 2, [0.5, 0.25], path)
    with pytest.raises(ValueError, match="already holds 2 epochs, more than epochs=1"):
        restore_training_state(path, model, optimizer, epochs=1)
    other = torch.nn.Linear(3, 1)
    with pytest.raises(CheckpointError, match="does not fit this model or optimizer"):
        restore_training_state(path, other, torch.optim.Adam(other.parameters()), epochs=2)
