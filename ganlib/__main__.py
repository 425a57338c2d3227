"""``python -m ganlib``: see :mod:`ganlib.cli`."""
import sys

from .cli import main

sys.exit(main())
