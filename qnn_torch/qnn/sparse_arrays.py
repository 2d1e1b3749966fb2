"""Sparse outputs (``sparse=True``): the optional ``sparse`` package's ``COO`` arrays, as
qiskit-machine-learning returns them.

The package is an optional extra (``pip install "qnn_torch[sparse]"``); it loads only when a network
or a connector is sparse. Without it, asking for sparse outputs raises Qiskit's
``MissingOptionalLibraryError`` (an ``ImportError``), as qiskit-machine-learning does.
"""

from __future__ import annotations

import importlib

import numpy as np

__all__ = ["INSTALL_HINT", "is_sparse_array", "require_sparse", "to_coo", "to_dense"]

INSTALL_HINT = 'pip install "qnn_torch[sparse]"'
"""str: how to install the ``sparse`` package with the version qnn_torch is tested with."""


def require_sparse(what: str):
    """The ``sparse`` module, or an ``ImportError`` naming ``what`` needs it and how to install it.

    Args:
        what (str): the argument that asks for sparse outputs, e.g. ``"SamplerQNN(sparse=True)"``.

    Raises:
        ImportError: ``qiskit.exceptions.MissingOptionalLibraryError`` (also a ``QiskitError``) when
            the package is missing.

    **Example**

    >>> require_sparse("SamplerQNN(sparse=True)").__name__
    'sparse'
    """
    try:
        return importlib.import_module("sparse")
    except ImportError:
        pass  # raised below, outside the handler: one clear error, not a chain of two
    from qiskit.exceptions import MissingOptionalLibraryError

    raise MissingOptionalLibraryError(
        libname="sparse", name=what, pip_install=INSTALL_HINT,
        msg="sparse=True returns sparse.COO arrays of that package; sparse=False (the default) NumPy arrays",
    )


def to_coo(array: np.ndarray):
    """``array`` as a ``sparse.COO`` array (its zeros left out)."""
    return require_sparse("sparse outputs").COO.from_numpy(np.asarray(array))


def is_sparse_array(value) -> bool:
    """Whether ``value`` is an array of the ``sparse`` package (False when it is not installed)."""
    module = type(value).__module__
    return module.split(".")[0] == "sparse" and hasattr(value, "todense")


def to_dense(value):
    """``value`` as a NumPy array when it is a sparse array, else as it is (None stays None)."""
    return value.todense() if is_sparse_array(value) else value
