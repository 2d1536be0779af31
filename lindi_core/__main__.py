"""``python -m lindi_core``: the ``lindi-core`` command line."""

import sys

from lindi_core.cli import main

sys.exit(main())
