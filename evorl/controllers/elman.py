"""Elman network (simple recurrent network), stacked, with a linear readout.

Elman, "Finding structure in time", Cognitive Science 14 (1990). Per layer l:
``h_l(t) = act(x_l(t) W_x + h_l(t-1) W_h + b)`` with x_0 = obs and x_l = h_{l-1}(t); outputs are
``h_L(t) W_out + b_out``. With activation "tanh" this is ``torch.nn.RNN(nonlinearity="tanh")``
(whose two biases sum to our one).

Flat parameter order: for each layer l: ``w_x{l}`` (in_l, H_l), ``w_h{l}`` (H_l, H_l),
``b{l}`` (H_l,); then ``w_out`` (H_L, out_dim), ``b_out`` (out_dim,).
State: ``(h_0, ..., h_{L-1})``, each (B, H_l).
"""

from __future__ import annotations

import torch

from evorl.controllers.base import Controller, Params, State, cols
from evorl.controllers.functional import ACTIVATIONS, linear


class ElmanController(Controller):
    """Stacked Elman layers with ``config.activation`` and a linear readout."""

    io_layers = True

    def build(self) -> None:
        config = self.config
        in_dim = self.in_dim
        for layer, width in enumerate(config.hidden):
            self.add_param(f"w_x{layer}", (in_dim, width), "input", unit=cols(layer))
            self.add_param(f"w_h{layer}", (width, width), "recurrent", unit=cols(layer))
            self.add_param(f"b{layer}", (width,), "bias", unit=cols(layer))
            in_dim = width
        self.add_readout(in_dim, layer=len(config.hidden) - 1)
        self.state_sizes = tuple(config.hidden)
        self._act = ACTIVATIONS[config.activation]

    def forward(
        self, obs: torch.Tensor, state: State, params: Params | None = None
    ) -> tuple[torch.Tensor, State]:
        p = self._params(params)
        x, new_state = self.embed(obs, p), []
        for layer, h in enumerate(state):
            pre = linear(x, p[f"w_x{layer}"], p[f"b{layer}"]) + linear(h, p[f"w_h{layer}"])
            x = self._act(pre)
            new_state.append(x)
        return self.readout(x, p), tuple(new_state)
