"""What a QNN hands to its engines: one small frozen description of the circuit."""

from .description import CircuitDescription
from .lock import PENNYLANE_LOCK

__all__ = ["CircuitDescription", "PENNYLANE_LOCK"]
