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

from evorl.registry import lazy_attributes

_LAZY = {
    "GlimpseAgent": "agent",
    "GlimpseConfig": "agent",
    "Population": "agent",
    "classify": "agent",
    "glimpse": "sensor",
}

__getattr__ = lazy_attributes(__name__, _LAZY)  # submodules load on first use


__all__ = ["GlimpseAgent", "GlimpseConfig", "Population", "classify", "glimpse"]
