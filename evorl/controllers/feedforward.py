"""Feed-forward baselines: a linear map and a multilayer perceptron (state ``()``).

Flat parameter order:

* ``linear``: ``w_out`` (obs_dim, out_dim), ``b_out`` (out_dim,).
* ``mlp``: for each layer l: ``w{l}`` (in_l, hidden[l]), ``b{l}`` (hidden[l],); then
  ``w_out`` (hidden[-1], out_dim), ``b_out`` (out_dim,).
"""

from __future__ import annotations

import torch

from evorl.controllers.base import Controller, Params, State, cols
from evorl.controllers.functional import ACTIVATIONS, linear


class LinearController(Controller):
    """Outputs = obs @ W + b; the controller of World Models (Ha & Schmidhuber 2018).

    ``config.hidden`` is ignored.
    """

    def build(self) -> None:
        self.add_readout(self.obs_dim)

    def forward(
        self, obs: torch.Tensor, state: State, params: Params | None = None
    ) -> tuple[torch.Tensor, State]:
        return self.readout(obs, self._params(params)), state


class MLPController(Controller):
    """Stacked fully connected layers with ``config.activation``, then a linear readout."""

    io_layers = True

    def build(self) -> None:
        config = self.config
        in_dim = self.in_dim
        for layer, width in enumerate(config.hidden):
            self.add_param(f"w{layer}", (in_dim, width), "input", unit=cols(layer))
            self.add_param(f"b{layer}", (width,), "bias", unit=cols(layer))
            in_dim = width
        self.add_readout(in_dim, layer=len(config.hidden) - 1)
        self._act = ACTIVATIONS[config.activation]

    def forward(
        self, obs: torch.Tensor, state: State, params: Params | None = None
    ) -> tuple[torch.Tensor, State]:
        p = self._params(params)
        x = self.embed(obs, p)
        for layer in range(len(self.config.hidden)):
            x = self._act(linear(x, p[f"w{layer}"], p[f"b{layer}"]))
        return self.readout(x, p), state
