"""The torch kernels of fused gates: every way a fused gate meets the state applies its matrix (and
its adjoint), and the transition matrix on its wires is ``sum_rest psi conj(bra)``."""

import numpy as np
import pennylane as qml
import pytest
import torch

from qnn_torch.engines.fused_kernels import Step, apply_step, gate_matrices, step_mode, transition_matrix
from qnn_torch.engines.fusion import GateGroup, embed, fuse, local_gate

N = 6


def constant(array, device):
    return torch.as_tensor(array, device=device)


def _step(ops) -> Step:
    angles = iter(range(len(ops)))
    gates = [local_gate("angle" if op.num_params else "fixed", op, next(angles) if op.num_params else None)
             for op in ops]
    group = GateGroup(set().union(*(g.wires for g in gates)), gates, all(g.diagonal for g in gates))
    wires = tuple(sorted(group.wires))
    fused = fuse(group, wires, len(ops), np.random.default_rng(1))
    mode = step_mode(wires, N, fused.diagonal is not None or group.diagonal)
    return Step(fused, mode, tuple(2 if w in wires else 1 for w in range(N)))


CASES = {
    "row": [qml.RY(0.3, 4), qml.CNOT([4, 5]), qml.RX(0.7, 5)],
    "column": [qml.RY(0.3, 0), qml.CNOT([0, 1]), qml.RZ(0.2, 1)],
    "column-real": [qml.RY(0.3, 0)],  # a real matrix, and enough trailing amplitudes for products
    "einsum": [qml.RY(0.3, 2), qml.CNOT([2, 3]), qml.RX(0.7, 3)],
    "far-apart": [qml.CRX(0.4, [0, 3])],
    "diagonal": [qml.RZ(0.3, 0), qml.IsingZZ(0.5, [1, 4])],
}
MODES = {"row": "row", "column": "column", "column-real": "column", "einsum": "einsum", "far-apart": "einsum",
         "diagonal": "diagonal"}


@pytest.mark.parametrize("case", list(CASES))
def test_a_fused_gate_applies_its_matrix_and_its_adjoint(case, rng):
    ops = CASES[case]
    step = _step(ops)
    assert step.mode == MODES[case]
    theta = torch.tensor([[op.data[0] for op in ops if op.num_params]] * 2, dtype=torch.float64)
    u, _ = gate_matrices(step.gate, theta, torch.device("cpu"), constant)
    psi = torch.tensor(rng.normal(size=(2, 2**N)) + 1j * rng.normal(size=(2, 2**N)))
    full = qml.matrix(qml.prod(*reversed(ops)), wire_order=range(N))
    out = apply_step(psi, u, step, N, conj=False)
    assert torch.allclose(out, psi @ torch.tensor(full).T, atol=1e-12)
    assert torch.allclose(apply_step(out, u, step, N, conj=True), psi, atol=1e-12)


@pytest.mark.parametrize("case", list(CASES))
def test_the_transition_matrix(case, rng):
    step = _step(CASES[case])
    wires, k = step.gate.wires, len(step.gate.wires)
    psi = rng.normal(size=(2, 2**N)) + 1j * rng.normal(size=(2, 2**N))
    bras = rng.normal(size=(3, 2, 2**N)) + 1j * rng.normal(size=(3, 2, 2**N))
    rho = transition_matrix(torch.tensor(psi), torch.tensor(bras), step, N).numpy()
    order = list(wires) + [w for w in range(N) if w not in wires]  # the gate's wires first
    p = psi.reshape(2, *[2] * N).transpose(0, *(1 + w for w in order)).reshape(2, 2**k, -1)
    b = bras.reshape(3, 2, *[2] * N).transpose(0, 1, *(2 + w for w in order)).reshape(3, 2, 2**k, -1)
    expected = np.einsum("bcr,kbar->kbca", p, b.conj())
    if step.mode == "diagonal":
        expected = np.einsum("kbcc->kbc", expected)
    assert np.allclose(rho, expected)


def test_embedded_and_fused_agree_on_wire_order():
    step = _step(CASES["far-apart"])
    assert step.gate.wires == (0, 3) and step.leading == 1
    assert np.allclose(embed(qml.matrix(qml.X(0)), (0,), (0, 3)), np.kron(qml.matrix(qml.X(0)), np.eye(2)))
