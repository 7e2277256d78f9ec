"""``python -m tryon``: see :mod:`tryon.cli`."""

import sys

from tryon.cli import main

sys.exit(main())
