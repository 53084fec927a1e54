"""The glimpse-attention agent: Mnih, Heess, Graves & Kavukcuoglu, "Recurrent Models of Visual
Attention" (NIPS 2014).

Modules: :mod:`.sensor` (the retina), :mod:`.networks` (glimpse, location and baseline nets),
:mod:`.agent` (the recurrent agent on an evorl core), :mod:`.data` (translated and cluttered
digits), :mod:`.train` (hybrid supervised + REINFORCE loss), :mod:`.catch` (playing Catch),
:mod:`.evolve` (neuroevolution of the whole agent), :mod:`.baselines` (fully connected and
convolutional nets), :mod:`.pictures` (glimpse paths as PNG / GIF), :mod:`.cli` (``evorl
glimpse``).
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "GlimpseAgent": "agent",
    "GlimpseConfig": "agent",
    "classify": "agent",
    "glimpse": "sensor",
}


def __getattr__(name: str) -> Any:
    """Modules load on first use (``evorl --help`` registers this package's command only)."""
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["GlimpseAgent", "GlimpseConfig", "classify", "glimpse"]
