"""``python -m evorl``: the ``evorl`` command."""

import sys

from evorl.commands import main

sys.exit(main())
