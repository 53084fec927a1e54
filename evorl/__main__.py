"""``python -m evorl``: the ``evorl`` command."""

import sys

from evorl.commands import main

if __name__ == "__main__":
    sys.exit(main())
