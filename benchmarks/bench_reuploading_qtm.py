"""qiskit-torch-module's part of ``bench_reuploading.py``: one size, in the Python 3.12 environment
that has qiskit-torch-module 1.0.1 (it pins ``qiskit~=1.0`` and Python 3.12).

Run by the parent as ``python3.12 bench_reuploading_qtm.py '<json spec>'``; reports ``@@RESULT``
lines (see ``_bench_common.py``). The model is ``QuantumModule(circuit, encoding_params=x,
variational_params=weights, observables=[Z_q], ...)`` as in that project's
``examples/benchmark.py`` (one weight set: variational then scaling weights), with all CPU threads
for its forward and backward passes unless the spec gives ``threads``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

_START = time.perf_counter()

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench_common import check_agreement, emit, first_call, mean_sum_step, median_steps, set_threads  # noqa: E402

ATOL = 1e-6
FLOAT32_ATOL = 2e-5  # its torch module returns float32 (see bench_reuploading.FLOAT32_ATOL)


def main(spec: dict) -> int:
    set_threads(spec.get("threads"))
    import numpy as np
    import torch
    from qiskit_torch_module import QuantumModule

    from _reuploading import observables, qiskit_circuit

    n, depth, batch = spec["qubits"], spec["depth"], spec["batch"]
    threads = spec.get("threads") or 0  # 0: all available, the project's default
    record = {"contender": spec["contender"], "qubits": n, "batch": batch}
    qc, xi, wi = qiskit_circuit(n, depth)

    def make(w, input_gradients):
        model = QuantumModule(qc, encoding_params=xi, variational_params=wi, observables=observables(n),
                              num_threads_forward=threads, num_threads_backward=threads,
                              encoding_gradients_flag=input_gradients)
        with torch.no_grad():
            model.variational_[0].copy_(torch.as_tensor(w, dtype=torch.float32))
        return model

    # the parent's data: the timed batch and weights, and the check's inputs, weights and reference
    ref = dict(np.load(spec["reference"]))
    x_np, w_np, x_c, w_c = (ref.pop(k) for k in ("x_timed", "w_timed", "x", "w"))

    start = time.perf_counter()
    model = make(w_np, spec["input_gradients"])
    record["setup_s"] = time.perf_counter() - start
    x = torch.tensor(x_np, requires_grad=spec["input_gradients"])
    params = list(model.parameters())
    forward, backward = mean_sum_step(model, x, params)
    first_call(forward, backward, record, _START)

    # its network API (NumPy; float64 in, but it passes results between processes in float32)
    check_model = make(w_c, True)
    out = np.asarray(check_model.qnn.forward(x_c, [w_c]))
    jac_x, jac_w = check_model.qnn.backward(x_c, [w_c], encoding_gradients=True, variational_gradients=True)
    network = {"outputs": out, "grad_inputs": np.asarray(jac_x).sum(axis=1) / len(x_c),
               "grad_weights": np.asarray(jac_w).sum(axis=1).mean(axis=0)}
    # its torch module (float32)
    xt = torch.tensor(x_c, dtype=torch.float32, requires_grad=True)
    out_t = check_model(xt)
    out_t.sum(1).mean().backward()
    module = {"outputs": out_t.detach().double().numpy(), "grad_inputs": xt.grad.double().numpy(),
              "grad_weights": check_model.variational_[0].grad.double().numpy()}
    checks = {"torch": check_agreement(module, ref, FLOAT32_ATOL),
              "network": check_agreement(network, ref, ATOL)}
    record["check"] = checks
    if not all(c["ok"] for c in checks.values()):
        emit({**record, "stage": "wrong"})
        return 1
    remaining = spec["budget_s"] - (time.perf_counter() - _START)
    first = record["first_call_s"] if record["first_call_s"] > remaining else None
    record.update(median_steps(forward, backward, spec["repeats"], min(spec["step_budget_s"], remaining),
                               first_s=first))
    record["threads"] = threads
    emit({**record, "stage": "done"})
    return 0


if __name__ == "__main__":
    sys.exit(main(json.loads(sys.argv[1])))
