"""The version of qnn_torch."""

__version__ = "0.1.0.dev0"
