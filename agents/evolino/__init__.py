"""Evolino (Schmidhuber et al. 2007) and the time-series benchmark's baselines."""

from __future__ import annotations

from evorl.registry import lazy_attributes

_LAZY = {
    "Evolino": "model",
    "EvolinoConfig": "model",
    "FitResult": "model",
    "add_bias": "readout",
    "apply_readout": "readout",
    "solve_readout": "readout",
}

__getattr__ = lazy_attributes(__name__, _LAZY)  # submodules load on first use


__all__ = ["Evolino", "EvolinoConfig", "FitResult", "add_bias", "apply_readout", "solve_readout"]
