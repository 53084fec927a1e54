"""The cells a config can name (``ControllerConfig.kind``), and the function that builds one.

Plain data until a cell is built (see :mod:`evorl.registry`), so configs validate and commands
list the cells without importing torch.
"""

from __future__ import annotations

from typing import Any

from evorl.registry import Registry

CONTROLLERS = Registry(
    {
        "linear": (
            "evorl.controllers.feedforward:LinearController",
            "Outputs = obs @ W + b; the controller of World Models (Ha & Schmidhuber 2018).",
        ),
        "mlp": (
            "evorl.controllers.feedforward:MLPController",
            "Stacked fully connected layers with ``config.activation``, then a linear readout.",
        ),
        "elman": (
            "evorl.controllers.elman:ElmanController",
            "Stacked Elman layers with ``config.activation`` and a linear readout.",
        ),
        "fully_recurrent": (
            "evorl.controllers.fully_recurrent:FullyRecurrentController",
            "Williams & Zipser fully recurrent net; ``config.hidden == (n,)`` with n >= out_dim.",
        ),
        "lstm": (
            "evorl.controllers.lstm:LSTMController",
            "Stacked LSTM layers (forget gate and peepholes per ``config``) and a linear readout.",
        ),
        "gru": (
            "evorl.controllers.gru:GRUController",
            "Stacked GRU layers (PyTorch's equations) and a linear readout.",
        ),
        "fwp_sum": (
            "evorl.controllers.fast_weights:FastWeightController",
            "Fast weight programmer, sum (outer-product) update (Schmidhuber 1992).",
        ),
        "fwp_delta": (
            "evorl.controllers.fast_weights:FastWeightController",
            "Fast weight programmer, delta-rule update (Schlag, Irie & Schmidhuber 2021).",
        ),
        "fast_rnn": (
            "evorl.controllers.fast_rnn:FastRNNController",
            "Fast weights RNN: ReLU, layer norm, attention through A(t) (Ba et al. 2016).",
        ),
        "hebbian": (
            "evorl.controllers.hebbian:HebbianController",
            "Stacked plastic tanh layers (Miconi et al. 2018) and a linear readout.",
        ),
    }
)
"""Registry of cells by ``ControllerConfig.kind``; tests iterate over it."""


def build_controller(config: Any, obs_dim: int, action_space: Any, seed: int | None = None) -> Any:
    """Build the controller ``config.kind`` for ``obs_dim`` inputs and ``action_space``.

    Args:
        config: Architecture and initialisation (a :class:`ControllerConfig`).
        obs_dim: Length of the (flat) observation vector.
        action_space: ``Discrete(n)`` (n outputs, action = argmax, int64 (B,)) or
            ``Box(low, high, shape=(k,))`` (k outputs, float32 (B, k) per
            ``config.continuous_action``); anything else raises ValueError.
        seed: Seeds a private ``torch.Generator`` for initialisation; None draws from OS entropy.
            The global torch RNG is never used.
    """
    return CONTROLLERS[config.kind](config, obs_dim, action_space, seed=seed)
