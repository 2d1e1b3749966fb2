"""Qiskit reference circuits and qiskit-machine-learning networks: the oracles of the parity tests,
and the qiskit-machine-learning side of `benchmarks/bench_tutorial.py` (one definition for both)."""

import numpy as np
from qiskit import QuantumCircuit
from qiskit.circuit import Parameter, ParameterVector
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


def reuploading_circuit(n, depth):
    """Data re-uploading with trainable input scaling (qiskit-torch-module's benchmark family): H on
    every qubit; per layer RZ(w), RY(w) on each qubit, a CX ring, RY(w x_i), RZ(w x_i); then a final
    RZ(w), RY(w) layer. Weights in gate order: ``4 n depth + 2 n`` of them."""
    x, w = ParameterVector("x", n), ParameterVector("w", 4 * n * depth + 2 * n)
    qc = QuantumCircuit(n)
    qc.h(range(n))
    k = 0
    for _ in range(depth):
        for i in range(n):
            qc.rz(w[k], i)
            qc.ry(w[k + 1], i)
            k += 2
        for i in range(n):
            qc.cx(i, (i + 1) % n)
        for i in range(n):
            qc.ry(w[k] * x[i], i)
            qc.rz(w[k + 1] * x[i], i)
            k += 2
    for i in range(n):
        qc.rz(w[k], i)
        qc.ry(w[k + 1], i)
        k += 2
    return qc, list(x), list(w)
