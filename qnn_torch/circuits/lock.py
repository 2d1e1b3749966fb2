"""The lock's former module path, for the modules that still import it from here.

Import :data:`~qnn_torch.circuits.PENNYLANE_LOCK` from :mod:`qnn_torch.circuits`; it is defined
in :mod:`qnn_torch.circuits.pennylane_lock`.
"""

from .pennylane_lock import PENNYLANE_LOCK

__all__ = ["PENNYLANE_LOCK"]
