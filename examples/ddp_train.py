"""Data-parallel training of a hybrid model over several processes with torchrun.

Run on CPUs (gloo), two processes, checkpoint after every epoch; run it again with ``--resume``
after an interruption:

.. code-block:: bash

    torchrun --nproc_per_node=2 examples/ddp_train.py --epochs 5 --checkpoint ddp.pt
    torchrun --nproc_per_node=2 examples/ddp_train.py --epochs 10 --checkpoint ddp.pt --resume

With GPUs, ``init_distributed`` picks NCCL and each process its GPU (``cuda:LOCAL_RANK``); the
model and the batches are moved there.
"""

from __future__ import annotations

import argparse

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

from qnn_torch import EstimatorQNN, TorchConnector, fit
from qnn_torch.distributed import init_distributed, shutdown_distributed


class Hybrid(torch.nn.Module):
    """Linear(2 -> 2) -> 2-qubit EstimatorQNN -> Linear(1 -> 1)."""

    def __init__(self):
        super().__init__()
        self.pre = torch.nn.Linear(2, 2)
        self.qnn = TorchConnector(EstimatorQNN(2))
        self.post = torch.nn.Linear(1, 1)

    def forward(self, x):
        return self.post(self.qnn(self.pre(x)))


class OnDevice:
    """A loader whose batches are moved to ``device`` (fit passes batches as they come)."""

    def __init__(self, loader, device):
        self.loader, self.sampler, self.device = loader, loader.sampler, device

    def __iter__(self):
        for x, y in self.loader:
            yield x.to(self.device), y.to(self.device)


def train(args, rank: int, world_size: int) -> None:
    cuda = torch.cuda.is_available()
    device = torch.device("cuda", torch.cuda.current_device()) if cuda else torch.device("cpu")
    torch.manual_seed(0)  # the same data in every process (DDP copies rank 0's weights anyway)
    x = torch.rand(64, 2) * 2 - 1
    y = (x[:, :1] * x[:, 1:]).sign()
    data = TensorDataset(x, y)
    sampler = DistributedSampler(data, shuffle=True, seed=0)
    loader = DataLoader(data, batch_size=args.batch_size, sampler=sampler)
    model = DistributedDataParallel(Hybrid().to(device))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    losses = fit(model, OnDevice(loader, device), optimizer, torch.nn.functional.mse_loss, epochs=args.epochs,
                 checkpoint=args.checkpoint, resume=args.resume)
    if rank == 0:
        print(f"{world_size} processes, epoch losses: {[round(v, 4) for v in losses]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=8, help="per process")
    parser.add_argument("--checkpoint", default="ddp.pt")
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args()
    rank, world_size = init_distributed()
    try:
        train(args, rank, world_size)
    finally:
        shutdown_distributed()  # after train() has released the DDP model


if __name__ == "__main__":
    main()
