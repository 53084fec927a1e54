"""Evolino (Schmidhuber et al. 2007) and the time-series benchmark's baselines."""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "Evolino": "model",
    "EvolinoConfig": "model",
    "FitResult": "model",
    "add_bias": "readout",
    "apply_readout": "readout",
    "solve_readout": "readout",
}


def __getattr__(name: str) -> Any:
    """Modules load on first use (``evorl --help`` registers this package's command only)."""
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["Evolino", "EvolinoConfig", "FitResult", "add_bias", "apply_readout", "solve_readout"]
