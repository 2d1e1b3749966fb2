"""The seed tutorial: its printed numbers, and its three L-BFGS experiments in qiskit-machine-learning's API.

The numbers are those the seed tutorial (Qiskit Machine Learning's "Torch Connector and Hybrid
QNNs") prints: the loss at every L-BFGS closure evaluation and the training accuracies, exact
simulation. ``seed_experiments`` writes the experiments once, as a qiskit-machine-learning 0.9
user writes them, so that they run with either library's classes (the oracle in the same
process).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from qiskit.circuit.library import real_amplitudes, zz_feature_map
from torch import nn

from qnn_torch.data import tutorial_random

SEED_LOSSES = {
    "classification-estimator": [
        25.535646438598633, 22.696760177612305, 20.039228439331055, 19.68790626525879, 19.267210006713867,
        19.025371551513672, 18.154708862304688, 17.33785629272461, 19.082544326782227, 17.07332420349121,
        16.21839141845703, 14.992581367492676, 14.929339408874512, 14.914534568786621, 14.907638549804688,
        14.902363777160645, 14.902134895324707, 14.90211009979248, 14.902111053466797,
    ],
    "classification-sampler": [
        0.6925069093704224, 0.6881508231163025, 0.6516684293746948, 0.6485998034477234, 0.6394745111465454,
        0.7055025100708008, 0.6669358611106873, 0.6768221259117126, 0.6784337759017944, 0.7485936284065247,
        0.6641563773155212, 0.6561498045921326, 0.66301429271698, 0.6441987752914429, 0.6511136293411255,
        0.6289191246032715, 0.6247060298919678, 0.6366127729415894, 0.6195870041847229, 0.6179186105728149,
    ],
    "regression": [
        14.947757720947266, 2.948650360107422, 8.952412605285645, 0.37905153632164, 0.24995625019073486,
        0.2483610212802887, 0.24835753440856934,
    ],
}
"""dict: the seed's printed loss at every L-BFGS evaluation of each part."""

SEED_ACCURACY = {"classification-estimator": 0.8, "classification-sampler": 0.8, "regression": None}
"""dict: the seed's training accuracy of each part (None: regression has none)."""

needs_avx2 = pytest.mark.skipif(
    torch.backends.cpu.get_cpu_capability() not in ("AVX2", "AVX512"),
    reason="this CPU has no AVX2: PyTorch's scalar log_softmax takes the sampler elsewhere (README)")
"""Skips a check of the seed's later losses where PyTorch computes with its scalar kernels (README,
"The same numbers on every CPU")."""

ROOT = Path(__file__).resolve().parents[1]


def command_json(out: Path, *argv, env: dict | None = None) -> dict:
    """``qnn-torch tutorial`` on the three L-BFGS parts in a fresh process, as a user runs it (MKL's
    path its own choice), with ``argv`` added; its ``--json`` results."""
    clean = {k: v for k, v in os.environ.items() if k != "MKL_CBWR"}
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "qnn_torch", "tutorial", "--parts", ",".join(SEED_LOSSES),
               "--no-progress", "--out", str(out), "--json", str(out / "r.json"), *map(str, argv)]
    proc = subprocess.run(command, env={**clean, "PYTHONPATH": path, "MPLBACKEND": "Agg", **(env or {})},
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((out / "r.json").read_text())


def assert_the_seed(parts: dict) -> None:
    """Every loss the seed prints (to a float32 rounding), and its accuracies."""
    for part, losses in SEED_LOSSES.items():
        assert parts[part]["losses"] == pytest.approx(losses, rel=2e-7), part
        assert parts[part]["accuracy"] == SEED_ACCURACY[part], part


DETERMINISTIC_EVALUATIONS = 2
"""int: how many of a part's first evaluations never depend on how the CPU rounds float32 dot
products: L-BFGS's first update steps along the gradient scaled by its 1-norm, and only the
second update uses curvature from ``torch.dot`` (which MKL rounds per CPU)."""


def parity(x):  # as the seed writes it
    return "{:b}".format(x).count("1") % 2


def seed_experiments(EstimatorQNN, SamplerQNN, TorchConnector):
    """The seed tutorial's LBFGS parts, in qiskit-machine-learning's API."""
    r = tutorial_random()
    X = torch.tensor(r.X, dtype=torch.float32)
    results = {}

    def lbfgs(model, loss_of):
        optimizer = torch.optim.LBFGS(model.parameters())
        losses = []

        def closure():
            optimizer.zero_grad()
            loss = loss_of()
            loss.backward()
            losses.append(loss.item())
            return loss

        optimizer.step(closure)
        return losses

    feature_map, ansatz = zz_feature_map(2), real_amplitudes(2)
    qc = QuantumCircuit(2)
    qc.compose(feature_map, inplace=True)
    qc.compose(ansatz, inplace=True)
    qnn1 = EstimatorQNN(circuit=qc, input_params=feature_map.parameters, weight_params=ansatz.parameters)
    model1 = TorchConnector(qnn1, initial_weights=r.w_estimator)
    y = torch.tensor(r.y, dtype=torch.float32).reshape(-1, 1)
    losses = lbfgs(model1, lambda: nn.MSELoss(reduction="sum")(model1(X), y))
    with torch.no_grad():
        accuracy = float(np.mean(np.sign(model1(X).numpy()[:, 0]) == r.y))
    results["classification-estimator"] = (losses, accuracy, model1.state_dict())

    ansatz2 = real_amplitudes(2, reps=1, entanglement="linear")
    qc2 = QuantumCircuit(2)
    qc2.compose(feature_map, inplace=True)
    qc2.compose(ansatz2, inplace=True)
    qnn2 = SamplerQNN(circuit=qc2, input_params=feature_map.parameters, weight_params=ansatz2.parameters,
                      interpret=parity, output_shape=2)
    model2 = TorchConnector(qnn2, initial_weights=r.w_sampler)
    y01 = torch.tensor(r.y01)
    losses = lbfgs(model2, lambda: nn.CrossEntropyLoss()(model2(X), y01))
    with torch.no_grad():
        accuracy = float(np.mean(model2(X).argmax(1).numpy() == r.y01))
    results["classification-sampler"] = (losses, accuracy, model2.state_dict())

    param_x, param_y = Parameter("x"), Parameter("y")
    qc3 = QuantumCircuit(1)
    qc3.ry(param_x, 0)
    qc3.ry(param_y, 0)
    qnn3 = EstimatorQNN(circuit=qc3, input_params=[param_x], weight_params=[param_y])
    model3 = TorchConnector(qnn3, initial_weights=r.w_regression)
    Xr, yr = torch.tensor(r.X_reg, dtype=torch.float32), torch.tensor(r.y_reg, dtype=torch.float32)
    losses = lbfgs(model3, lambda: nn.MSELoss(reduction="sum")(model3(Xr), yr))
    results["regression"] = (losses, None, model3.state_dict())
    return results
