"""Bit-for-bit parity of two checkouts' torch adjoint engine at 12 to 20 qubits, where this
checkout simulates a batch's samples on worker threads (issue #24, item 3): outputs, per-sample
Jacobians (``qnn.differentiate``, the numbers of ``qnn.backward``) and the input and weight
gradients of a ``TorchConnector`` (its vector-Jacobian product), for expectation values, raw
probabilities (Jacobians through the state) and probabilities through ``interpret``, batches of
1, 3 and 8, float64 and float32 connectors.

Each checkout dumps its results in its own process; ``compare`` asks ``torch.equal`` of every
tensor::

    PYTHONPATH=/work/main python scripts/threads_parity.py dump /tmp/main.pt --qubits 12,14
    PYTHONPATH=. python scripts/threads_parity.py dump /tmp/branch.pt --qubits 12,14
    python scripts/threads_parity.py compare /tmp/main.pt /tmp/branch.pt

``dump`` prints how many engine calls ran on worker threads (0 for a checkout without them). Raw
probabilities' full Jacobians are left out from 18 qubits (``2**n`` outputs by ``I + P`` columns
per sample: gigabytes).
"""

from __future__ import annotations

import argparse
import sys
from functools import partial

import numpy as np
import torch
from parity_dumps import compare_dumps  # this folder: the script's own

BATCHES = (1, 3, 8)
DTYPES = (torch.float64, torch.float32)
KINDS = ("expectation", "probabilities", "parity")
MAX_RAW_JACOBIAN_QUBITS = 16


def _network(kind: str, n: int):
    from qnn_torch import EstimatorQNN, RealAmplitudes, SamplerQNN, ZZFeatureMap, parity

    parts = dict(feature_map=partial(ZZFeatureMap, reps=2, entanglement="linear"),
                 ansatz=partial(RealAmplitudes, reps=3), engine="torch-adjoint", input_gradients=True)
    if kind == "expectation":
        return EstimatorQNN(n, **parts)
    if kind == "parity":
        return SamplerQNN(n, interpret=parity, output_shape=2, **parts)
    return SamplerQNN(n, **parts)


def _run(kind: str, n: int, batch: int, dtype: torch.dtype) -> dict:
    from qnn_torch import TorchConnector

    qnn = _network(kind, n)
    rng = np.random.default_rng(7)
    w = rng.uniform(-1, 1, qnn.num_weights)
    x = torch.tensor(rng.uniform(-1, 1, (batch, qnn.num_inputs)), dtype=dtype)
    result = {}
    if dtype == torch.float64:  # the network's own calls take float64 whatever the connector's dtype
        result["values"] = qnn.evaluate(x, torch.tensor(w))
        if kind != "probabilities" or n <= MAX_RAW_JACOBIAN_QUBITS:
            out, jac = qnn.differentiate(x, torch.tensor(w))
            result.update(jac_out=out, jac=list(jac))
    model = TorchConnector(qnn, initial_weights=w)
    model.weight.data = torch.tensor(w, dtype=dtype)
    xt = x.clone().requires_grad_(True)
    out = model(xt)
    g = torch.randn(out.shape, generator=torch.Generator().manual_seed(0), dtype=dtype)
    gx, gw = torch.autograd.grad((out * g).sum(), (xt, model.weight))
    result.update(out=out.detach(), gx=gx, gw=gw)
    return result


def _count_threaded_calls() -> list:
    """Thread counts of the engine's worker-thread calls (none in a checkout without them)."""
    asked: list = []
    try:
        from qnn_torch.engines import torch_adjoint
        original = torch_adjoint.map_samples
    except (ImportError, AttributeError):
        return asked

    def recording(task, items, threads):
        asked.append(threads)
        return original(task, items, threads)

    torch_adjoint.map_samples = recording
    return asked


def dump(path: str, qubits: list[int], kinds=KINDS, batches=BATCHES) -> None:
    asked = _count_threaded_calls()
    results = {}
    for n in qubits:
        for kind in kinds:
            for batch in batches:
                for dtype in DTYPES:
                    results[(n, kind, batch, str(dtype))] = _run(kind, n, batch, dtype)
            print(n, kind, flush=True)
    torch.save(results, path)
    print(f"{len(results)} runs; engine calls on worker threads: {sum(t > 0 for t in asked)} of {len(asked)} "
          f"(torch threads {torch.get_num_threads()})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    dumping = sub.add_parser("dump", help="compute and save this checkout's results")
    dumping.add_argument("path")
    dumping.add_argument("--qubits", default="12,14", help="comma-separated register sizes (default 12,14)")
    dumping.add_argument("--kinds", default=",".join(KINDS), help=f"comma-separated, of {', '.join(KINDS)}")
    dumping.add_argument("--batches", default="1,3,8", help="comma-separated batch sizes (default 1,3,8)")
    comparing = sub.add_parser("compare", help="torch.equal of two dumps")
    comparing.add_argument("paths", nargs=2)
    args = parser.parse_args(argv)
    if args.command == "dump":
        dump(args.path, [int(q) for q in args.qubits.split(",")], args.kinds.split(","),
             [int(b) for b in args.batches.split(",")])
        return 0
    return compare_dumps(*args.paths)


if __name__ == "__main__":
    sys.exit(main())
