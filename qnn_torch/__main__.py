"""``python -m qnn_torch``: the ``qnn-torch`` command."""

import sys

from .cli import main

sys.exit(main())
