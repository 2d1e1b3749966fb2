"""Qiskit reference circuits and qiskit-machine-learning networks: the oracles of the parity tests,
and the qiskit-machine-learning side of `benchmarks/bench_tutorial.py` (one definition for both)."""

import numpy as np
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter
from qiskit.circuit.library import real_amplitudes, zz_feature_map
from qiskit_machine_learning.neural_networks import EstimatorQNN as QkEstimatorQNN
from qiskit_machine_learning.neural_networks import SamplerQNN as QkSamplerQNN


def zz_ra_circuit(n, fm_reps=2, ra_reps=3, entanglement="reverse_linear"):
    fm = zz_feature_map(n, reps=fm_reps)
    an = real_amplitudes(n, reps=ra_reps, entanglement=entanglement)
    qc = QuantumCircuit(n)
    qc.compose(fm, inplace=True)
    qc.compose(an, inplace=True)
    return qc, list(fm.parameters), list(an.parameters)


def ry_ry_circuit():
    x, w = Parameter("x"), Parameter("w")
    qc = QuantumCircuit(1)
    qc.ry(x, 0)
    qc.ry(w, 0)
    return qc, [x], [w]


def estimator(circuit, inputs, weights, observables=None):
    return QkEstimatorQNN(
        circuit=circuit, observables=observables, input_params=inputs, weight_params=weights,
        input_gradients=True,
    )


def sampler(circuit, inputs, weights, interpret=None, output_shape=None):
    return QkSamplerQNN(
        circuit=circuit, input_params=inputs, weight_params=weights, interpret=interpret,
        output_shape=output_shape, input_gradients=True,
    )


def reference(qnn, x, w):
    """Outputs (B, K), input Jacobian (B, K, I) and weight Jacobian (B, K, W) in float64."""
    out = qnn.forward(x, w)
    gin, gw = qnn.backward(x, w)
    return np.asarray(out), np.asarray(gin), np.asarray(gw)
