"""Circuit templates that are exactly Qiskit's circuit-library circuits."""

from ._validation import skip_value_checks
from .entanglement import ENTANGLEMENT_PATTERNS, entangler_map
from .pauli_feature_map import PauliFeatureMap
from .real_amplitudes import RealAmplitudes
from .zz_feature_map import ZZFeatureMap

__all__ = ["ENTANGLEMENT_PATTERNS", "PauliFeatureMap", "RealAmplitudes", "ZZFeatureMap", "entangler_map",
           "skip_value_checks"]
