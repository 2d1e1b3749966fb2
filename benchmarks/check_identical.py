"""Check that two checkouts compute bit-identical numbers: outputs, input and weight gradients
(Jacobians or vector-Jacobian products) and the generated angle programs' source, for a first
network and a second network of the same shape in one process, over register sizes, engines,
precisions and both network kinds (issue #24: work on the first call must change no number).

Each checkout runs in its own subprocess (``PYTHONPATH`` set to it); the results are compared
with ``torch.equal`` and string equality.

    python -m benchmarks.check_identical --baseline /work/main [--qubits 2,3,4,6,8,10,12,14]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENGINES = ("adjoint", "torch-adjoint", "auto")


def _network(kind: str, n: int, engine: str, precision: str):
    import torch

    from qnn_torch import EstimatorQNN, RealAmplitudes, SamplerQNN, TorchConnector, ZZFeatureMap

    options = dict(feature_map=partial(ZZFeatureMap, reps=2, entanglement="linear"),
                   ansatz=partial(RealAmplitudes, reps=3), input_gradients=True, engine=engine,
                   precision=precision)
    if kind == "estimator":
        qnn = EstimatorQNN(n, **options)
    else:  # parity: two outputs (Jacobians); "probs": 2**n outputs (vector-Jacobian products)
        interpret = (lambda b: bin(b).count("1") % 2) if kind == "parity" else None
        qnn = SamplerQNN(n, interpret=interpret, output_shape=2 if interpret else None, **options)
    return TorchConnector(qnn, initial_weights=torch.linspace(-1, 1, qnn.num_weights))


def _programs(model) -> dict:
    chain = model.qnn._engines
    try:
        engine = chain.instance(model.qnn.engine)
    except Exception:  # noqa: BLE001 - an engine without programs
        return {}
    cache = getattr(getattr(engine, "_angles", None), "_programs", None)
    if cache is None and getattr(engine, "_plan", None) is not None and hasattr(engine._plan, "angles"):
        cache = engine._plan.angles._programs
    if cache is None:
        return {}
    return {key: cache.get(key).source for key in cache.keys()}


def _results(configs) -> dict:
    import torch

    out = {}
    for kind, n, engine, precision in configs:
        if engine == "adjoint" and (n > 8 or (kind == "probs" and n > 5)):
            continue
        gen = torch.Generator().manual_seed(n)
        for batch in (1, 3):
            x = torch.rand(batch, n, generator=gen) * 2 - 1
            for which in ("first", "second"):
                model = _network(kind, n, engine, precision)
                if precision == "double":  # float64 weights: float64 outputs and gradients, every bit seen
                    model.weight.data = model.weight.data.double()
                xs = x.clone().to(model.weight.dtype).requires_grad_(True)
                y = model(xs)
                g = torch.linspace(-1, 1, y.numel(), dtype=y.dtype).reshape(y.shape)
                y.backward(g)
                key = (kind, n, engine, precision, batch, which)
                out[key] = {"engine": model.qnn.engine, "y": y.detach(), "gx": xs.grad,
                            "gw": model.weight.grad, "programs": _programs(model)}
                if which == "first":
                    keep = model  # alive while the second network of its shape runs  # noqa: F841
    return out


def worker(path: str, qubits: list[int]) -> None:
    import torch

    configs = [(kind, n, engine, precision) for n in qubits for kind in ("estimator", "parity", "probs")
               for engine in ENGINES for precision in ("double", "single")
               if not (kind == "probs" and n > 10)]
    torch.save(_results(configs), path)


def _run(checkout: str, qubits: str, path: str) -> None:
    env = dict(os.environ, PYTHONPATH=checkout, OMP_NUM_THREADS="1")
    code = ("import importlib.util, qnn_torch; assert qnn_torch.__file__.startswith(%r), qnn_torch.__file__; "
            "spec = importlib.util.spec_from_file_location('check', %r); "
            "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module); "
            "module.worker(%r, [%s])" % (checkout, __file__, path, qubits))
    subprocess.run([sys.executable, "-c", code], env=env, check=True, cwd=checkout)


def main(argv=None) -> int:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", required=True)
    parser.add_argument("--qubits", default="2,3,4,6,8,10,12,14")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        paths = {}
        for label, checkout in (("this", str(ROOT)), ("baseline", str(Path(args.baseline).resolve()))):
            paths[label] = os.path.join(tmp, f"{label}.pt")
            _run(checkout, args.qubits, paths[label])
        this, base = (torch.load(paths[k], weights_only=False) for k in ("this", "baseline"))
    bad = [key for key in base if key not in this]
    for key, ref in base.items():
        got = this.get(key)
        if got is None:
            continue
        for field, value in ref.items():
            if field == "programs":  # programs of other shapes may be shared with networks of this one
                same = all(got[field].get(k) == source for k, source in value.items())
            elif isinstance(value, torch.Tensor):
                same = torch.equal(value, got[field])
            else:
                same = value == got[field]
            if not same:
                bad.append((key, field))
    fields = sorted({entry[1] if isinstance(entry[0], tuple) else "missing" for entry in bad})
    print(f"compared {len(base)} cases ({sum(len(r['programs']) for r in base.values())} programs): "
          + ("all identical" if not bad else f"{len(bad)} differences, in {fields}: {bad[:10]}"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
