"""Evolino (Schmidhuber et al. 2007) and the time-series benchmark's baselines."""

from evorl.agents.evolino.model import Evolino, EvolinoConfig, FitResult
from evorl.agents.evolino.readout import add_bias, apply_readout, solve_readout

__all__ = ["Evolino", "EvolinoConfig", "FitResult", "add_bias", "apply_readout", "solve_readout"]
