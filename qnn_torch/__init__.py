"""qnn_torch: hybrid quantum-classical neural networks in PyTorch, built on PennyLane,
numerically identical to Qiskit Machine Learning.

The public names below load on first use (PEP 562), so ``import qnn_torch`` and the ``qnn-torch``
command start at once; Qiskit, Aer and IBM Runtime load only when a device needs them.
"""

from __future__ import annotations

import importlib

from ._version import __version__  # noqa: F401 - in __all__

# name -> the module that defines it
_EXPORTS = {
    "BatchedRemoteDevice": ".devices.remote",
    "ENTANGLEMENT_PATTERNS": ".templates",
    "EstimatorQNN": ".qnn",
    "NeuralNetwork": ".qnn",
    "PauliFeatureMap": ".templates",
    "QiskitMachineLearningError": ".exceptions",
    "QuantumNeuralNetwork": ".qnn",
    "RealAmplitudes": ".templates",
    "SamplerQNN": ".qnn",
    "SPSA": ".qnn",
    "TorchConnector": ".torch_connector",
    "TrainingInterrupted": ".training",
    "blas_mode": ".reproducibility",
    "defer_dynamo_import": ".startup",
    "ZZFeatureMap": ".templates",
    "entangler_map": ".templates",
    "fit": ".training",
    "init_distributed": ".distributed",
    "parity": ".qnn",
    "resolve_device": ".devices",
    "runtime_session": ".training",
    "tiny_batch_mode": ".training",
    "use_reproducible_blas": ".reproducibility",
}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
