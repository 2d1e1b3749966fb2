"""qnn_torch: hybrid quantum-classical neural networks in PyTorch, built on PennyLane,
numerically identical to Qiskit Machine Learning."""

from ._version import __version__
from .devices import resolve_device
from .qnn import EstimatorQNN, QuantumNeuralNetwork, SamplerQNN, parity
from .templates import ENTANGLEMENT_PATTERNS, PauliFeatureMap, RealAmplitudes, ZZFeatureMap, entangler_map
from .hardware import BatchedRemoteDevice, runtime_session
from .torch_connector import TorchConnector
from .training import TrainingInterrupted, fit, tiny_batch_mode

__all__ = [
    "BatchedRemoteDevice",
    "ENTANGLEMENT_PATTERNS",
    "EstimatorQNN",
    "PauliFeatureMap",
    "QuantumNeuralNetwork",
    "RealAmplitudes",
    "SamplerQNN",
    "TorchConnector",
    "TrainingInterrupted",
    "ZZFeatureMap",
    "__version__",
    "entangler_map",
    "fit",
    "parity",
    "resolve_device",
    "runtime_session",
    "tiny_batch_mode",
]
