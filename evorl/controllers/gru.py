"""Gated recurrent unit in exactly PyTorch's formulation, stacked, with a linear readout.

Cho et al., "Learning phrase representations using RNN encoder-decoder for statistical machine
translation", EMNLP 2014; the variant of ``torch.nn.GRU`` (reset gate applied after the
recurrent matrix product)::

    r = sigmoid(x W_xr + b_xr + h W_hr + b_hr)
    z = sigmoid(x W_xz + b_xz + h W_hz + b_hz)
    n = tanh(x W_xn + b_xn + r * (h W_hn + b_hn))
    h' = (1 - z) * n + z * h

Flat parameter order: for each layer l: ``w_x{l}`` (in_l, 3H), ``w_h{l}`` (H, 3H), ``b_x{l}`` (3H,),
``b_h{l}`` (3H,), gate blocks ordered r, z, n along the last axis (``torch.nn.GRU``'s order, so
``w_x{l} = weight_ih_l{l}.T``); then ``w_out`` (H_L, out_dim), ``b_out`` (out_dim,).
State: ``(h_0, ..., h_{L-1})``, each (B, H_l).
"""

from __future__ import annotations

import torch

from evorl.controllers.base import Controller, Params, State, cols
from evorl.controllers.functional import linear, sigmoid


class GRUController(Controller):
    """Stacked GRU layers (PyTorch's equations) and a linear readout."""

    io_layers = True

    def build(self) -> None:
        config = self.config
        in_dim = self.in_dim
        for layer, width in enumerate(config.hidden):
            self.add_param(f"w_x{layer}", (in_dim, 3 * width), "input", 3, cols(layer))
            self.add_param(f"w_h{layer}", (width, 3 * width), "recurrent", unit=cols(layer))
            self.add_param(f"b_x{layer}", (3 * width,), "bias", unit=cols(layer))
            self.add_param(f"b_h{layer}", (3 * width,), "bias", unit=cols(layer))
            in_dim = width
        self.add_readout(in_dim, layer=len(config.hidden) - 1)
        self.state_sizes = tuple(config.hidden)

    def forward(
        self, obs: torch.Tensor, state: State, params: Params | None = None
    ) -> tuple[torch.Tensor, State]:
        p = self._params(params)
        x, new_state = self.embed(obs, p), []
        for layer, h in enumerate(state):
            xr, xz, xn = linear(x, p[f"w_x{layer}"], p[f"b_x{layer}"]).chunk(3, dim=-1)
            hr, hz, hn = linear(h, p[f"w_h{layer}"], p[f"b_h{layer}"]).chunk(3, dim=-1)
            r = sigmoid(xr + hr)
            z = sigmoid(xz + hz)
            n = torch.tanh(xn + r * hn)
            x = (1 - z) * n + z * h
            new_state.append(x)
        return self.readout(x, p), tuple(new_state)
