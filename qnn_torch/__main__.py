"""``python -m qnn_torch``: the ``qnn-torch`` command."""

from .cli import run

run()
