"""Recurrent controllers: one definition per cell for gradient training and population inference.

Cells: ``linear`` and ``mlp`` (feed-forward baselines), ``elman`` (Elman 1990),
``fully_recurrent`` (Williams & Zipser 1989), ``lstm`` (Hochreiter & Schmidhuber 1997 with
switchable forget gate and peepholes), ``gru`` (Cho et al. 2014, PyTorch's variant),
``fwp_sum`` and ``fwp_delta`` (fast weight programmers, Schmidhuber 1992; Schlag et al. 2021),
``fast_rnn`` (Ba et al.'s fast weights RNN, 2016) and ``hebbian`` (differentiable plasticity,
Miconi et al. 2018). The last four keep a matrix in their state (the fast weights or the
Hebbian trace).
See :mod:`evorl.controllers.base` for the two execution modes and the flat-vector contract.

Example:
    >>> import gymnasium as gym
    >>> ctrl = build_controller(ControllerConfig(kind="lstm"), 4, gym.spaces.Discrete(2), seed=1)
    >>> ctrl.num_params
    1378
"""

from __future__ import annotations

from evorl.controllers.config import ControllerConfig
from evorl.controllers.registry import CONTROLLERS, build_controller
from evorl.registry import lazy_attributes

_LAZY = {
    "Controller": "base",
    "State": "base",
    "ElmanController": "elman",
    "FastRNNController": "fast_rnn",
    "FastWeightController": "fast_weights",
    "LinearController": "feedforward",
    "MLPController": "feedforward",
    "FullyRecurrentController": "fully_recurrent",
    "GRUController": "gru",
    "HebbianController": "hebbian",
    "LSTMController": "lstm",
}

__getattr__ = lazy_attributes(__name__, _LAZY)  # submodules load on first use


__all__ = [
    "CONTROLLERS",
    "Controller",
    "ControllerConfig",
    "ElmanController",
    "FastRNNController",
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
