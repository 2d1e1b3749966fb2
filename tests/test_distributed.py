"""Many processes: fit and TorchConnector under DistributedDataParallel (gloo on the CPU, NCCL on GPUs).

Two spawned processes, each with half of every global batch, end with the weights of one process
trained on the whole batches; only rank 0 writes the checkpoint and both resume from it; a failed
write stops both; a DDP model without a process group is refused. With CUDA, one NCCL process per
GPU (up to 2) trains a model on its GPU to the CPU's weights. Every wait has a timeout.
"""

from __future__ import annotations

import gc
import time
from datetime import timedelta

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel

from qnn_torch import EstimatorQNN, TorchConnector, TrainingInterrupted, fit
from qnn_torch.training import checkpoints, load_checkpoint
from qnn_torch.distributed import init_distributed, process_rank, shutdown_distributed, unwrap

WORLD = 2
GLOBAL_BATCH = 4
EPOCHS = 2
TIMEOUT_S = 90  # the whole spawned run; a hang fails the test instead of blocking it


def _data():
    rng = np.random.default_rng(7)
    x = torch.tensor(rng.uniform(-1, 1, (8, 2)))
    y = torch.tensor(rng.uniform(-1, 1, (8, 1)))
    return x, y


def _global_batches():
    x, y = _data()
    return [(x[i:i + GLOBAL_BATCH], y[i:i + GLOBAL_BATCH]) for i in range(0, len(x), GLOBAL_BATCH)]


def _shards(rank: int, world: int):
    """Rank ``rank``'s equal share of every global batch."""
    size = GLOBAL_BATCH // world
    share = slice(rank * size, (rank + 1) * size)
    return [(x[share], y[share]) for x, y in _global_batches()]


def _model() -> torch.nn.Module:
    """Linear -> 2-qubit TorchConnector -> Linear, in float64 (so that 1e-10 means something)."""
    torch.manual_seed(3)
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), TorchConnector(EstimatorQNN(2)), torch.nn.Linear(1, 1))
    return model.double()


def _optimizer(model):
    return torch.optim.Adam(model.parameters(), lr=0.1)


def _train_ranks(rank: int, world: int, out_dir: str) -> dict:
    """One epoch with a checkpoint, a restart resuming to EPOCHS, then a checkpoint write that fails."""
    saves = []
    original = checkpoints.save_atomic

    def counted(state, path):
        saves.append(str(path))
        return original(state, path)

    checkpoints.save_atomic = counted
    path = f"{out_dir}/ddp.pt"
    model = DistributedDataParallel(_model())
    torch.manual_seed(100 + rank)  # each process its own random stream
    fit(model, _shards(rank, world), _optimizer(model), torch.nn.functional.mse_loss, epochs=1,
        checkpoint=path)
    rng_at_checkpoint = torch.get_rng_state()
    dist.barrier()
    model = DistributedDataParallel(_model())  # a restarted job: fresh weights, then the checkpoint
    optimizer = _optimizer(model)
    rng_resumed = []
    losses = fit(model, _shards(rank, world), optimizer, torch.nn.functional.mse_loss, epochs=EPOCHS,
                 checkpoint=path, resume=True,
                 on_batch=lambda loss: rng_resumed.append(torch.get_rng_state()))
    result = {"state": {k: v.detach().clone() for k, v in unwrap(model).state_dict().items()},
              "losses": losses, "own_rng_resumed": torch.equal(rng_resumed[0], rng_at_checkpoint)}
    try:  # rank 0 cannot write here (a folder): both ranks stop, neither waits for ever
        fit(model, _shards(rank, world), optimizer, torch.nn.functional.mse_loss, epochs=EPOCHS + 1,
            checkpoint=out_dir, resume=False)
    except TrainingInterrupted as err:
        result["failure"] = f"{err} | {type(err.__cause__).__name__}: {err.__cause__}"
    result["saves"] = list(saves)
    return result


def _worker(rank: int, world: int, store: str, out_dir: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world,
                            timeout=timedelta(seconds=30))
    try:
        result = _train_ranks(rank, world, out_dir)
        torch.save(result, f"{out_dir}/rank{rank}.pt")
    finally:
        shutdown_distributed()


def _nccl_worker(rank: int, world: int, store: str, out_dir: str) -> None:
    """EPOCHS epochs of a model on GPU ``rank`` (NCCL) with a checkpoint; its weights saved on the CPU."""
    torch.cuda.set_device(rank)
    dist.init_process_group("nccl", init_method=f"file://{store}", rank=rank, world_size=world,
                            timeout=timedelta(seconds=30))
    try:
        device = torch.device("cuda", rank)
        model = DistributedDataParallel(_model().to(device), device_ids=[rank])
        shards = [(x.to(device), y.to(device)) for x, y in _shards(rank, world)]
        losses = fit(model, shards, _optimizer(model), torch.nn.functional.mse_loss, epochs=EPOCHS,
                     checkpoint=f"{out_dir}/nccl.pt")
        state = {k: v.detach().cpu() for k, v in unwrap(model).state_dict().items()}
        devices = {str(p.device) for p in model.parameters()}
        torch.save({"state": state, "losses": losses, "devices": devices}, f"{out_dir}/rank{rank}.pt")
        del model
    finally:
        shutdown_distributed()


def _spawn(tmp_path, world: int, worker=_worker) -> list[dict]:
    context = mp.start_processes(worker, args=(world, str(tmp_path / "store"), str(tmp_path)), nprocs=world,
                                 join=False, start_method="spawn")
    deadline = time.monotonic() + TIMEOUT_S
    while not context.join(timeout=1):
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            pytest.fail(f"the {world} processes did not finish within {TIMEOUT_S} s")
    return [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in range(world)]


@pytest.mark.slow
def test_two_processes_train_like_one_and_resume(tmp_path):
    ranks = _spawn(tmp_path, WORLD)
    model = _model()
    expected = fit(model, _global_batches(), _optimizer(model), torch.nn.functional.mse_loss, epochs=EPOCHS)
    reference = model.state_dict()
    for rank, result in enumerate(ranks):
        assert result["state"].keys() == reference.keys()
        for key, value in reference.items():
            assert torch.allclose(result["state"][key], value, atol=1e-10, rtol=0), (rank, key)
        assert np.allclose(result["losses"], expected, atol=1e-12, rtol=0)
    # only rank 0 wrote: once per epoch of each run (1, then 1 more after resuming, then the failed one)
    assert ranks[0]["saves"] == [str(tmp_path / "ddp.pt")] * 2 + [str(tmp_path)]
    assert ranks[1]["saves"] == []
    assert [r["own_rng_resumed"] for r in ranks] == [True] * WORLD  # each resumes its own random state
    checkpoint = load_checkpoint(tmp_path / "ddp.pt")
    assert checkpoint["epoch"] == EPOCHS and len(checkpoint["torch_rng_ranks"]) == WORLD
    assert not any(k.startswith("module.") for k in checkpoint["model"])  # loads without DDP
    model = _model()
    model.load_state_dict(checkpoint["model"])
    # a checkpoint that rank 0 cannot write stops both processes
    assert "IsADirectoryError" in ranks[0]["failure"]
    assert "rank 0 could not write checkpoint" in ranks[1]["failure"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_nccl_processes_on_gpus_train_like_one_cpu_process(tmp_path):
    world = 2 if torch.cuda.device_count() >= 2 else 1  # NCCL takes one GPU per process
    ranks = _spawn(tmp_path, world, _nccl_worker)
    model = _model()
    expected = fit(model, _global_batches(), _optimizer(model), torch.nn.functional.mse_loss, epochs=EPOCHS)
    for rank, result in enumerate(ranks):
        assert result["devices"] == {f"cuda:{rank}"}
        for key, value in model.state_dict().items():
            assert torch.allclose(result["state"][key], value, atol=1e-10, rtol=0), (rank, key)
        assert np.allclose(result["losses"], expected, atol=1e-12, rtol=0)
    checkpoint = load_checkpoint(tmp_path / "nccl.pt")  # read onto the CPU
    assert checkpoint["epoch"] == EPOCHS
    assert {str(v.device) for v in checkpoint["model"].values()} == {"cpu"}


def test_init_distributed_outside_torchrun_says_how(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(RuntimeError, match=r"RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT missing.*"
                                           r"torchrun --nproc_per_node"):
        init_distributed()
    assert process_rank() == (0, 1)


@pytest.mark.parametrize("timeout_s, backend", [(0, None), (-1.0, None), (5, "mpi")])
def test_init_distributed_bad_arguments(timeout_s, backend):
    with pytest.raises(ValueError, match="timeout_s|backend"):
        init_distributed(backend=backend, timeout_s=timeout_s)


def test_ddp_model_without_process_group_is_refused(tmp_path):
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1,
                            timeout=timedelta(seconds=10))
    try:
        model = DistributedDataParallel(_model())
    finally:
        dist.destroy_process_group()
    try:
        with pytest.raises(RuntimeError, match="no torch.distributed process group is initialised.*torchrun"):
            fit(model, _global_batches(), _optimizer(model), torch.nn.functional.mse_loss, epochs=1,
                checkpoint=tmp_path / "x.pt")
        assert not (tmp_path / "x.pt").exists()
    finally:  # release the model's process group now (tracebacks hold it too), not at the interpreter's exit
        del model
        gc.collect()


@pytest.fixture
def lonely_group(monkeypatch):
    """A one-process gloo group whose barrier fails as it does when another process has died."""
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1,
                            timeout=timedelta(seconds=10))

    def barrier(*args, **kwargs):
        raise RuntimeError("[../third_party/gloo/gloo/transport/tcp/pair.cc:534] Connection closed by peer")

    monkeypatch.setattr(dist, "barrier", barrier)
    yield
    if dist.is_initialized():
        dist.destroy_process_group()


@pytest.mark.usefixtures("lonely_group")
def test_the_documented_recipe_keeps_the_real_error_last():
    """``try: train() finally: shutdown_distributed()`` after a peer died: the barrier's error
    replaced the TrainingInterrupted; now the group is destroyed with a warning and the real error
    propagates."""
    stopped = TrainingInterrupted("training stopped in epoch 1 of 2 (RuntimeError: peer died)", None, 0)
    with pytest.raises(TrainingInterrupted) as info, \
            pytest.warns(RuntimeWarning, match=r"did not reach the closing barrier \(RuntimeError: .*"
                                               r"Connection closed by peer\); the process group was "
                                               r"destroyed without them"):
        try:
            raise stopped
        finally:
            shutdown_distributed()
    assert info.value is stopped and not dist.is_initialized()


@pytest.mark.usefixtures("lonely_group")
def test_a_failed_barrier_without_an_error_in_flight_raises():
    with pytest.raises(RuntimeError, match="the other processes did not reach the closing barrier"):
        shutdown_distributed()
    assert not dist.is_initialized()


def _peer_dies_worker(rank: int, world: int, store: str, out_dir: str) -> None:
    """The documented recipe; rank 1 dies in its second training step. Rank 0 records the error it
    ends with."""
    import os

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world,
                            timeout=timedelta(seconds=30))
    steps = []

    def loss(out, target):
        if rank == 1 and steps:
            os._exit(3)  # killed: no exception, no clean-up
        steps.append(1)
        return torch.nn.functional.mse_loss(out, target)

    def train():
        model = DistributedDataParallel(_model())
        fit(model, _shards(rank, world), _optimizer(model), loss, epochs=EPOCHS,
            checkpoint=f"{out_dir}/ddp.pt")

    try:
        try:
            train()
        finally:
            shutdown_distributed()
    except BaseException as err:  # noqa: BLE001 - what the user of the recipe sees
        torch.save({"last": type(err).__name__, "message": str(err)}, f"{out_dir}/rank{rank}.pt")


@pytest.mark.slow
def test_a_peer_that_dies_leaves_training_interrupted_as_the_error(tmp_path):
    """Two real processes, one killed mid-epoch: the survivor's recipe ends with TrainingInterrupted
    (the closing barrier's error replaced it)."""
    context = mp.get_context("spawn")
    args = (WORLD, str(tmp_path / "store"), str(tmp_path))
    processes = [context.Process(target=_peer_dies_worker, args=(rank, *args)) for rank in range(WORLD)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(TIMEOUT_S)
    for process in processes:
        if process.is_alive():
            process.kill()
            pytest.fail(f"a process did not finish within {TIMEOUT_S} s")
    assert processes[1].exitcode == 3
    survivor = torch.load(tmp_path / "rank0.pt", weights_only=False)
    assert survivor["last"] == "TrainingInterrupted", survivor
    assert "training stopped in epoch 1 of 2" in survivor["message"]
