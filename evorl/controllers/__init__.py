"""Recurrent controllers: one definition per cell for gradient training and population inference.

Cells: ``linear`` and ``mlp`` (feed-forward baselines), ``elman`` (Elman 1990),
``fully_recurrent`` (Williams & Zipser 1989), ``lstm`` (Hochreiter & Schmidhuber 1997 with
switchable forget gate and peepholes), ``gru`` (Cho et al. 2014, PyTorch's variant),
``fwp_sum`` and ``fwp_delta`` (fast weight programmers, Schmidhuber 1992; Schlag et al. 2021)
and ``hebbian`` (differentiable plasticity, Miconi et al. 2018). The last three keep a matrix
in their state (the fast weights or the Hebbian trace).
See :mod:`evorl.controllers.base` for the two execution modes and the flat-vector contract.

Example:
    >>> import gymnasium as gym
    >>> ctrl = build_controller(ControllerConfig(kind="lstm"), 4, gym.spaces.Discrete(2), seed=1)
    >>> ctrl.num_params
    1378
"""

from __future__ import annotations

import gymnasium as gym

from evorl.controllers.base import Controller, State
from evorl.controllers.config import ControllerConfig
from evorl.controllers.elman import ElmanController
from evorl.controllers.fast_weights import FastWeightController
from evorl.controllers.feedforward import LinearController, MLPController
from evorl.controllers.fully_recurrent import FullyRecurrentController
from evorl.controllers.gru import GRUController
from evorl.controllers.hebbian import HebbianController
from evorl.controllers.lstm import LSTMController

CONTROLLERS: dict[str, type[Controller]] = {
    "linear": LinearController,
    "mlp": MLPController,
    "elman": ElmanController,
    "fully_recurrent": FullyRecurrentController,
    "lstm": LSTMController,
    "gru": GRUController,
    "fwp_sum": FastWeightController,
    "fwp_delta": FastWeightController,
    "hebbian": HebbianController,
}
"""Registry of cells by ``ControllerConfig.kind``; tests iterate over it."""


def build_controller(
    config: ControllerConfig,
    obs_dim: int,
    action_space: gym.spaces.Space,
    seed: int | None = None,
) -> Controller:
    """Build the controller ``config.kind`` for ``obs_dim`` inputs and ``action_space``.

    Args:
        config: Architecture and initialisation.
        obs_dim: Length of the (flat) observation vector.
        action_space: ``Discrete(n)`` (n outputs, action = argmax, int64 (B,)) or
            ``Box(low, high, shape=(k,))`` (k outputs, float32 (B, k) per
            ``config.continuous_action``); anything else raises ValueError.
        seed: Seeds a private ``torch.Generator`` for initialisation; None draws from OS entropy.
            The global torch RNG is never used.
    """
    return CONTROLLERS[config.kind](config, obs_dim, action_space, seed=seed)


__all__ = [
    "CONTROLLERS",
    "Controller",
    "ControllerConfig",
    "ElmanController",
    "FastWeightController",
    "FullyRecurrentController",
    "GRUController",
    "HebbianController",
    "LSTMController",
    "LinearController",
    "MLPController",
    "State",
    "build_controller",
]
