"""``python -m lindi_core.cli``."""

import sys

from lindi_core.cli import main

sys.exit(main())
