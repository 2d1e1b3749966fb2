"""``qnn_torch.QiskitMachineLearningError``: a ``QiskitError`` and a ``ValueError``, made on first use,
and raised where qiskit-machine-learning 0.9 raises its own (the oracle, in the same process)."""

from __future__ import annotations

import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
from qiskit.exceptions import QiskitError
from qiskit_machine_learning import QiskitMachineLearningError as QkError
from qiskit_machine_learning.connectors import TorchConnector as QkTorchConnector

import qnn_torch
from qnn_torch import QiskitMachineLearningError, TorchConnector
from qnn_torch.exceptions import machine_learning_error

from . import qiskit_reference as ref


def test_is_a_qiskit_error_and_a_value_error():
    assert issubclass(QiskitMachineLearningError, QiskitError)
    assert issubclass(QiskitMachineLearningError, ValueError)
    error = machine_learning_error("input_data has 3 features")
    assert type(error) is QiskitMachineLearningError and error.message == "input_data has 3 features"
    assert qnn_torch.exceptions.QiskitMachineLearningError is QiskitMachineLearningError
    assert QiskitMachineLearningError.__qualname__ == "QiskitMachineLearningError"
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is QiskitMachineLearningError and again.message == error.message
    with pytest.raises(AttributeError, match="has no attribute 'Other'"):
        qnn_torch.exceptions.Other  # noqa: B018


def test_made_on_first_use_only():
    code = ("import sys\n"
            "import qnn_torch.exceptions as e\n"
            "print('qiskit' in sys.modules)\n"
            "e.QiskitMachineLearningError\n"
            "print('qiskit' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "True"]


def _pair(kind):
    qc, inputs, weights = ref.zz_ra_circuit(2, fm_reps=1, ra_reps=1)
    if kind == "estimator":
        return (qnn_torch.EstimatorQNN(circuit=qc, input_params=inputs, weight_params=weights),
                ref.estimator(qc, inputs, weights))
    return (qnn_torch.SamplerQNN(circuit=qc, input_params=inputs, weight_params=weights),
            ref.sampler(qc, inputs, weights))


def _wrong_forward(qnn):
    qnn.forward(np.zeros((2, 3)), np.zeros(4))


def _wrong_backward(qnn):
    qnn.backward(np.zeros(3), np.zeros(4))


def _wrong_connector_input(qnn):
    connector = TorchConnector if isinstance(qnn, qnn_torch.NeuralNetwork) else QkTorchConnector
    connector(qnn)(torch.zeros(2, 3))


@pytest.mark.parametrize("kind", ["estimator", "sampler"])
@pytest.mark.parametrize("call, match", [
    (_wrong_forward, r"input_data must have shape \(num_inputs,\) .*num_inputs=2; got shape \(2, 3\)"),
    (_wrong_backward, r"input_data must have shape .*got shape \(3,\)"),
    (_wrong_connector_input, r"inputs must have last dimension 2 .*got shape \(2, 3\)"),
])
def test_raised_where_qiskit_machine_learning_raises_its_own(kind, call, match):
    ours, theirs = _pair(kind)
    with pytest.raises(QkError):
        call(theirs)
    with pytest.raises(QiskitMachineLearningError, match=match):
        call(ours)


@pytest.mark.parametrize("output_shape", [None, 0])
def test_sampler_interpret_and_output_shape(output_shape):
    qc, inputs, weights = ref.zz_ra_circuit(2, fm_reps=1, ra_reps=1)
    with pytest.raises(QkError):
        ref.sampler(qc, inputs, weights, interpret=ref_parity, output_shape=output_shape)
    with pytest.raises(QiskitMachineLearningError, match="output_shape"):
        qnn_torch.SamplerQNN(circuit=qc, input_params=inputs, weight_params=weights, interpret=ref_parity,
                             output_shape=output_shape)


def ref_parity(x):
    return bin(x).count("1") % 2


def test_except_value_error_keeps_working():
    qnn = qnn_torch.EstimatorQNN(2)
    try:
        qnn.forward(np.zeros(3), np.zeros(8))
    except ValueError as err:
        assert isinstance(err, QiskitMachineLearningError)
    else:
        pytest.fail("no error")
