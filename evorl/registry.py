"""Registries whose entries load on first use: names → ``"module:attribute"`` and a summary.

evorl's registries (controllers, optimizers) list what a config can name. Their names and
one-line summaries are plain data, so validating a config, ``evorl list`` and ``evorl --help``
never import torch or pycma; the object behind a name is imported when it is first looked up.
A test checks each summary against the first line of its object's docstring.

Example:
    >>> reg = Registry({"floor": ("math:floor", "Round down.")})
    >>> "floor" in reg, reg.summary("floor"), reg["floor"](2.7)
    (True, 'Round down.', 2)
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any


class Registry(Mapping[str, Any]):
    """A read-only mapping of names to lazily imported objects (see the module docstring).

    Args:
        entries: ``{name: ("package.module:attribute", "One-line summary.")}``, in listing order.
    """

    def __init__(self, entries: dict[str, tuple[str, str]]) -> None:
        self._entries = dict(entries)
        self._loaded: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._loaded:
            module, _, attribute = self._entries[name][0].partition(":")
            self._loaded[name] = getattr(importlib.import_module(module), attribute)
        return self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def summary(self, name: str) -> str:
        """The entry's one-line description."""
        return self._entries[name][1]


def lazy_attributes(package: str, names: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` giving ``names[attribute]``'s submodule's attribute on first use,
    so a package can list its public names without importing heavy submodules (torch, pycma).

    Example (in a package's ``__init__.py``):
        >>> __getattr__ = lazy_attributes("evorl.optimizers", {"SNES": "snes"})
        >>> __getattr__("SNES").name
        'snes'
    """

    def __getattr__(name: str) -> Any:
        if name in names:
            return getattr(importlib.import_module(f"{package}.{names[name]}"), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
