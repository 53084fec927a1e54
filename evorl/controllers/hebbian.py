"""Plastic recurrent layers: fixed weights plus learned multiples of a Hebbian trace, stacked.

Miconi, Stanley & Clune, "Differentiable plasticity: training plastic neural networks with
backpropagation", ICML 2018 (the plastic connection w + α Hebb and the decaying Hebbian trace),
checked against their code (github.com/uber-research/differentiable-plasticity,
``simple/simple.py``). Per layer, with x the layer input, h its previous output and Hebb its
trace (state, zero at episode start)::

    h' = tanh(x W_x + h (W_h + α ⊙ Hebb) + b)
    Hebb' = (1 - η) Hebb + η h ⊗ h'                     (h ⊗ h' = h h'^T: pre-synaptic rows)

α holds one plasticity coefficient per recurrent connection; η is one learned rate for the
whole network, as in the paper ("trainable, but shared across all connections", its code says).
Our choice: η = σ(η̃) with the gene η̃ unconstrained, so that every genome keeps 0 < η < 1 and
with it |Hebb| <= 1 (a running average of products of tanh outputs); their code learns η itself
and, in this decaying form, does not clip the trace (the hard clip to ±2 belongs to their later
neuromodulated "Backpropamine" rule, whose additive trace can grow). The activation is always
tanh (``config.activation`` is ignored), for the same bound. The "orthogonal" init starts α at 0
(no plasticity yet) and η at 0.01 (their code's start); "uniform" draws every gene, η̃
included, from U(-init_scale, init_scale).

Outputs are ``h_L W_out + b_out``; layer l > 0 reads h_{l-1}(t).

Flat parameter order: for each layer l: ``w_x{l}`` (in_l, H_l), ``w_h{l}`` (H_l, H_l),
``b{l}`` (H_l,), ``alpha{l}`` (H_l, H_l); then ``eta`` (1,); then ``w_out`` (H_L, out_dim),
``b_out`` (out_dim,). State: ``(h_0, Hebb_0, h_1, Hebb_1, ...)``, h_l (B, H_l),
Hebb_l (B, H_l, H_l).
"""

from __future__ import annotations

import math
import re

import numpy as np
import torch

from evorl.controllers.base import Controller, Params, State
from evorl.controllers.functional import linear, sigmoid

ETA_INIT = 0.01
"""η at the "orthogonal" initialisation (Miconi et al.'s code starts there)."""


class HebbianController(Controller):
    """Stacked plastic tanh layers (Miconi et al. 2018) and a linear readout.

    Example:
        >>> import gymnasium as gym
        >>> from evorl.controllers import ControllerConfig, build_controller
        >>> ctrl = build_controller(ControllerConfig(kind="hebbian", hidden=(6,)), 3,
        ...                         gym.spaces.Discrete(2), seed=0)
        >>> [tuple(s.shape) for s in ctrl.initial_state(5)], round(float(ctrl.eta_value), 6)
        ([(5, 6), (5, 6, 6)], 0.01)
    """

    def build(self) -> None:
        config = self.config
        in_dim = self.obs_dim
        for layer, width in enumerate(config.hidden):
            self.add_param(f"w_x{layer}", (in_dim, width), "input")
            self.add_param(f"w_h{layer}", (width, width), "recurrent")
            self.add_param(f"b{layer}", (width,), "bias")
            self.add_param(f"alpha{layer}", (width, width), "peephole")  # 0: not plastic yet
            in_dim = width
        self.add_param("eta", (1,), "bias")
        self.add_readout(in_dim)
        self.state_sizes = tuple(s for width in config.hidden for s in (width, (width, width)))

    @torch.no_grad()
    def _init_parameters(self, gen: torch.Generator) -> None:
        super()._init_parameters(gen)
        if self.config.init == "orthogonal":
            self.eta.fill_(math.log(ETA_INIT / (1 - ETA_INIT)))

    @property
    def eta_value(self) -> torch.Tensor:
        """η = σ(η̃) of the module's own parameters, shape (1,)."""
        return sigmoid(self.eta.detach())

    @property
    def hidden_state_index(self) -> int:
        """h of the last layer (its trace follows it)."""
        return len(self.state_sizes) - 2

    def forward(
        self, obs: torch.Tensor, state: State, params: Params | None = None
    ) -> tuple[torch.Tensor, State]:
        p = self._params(params)
        eta = sigmoid(p["eta"]).unsqueeze(-1)  # (1, 1) or (B, 1, 1)

        def plastic_layer(layer, x, h, hebb, p):
            plastic = p[f"w_h{layer}"] + p[f"alpha{layer}"] * hebb  # (B, H, H)
            recurrent = torch.bmm(h.unsqueeze(1), plastic).squeeze(1)
            x = torch.tanh(linear(x, p[f"w_x{layer}"], p[f"b{layer}"]) + recurrent)
            return x, (1 - eta) * hebb + eta * (h.unsqueeze(2) * x.unsqueeze(1))

        return self._paired_layers(obs, state, p, plastic_layer)

    def unit_index(self, readout: bool = True) -> np.ndarray:
        """ESP partition (the semantics of :meth:`Controller.unit_index`) of the flat vector.

        A unit is one plastic neuron u: its incoming columns of ``w_x``, ``w_h`` and ``alpha``
        (Miconi et al. keep a neuron's inputs in a column), its bias, and, in the last layer
        when ``readout``, its readout row ``w_out[u]``. Units of layer l are numbered after
        those of the earlier layers; ``eta`` and ``b_out`` are shared (-1); with
        ``readout=False`` the readout genes are -2.
        """
        first = np.concatenate([[0], np.cumsum(self.config.hidden)])
        parts = []
        for name, _, shape in self.flat_layout():
            if name in ("w_out", "b_out") and not readout:
                parts.append(np.full(shape.numel(), -2))
            elif name == "w_out":
                parts.append(np.repeat(first[-2] + np.arange(shape[0]), shape[1]))
            elif name in ("b_out", "eta"):
                parts.append(np.full(shape.numel(), -1))
            else:
                layer = int(re.search(r"\d+$", name).group())
                units = first[layer] + np.arange(shape[-1])
                parts.append(np.broadcast_to(units, shape).reshape(-1))
        return np.concatenate(parts).astype(np.int64)
