"""Fully recurrent network of Williams & Zipser (1989).

R. J. Williams and D. Zipser, "A learning algorithm for continually running fully recurrent
neural networks", Neural Computation 1(2), 1989. n units, each connected to every unit and to
every input line, including a constant bias input. With the concatenated input
``z(t) = [x(t); 1; y(t)]`` (m = obs_dim + 1 external lines, then the n unit outputs)::

    s(t) = W z(t),    y(t+1) = f(s(t))                      (eqs. 2.1-2.3)

The first ``out_dim`` units are the output units: the outputs are unit activations, there is no
separate readout. ``W`` is kept as one (n, m + n) matrix in this (unit, source) layout, the
transpose of the (in, out) layout of the other cells, so that ``W[k, l]`` is the paper's w_kl
and a real-time recurrent learning (RTRL) implementation can index it directly.

Flat parameter order: ``w`` (n, obs_dim + 1 + n), row-major: row k holds unit k's weights from
x_1..x_obs_dim, then the bias, then y_1..y_n. State: ``(y,)`` of shape (B, n).
"""

from __future__ import annotations

import torch

from evorl.controllers.base import Controller, Params, State
from evorl.controllers.functional import ACTIVATIONS, linear
from evorl.controllers.init import init_param


class FullyRecurrentController(Controller):
    """Williams & Zipser fully recurrent net; ``config.hidden == (n,)`` with n >= out_dim.

    ``config.activation`` is f ("sigmoid" gives the paper's logistic units).
    """

    def build(self) -> None:
        config = self.config
        if len(config.hidden) != 1 or config.hidden[0] < self.out_dim:
            raise ValueError(
                f"fully_recurrent needs hidden=(n,) with n >= {self.out_dim} output units, "
                f"got hidden={config.hidden}"
            )
        self.units = config.hidden[0]
        self.add_param("w", (self.units, self.obs_dim + 1 + self.units), "custom", unit=("rows", 0))
        self.state_sizes = (self.units,)
        self._act = ACTIVATIONS[config.activation]

    def _init_parameters(self, gen: torch.Generator) -> None:
        # The roles of the other cells applied to slices of the one W: input columns
        # Xavier-normal, bias column 0, unit-to-unit block orthogonal (or all uniform).
        m = self.obs_dim + 1
        init_param(self.w[:, : self.obs_dim], "input", self.config, gen)
        init_param(self.w[:, self.obs_dim], "bias", self.config, gen)
        init_param(self.w[:, m:], "recurrent", self.config, gen)

    def forward(
        self, obs: torch.Tensor, state: State, params: Params | None = None
    ) -> tuple[torch.Tensor, State]:
        w = self._params(params)["w"]
        (y,) = state
        z = torch.cat([obs, obs.new_ones(obs.shape[0], 1), y], dim=1)
        y = self._act(linear(z, w.mT))
        return y[:, : self.out_dim], (y,)
