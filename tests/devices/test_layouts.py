"""Qubit layouts on a fake backend: outputs and gradients do not depend on where the circuit runs.

qiskit-machine-learning long read sampler results of transpiled circuits with a non-trivial
layout from the wrong bits (its issue #1040). Here an explicit ``initial_layout`` that needs
routing (logical qubits on physical qubits 3 and 1 of a line: SWAPs move them) and the
transpiler's own choice both give the exact ``default.qubit`` numbers within five standard
deviations of the shot noise, for estimator and sampler (``interpret=parity``) networks.
"""

import numpy as np
import pytest
from qiskit.providers.fake_provider import GenericBackendV2
from qiskit.transpiler import CouplingMap

from .networks import CIRCUITS, SIGMAS, noise_scale, reference, run

SHOTS = 5000


def line_backend():
    """A noiseless 5-qubit backend whose qubits form a line 0-1-2-3-4."""
    return GenericBackendV2(5, coupling_map=CouplingMap.from_line(5), noise_info=False, seed=11)


@pytest.mark.filterwarnings("ignore:Qiskit backend .* has no QubitProperties:UserWarning")
@pytest.mark.parametrize("layout", [[3, 1], None])
@pytest.mark.parametrize("circuit", ["tutorial-estimator", "tutorial-sampler-parity"])
def test_layouts_give_the_exact_numbers(circuit, layout):
    options = {} if layout is None else {"initial_layout": layout}
    build, _ = CIRCUITS[circuit]
    qnn = build(device=line_backend(), shots=SHOTS, device_options=options)
    (x, w), want = reference(circuit)
    got = run(qnn, x, w)

    transpiled = next(iter(qnn.spec.device._transpiled_circuits.values())).circuit
    placed = transpiled.layout.initial_index_layout()[:2]
    if layout is not None:
        assert placed == layout  # the circuit really ran there
    sigma = np.full(got[0].shape[1], (0.5 if circuit.endswith("parity") else 1.0) / np.sqrt(SHOTS))
    s = noise_scale(qnn, x, w)
    s_x, s_w = s[:, :qnn.num_inputs], s[:, qnn.num_inputs:]
    tolerances = (SIGMAS * sigma[None, :], SIGMAS * sigma[None, :, None] * np.sqrt(s_x[:, None, :] / 2),
                  SIGMAS * sigma[:, None] * np.sqrt(s_w.sum(0)[None, :] / 2))
    for name, g, r, tol in zip(("outputs", "input Jacobians", "weight gradients"), got, want, tolerances):
        error = np.abs(g - r.reshape(g.shape))
        assert np.all(error <= tol + 1e-12), f"{name} on layout {placed}: largest error {error.max():.4g}"
