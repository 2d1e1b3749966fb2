"""Both kinds of quantum neural network (expectation values and (interpreted) probabilities), and
qiskit-machine-learning's ``NeuralNetwork`` base class they share with networks users write."""

from .base import NeuralNetwork
from .blocks import CircuitBlock, resolve_block
from .estimator_qnn import EstimatorQNN
from .interpret import parity
from .neural_network import QuantumNeuralNetwork
from .observables import to_pennylane_observables
from .sampler_qnn import SamplerQNN
from .spsa import SPSA

__all__ = [
    "CircuitBlock",
    "EstimatorQNN",
    "NeuralNetwork",
    "QuantumNeuralNetwork",
    "SPSA",
    "SamplerQNN",
    "parity",
    "resolve_block",
    "to_pennylane_observables",
]
