"""The version of qnn_torch."""

__version__ = "0.2.0.dev0"
