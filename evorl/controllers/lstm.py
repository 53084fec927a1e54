"""Long short-term memory with switchable forget gate and peepholes, stacked, linear readout.

Hochreiter & Schmidhuber, "Long short-term memory", Neural Computation 9(8), 1997 (the cell);
Gers, Schmidhuber & Cummins, "Learning to forget", Neural Computation 12(10), 2000 (forget gate);
Gers & Schmidhuber, "Recurrent nets that time and count", IJCNN 2000 (peepholes); Greff et al.,
"LSTM: a search space odyssey", IEEE TNNLS 28(10), 2017 (the "vanilla" LSTM: both switched on).
Per layer, with x the layer input and (h, c) its previous state::

    i = sigmoid(x W_xi + h W_hi + b_i [+ p_i * c])
    f = sigmoid(x W_xf + h W_hf + b_f [+ p_f * c])          (forget_gate=True only)
    g = tanh(x W_xg + h W_hg + b_g)
    c' = f * c + i * g          (forget_gate=False: c' = c + i * g)
    o = sigmoid(x W_xo + h W_ho + b_o [+ p_o * c'])
    h' = o * tanh(c')

forget_gate=False, peepholes=False is the 1997 cell; forget_gate=True, peepholes=False is
``torch.nn.LSTM`` (whose two biases sum to our one).

Flat parameter order: for each layer l: ``w_x{l}`` (in_l, G*H), ``w_h{l}`` (H, G*H), ``b{l}`` (G*H,)
with gate blocks i, f, g, o along the last axis (G = 4; without forget gate i, g, o, G = 3), then
if peepholes ``p_i{l}`` (H,), ``p_f{l}`` (H,) (forget gate only), ``p_o{l}`` (H,); finally
``w_out`` (H_L, out_dim), ``b_out`` (out_dim,).
State: ``(h_0, c_0, h_1, c_1, ...)``, each (B, H_l).

Population mode also gets a view ``w_xh{l}`` (B, in_l + H, G*H) over the adjacent ``w_x{l}`` and
``w_h{l}`` blocks of the flat vector, so the gates take one batched matmul on ``[x, h]`` instead
of two (about 30% of an LSTM(16) step for 64 individuals); the sum is the same up to rounding
order (< 1e-6), and each row's result stays independent of the batch.
"""

from __future__ import annotations

import torch

from evorl.controllers.base import Controller, Params, State, cols
from evorl.controllers.functional import HALF, linear, sigmoid


class LSTMController(Controller):
    """Stacked LSTM layers (forget gate and peepholes per ``config``) and a linear readout."""

    io_layers = True

    def build(self) -> None:
        config = self.config
        self.gates = 4 if config.forget_gate else 3
        peeps = ("i", "f", "o") if config.forget_gate else ("i", "o")
        in_dim = self.in_dim
        for layer, width in enumerate(config.hidden):
            g = self.gates
            self.add_param(f"w_x{layer}", (in_dim, g * width), "input", g, cols(layer))
            self.add_param(f"w_h{layer}", (width, g * width), "recurrent", unit=cols(layer))
            self.add_param(f"b{layer}", (g * width,), "bias", unit=cols(layer))
            if config.peepholes:
                for gate in peeps:
                    self.add_param(f"p_{gate}{layer}", (width,), "peephole", unit=cols(layer))
            in_dim = width
        self.add_readout(in_dim, layer=len(config.hidden) - 1)
        self.state_sizes = tuple(s for width in config.hidden for s in (width, width))
        self._scales: dict[tuple, torch.Tensor] = {}  # see _gate_scale

    @torch.no_grad()
    def _init_parameters(self, gen: torch.Generator) -> None:
        super()._init_parameters(gen)
        if self.config.init == "orthogonal" and self.config.forget_gate:
            for layer, width in enumerate(self.config.hidden):
                getattr(self, f"b{layer}")[width : 2 * width] = 1.0  # remember by default

    @property
    def hidden_state_index(self) -> int:
        """h of the last layer (its c follows it)."""
        return len(self.state_sizes) - 2

    def population_params(self, flat: torch.Tensor) -> Params:
        views = super().population_params(flat)
        layout = {name: (offset, shape) for name, offset, shape in self.flat_layout()}
        for layer in range(len(self.config.hidden)):
            offset, (in_dim, width) = layout[f"w_x{layer}"]
            rows = in_dim + layout[f"w_h{layer}"][1][0]  # w_h{l} follows w_x{l} in the flat order
            views[f"w_xh{layer}"] = flat.narrow(1, offset, rows * width).unflatten(1, (rows, width))
        return views

    def _cell(
        self, layer: int, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor, p: Params
    ) -> tuple[torch.Tensor, torch.Tensor]:
        fused = p.get(f"w_xh{layer}")
        if fused is not None:  # population mode: one matmul for both inputs
            gates = linear(torch.cat([x, h], dim=-1), fused, p[f"b{layer}"])
        else:
            gates = linear(x, p[f"w_x{layer}"], p[f"b{layer}"]) + linear(h, p[f"w_h{layer}"])
        width, forget = c.shape[-1], self.config.forget_gate
        if not self.config.peepholes:
            # One tanh for all gate blocks: of x / 2 for the sigmoid gates (sigmoid(x) =
            # 0.5 tanh(x / 2) + 0.5), of x for g; scaling by 0.5 or 1 is exact, so every gate
            # gets the bits of its own formula, in a few operations on the whole block.
            t = torch.tanh(gates * self._gate_scale(gates, width))
            act = torch.add(HALF, t, alpha=0.5)  # sigmoid of i, f, o (g's entries unused)
            g_at = (2 if forget else 1) * width
            i, o = act.narrow(-1, 0, width), act.narrow(-1, g_at + width, width)
            c = (act.narrow(-1, width, width) * c if forget else c) + i * t.narrow(-1, g_at, width)
            return o * torch.tanh(c), c
        if forget:
            i, f, g, o = gates.chunk(4, dim=-1)
            f = sigmoid(f + p[f"p_f{layer}"] * c)
        else:
            i, g, o = gates.chunk(3, dim=-1)
        i = sigmoid(i + p[f"p_i{layer}"] * c)
        c = (f * c if forget else c) + i * torch.tanh(g)
        o = sigmoid(o + p[f"p_o{layer}"] * c)
        return o * torch.tanh(c), c

    def _gate_scale(self, gates: torch.Tensor, width: int) -> torch.Tensor:
        """0.5 over the sigmoid gates' columns, 1 over g's, in the gates' dtype and device."""
        key = (gates.dtype, gates.device, width)
        scale = self._scales.get(key)
        if scale is None:
            scale = torch.full((self.gates * width,), 0.5, dtype=gates.dtype, device=gates.device)
            g_at = (2 if self.config.forget_gate else 1) * width
            scale[g_at : g_at + width] = 1.0
            self._scales[key] = scale
        return scale

    def forward(
        self, obs: torch.Tensor, state: State, params: Params | None = None
    ) -> tuple[torch.Tensor, State]:
        return self._paired_layers(obs, state, self._params(params), self._cell)
