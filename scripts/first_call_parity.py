"""Bit-for-bit parity of two checkouts' networks: outputs, per-sample Jacobians, vector-Jacobian
products through ``TorchConnector`` and the code the engines generate (NumPy angle programs,
traced graphs), for many circuits, engines, batches, dtypes and the CPU and ``meta`` devices.

Each checkout dumps its results in its own process; ``compare`` then asks ``torch.equal`` of
every tensor and identical text of every generated program (issue #24: the tracer that replaced
``make_fx`` must change nothing but the first call's cost)::

    PYTHONPATH=/work/main python scripts/first_call_parity.py dump /tmp/main.pt
    PYTHONPATH=. python scripts/first_call_parity.py dump /tmp/branch.pt
    python scripts/first_call_parity.py compare /tmp/main.pt /tmp/branch.pt
"""

from __future__ import annotations

import sys
from functools import partial

import numpy as np
import pennylane as qml
import torch
from parity_dumps import compare_dumps  # this folder: the script's own

ENTANGLEMENTS = ("full", "linear", "reverse_linear", "circular", "sca", "pairwise")
ENGINES = ("adjoint", "torch-adjoint", "compiled")


def _templates(n: int, ent: str, sampler: bool, **kw):
    from qnn_torch import EstimatorQNN, RealAmplitudes, SamplerQNN, ZZFeatureMap

    parts = dict(feature_map=partial(ZZFeatureMap, reps=2, entanglement=ent),
                 ansatz=partial(RealAmplitudes, reps=2, entanglement=ent), **kw)
    return SamplerQNN(n, **parts) if sampler else EstimatorQNN(n, **parts)


def _pauli(n: int, **kw):
    from qnn_torch import EstimatorQNN, PauliFeatureMap, RealAmplitudes

    return EstimatorQNN(n, feature_map=partial(PauliFeatureMap, paulis=("X", "YZ", "ZXY"), reps=2,
                                               entanglement="circular"),
                        ansatz=partial(RealAmplitudes, reps=1, entanglement="sca"),
                        observables=[qml.X(0) @ qml.Y(n - 1), qml.Z(1)], **kw)


def _reuploading(n: int, **kw):
    from benchmarks.reuploading_circuit import observables, qiskit_circuit
    from qnn_torch import EstimatorQNN

    qc, xs, ws = qiskit_circuit(n, 2)
    return EstimatorQNN(circuit=qc, input_params=xs, weight_params=ws, observables=observables(n), **kw)


def _qiskit_library(n: int, sampler: bool, **kw):
    from qiskit import QuantumCircuit
    from qiskit.circuit.library import real_amplitudes, zz_feature_map

    from qnn_torch import EstimatorQNN, SamplerQNN

    fm, an = zz_feature_map(n, reps=2, entanglement="circular"), real_amplitudes(n, reps=1)
    qc = QuantumCircuit(n)
    qc.compose(fm, inplace=True)
    qc.compose(an, inplace=True)
    if sampler:
        return SamplerQNN(circuit=qc, input_params=list(fm.parameters), weight_params=list(an.parameters),
                          interpret=lambda k: k % 3, output_shape=3, **kw)
    return EstimatorQNN(circuit=qc, input_params=list(fm.parameters), weight_params=list(an.parameters), **kw)


def cases():
    """``name -> (factory(**kw), qubits)``."""
    out = {}
    for ent in ENTANGLEMENTS:
        out[f"templates-{ent}-4"] = (partial(_templates, 4, ent, False), 4)
    out["templates-probabilities-3"] = (partial(_templates, 3, "linear", True), 3)
    for n in (2, 6, 12, 14):
        out[f"templates-linear-{n}"] = (partial(_templates, n, "linear", False), n)
    out["pauli-3"] = (partial(_pauli, 3), 3)
    for n in (2, 5, 12):
        out[f"reuploading-{n}"] = (partial(_reuploading, n), n)
    out["qiskit-estimator-4"] = (partial(_qiskit_library, 4, False), 4)
    out["qiskit-sampler-interpret-4"] = (partial(_qiskit_library, 4, True), 4)
    return out


def _generated(engine) -> dict:
    """The text of every NumPy program and traced graph an engine holds."""
    from qnn_torch.engines.angle_programs import AnglePrograms

    found = {}
    holders = [engine.__dict__, getattr(getattr(engine, "_plan", None), "__dict__", {})]
    for holder in holders:
        for value in holder.values():
            if isinstance(value, AnglePrograms):
                for key in value._programs.keys():
                    found[f"angles{key}"] = value._programs.get(key).source
    graphs = getattr(engine, "_graphs", None)
    if graphs is not None:
        for key in graphs.keys():
            found[f"graph{key}"] = graphs.get(key).code
    return found


def _run(factory, engine: str, batch: int, dtype, device: str) -> dict:
    from qnn_torch import TorchConnector

    qnn = factory(engine=engine, input_gradients=True)
    rng = np.random.default_rng(7)
    w = rng.uniform(-1, 1, qnn.num_weights)
    x = torch.tensor(rng.uniform(-1, 1, (batch, qnn.num_inputs)), dtype=dtype, device=device)
    result = {}
    if device == "cpu":
        out, jac = qnn.differentiate(x.double(), torch.tensor(w))
        result.update(values=qnn.evaluate(x.double(), torch.tensor(w)), jac_out=out, jac=list(jac))
    model = TorchConnector(qnn, initial_weights=w).to(device)
    model.weight.data = torch.tensor(w, dtype=dtype, device=device)
    xt = x.clone().requires_grad_(True)
    out = model(xt)
    g = torch.randn(out.shape, generator=torch.Generator().manual_seed(0), dtype=dtype).to(device)
    gx, gw = torch.autograd.grad((out * g).sum(), (xt, model.weight))
    result.update(out=out.detach(), gx=gx, gw=gw)
    if device == "meta":
        result = {k: (v.device.type, tuple(v.shape), v.dtype) for k, v in result.items()}
    result["engine"] = qnn.engine
    result["generated"] = _generated(qnn._engines.instance(qnn.engine))
    return result


def dump(path: str) -> None:
    results = {}
    for name, (factory, n) in cases().items():
        for engine in ENGINES:
            if engine == "adjoint" and n > 6:
                continue
            for batch in (1, 5):
                for dtype in (torch.float64, torch.float32):
                    devices = ("cpu", "meta") if engine == "compiled" and n <= 6 else ("cpu",)
                    for device in devices:
                        key = (name, engine, batch, str(dtype), device)
                        try:
                            results[key] = _run(factory, engine, batch, dtype, device)
                        except Exception as err:  # noqa: BLE001 - a refusal is a result too
                            results[key] = {"error": f"{type(err).__name__}: {err}"}
        print(name, flush=True)
    torch.save(results, path)


if __name__ == "__main__":
    if sys.argv[1] == "dump":
        dump(sys.argv[2])
    else:
        sys.exit(compare_dumps(sys.argv[2], sys.argv[3]))
