"""``python -m evorl``: the ``evorl`` command."""

import sys

from evorl.commands import entry

if __name__ == "__main__":
    sys.exit(entry())
