"""Evolino's network for control tasks: ESP over the whole LSTM, readout included.

For reinforcement learning there are no target outputs to regress on, so the least-squares
readout of :class:`~evorl.agents.evolino.model.Evolino` does not apply; as the issue and
Schmidhuber et al. (2007, sec. 6) note, the readout is then evolved with the rest. Each memory
cell's subpopulation carries its incoming weights and its readout row
(:meth:`~evorl.controllers.Controller.unit_index`); the output biases form one more subpopulation.
The result is an ordinary ask/tell optimizer for evorl's trainer.

Example:
    >>> import gymnasium as gym
    >>> from evorl.controllers import ControllerConfig, build_controller
    >>> ctrl = build_controller(ControllerConfig(kind="lstm", hidden=(8,), peepholes=True), 4,
    ...                         gym.spaces.Discrete(2), seed=0)
    >>> opt = evolino_control_optimizer(ctrl, sigma=0.5, seed=1, trials=5)
    >>> opt.ask().shape
    (100, 458)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from evorl.optimizers.base import SeedLike
from evorl.optimizers.esp import ESP, ESPSettings


def evolino_control_optimizer(
    controller: Any, *, sigma: float, seed: SeedLike, popsize: int | None = None, **settings: Any
) -> ESP:
    """ESP over all parameters of an evorl LSTM controller, started at its current weights.

    Args:
        controller: An ``LSTMController``.
        sigma: Initial spread and default mutation / burst scale.
        seed: ESP's seed.
        popsize: Networks per generation (a multiple of ``subpop_size``); None: the settings'.
        **settings: Further :class:`~evorl.optimizers.esp.ESPSettings` fields.
    """
    index = tuple(controller.unit_index(readout=True).tolist())
    x0 = controller.get_flat().detach().numpy().astype(np.float64)
    return ESP(
        x0,
        sigma=sigma,
        popsize=popsize,
        seed=seed,
        settings=ESPSettings(unit_index=index, **settings),
    )
