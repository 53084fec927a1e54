"""The ``evorl`` commands: the parser and dispatch (:mod:`~evorl.commands.cli`), one module per
group of commands, and the one way a command runs a trainer (:mod:`~evorl.commands.runner`).

* :mod:`~evorl.commands.runs` — ``evolve`` and ``resume`` (any kind of run)
* :mod:`~evorl.commands.train` — ``train`` (recurrent PPO / RPG)
* :mod:`~evorl.commands.fit` — ``fit`` (supervised sequence learning)
* :mod:`~evorl.commands.inspect` — ``eval``, ``plot``, ``list``
"""

from evorl.commands.cli import entry, main

__all__ = ["entry", "main"]
