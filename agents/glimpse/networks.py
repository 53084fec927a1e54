"""The trainable parts of the glimpse agent around its recurrent core (Mnih et al. 2014, Sec. 3).

* :class:`GlimpseNetwork` ``f_g``: ``h_g = ReLU(Linear(ρ(x, l)))``, ``h_l = ReLU(Linear(l))`` and
  ``g = ReLU(Linear(h_g) + Linear(h_l))`` — 128, 128 and 256 units in the paper.
* :class:`LocationNetwork` ``f_l``: the mean ``μ = tanh(Linear(h))`` of a Gaussian with a fixed
  standard deviation, from which the next location is sampled.
* :class:`BaselineNetwork` ``f_b``: ``b = Linear(h)``, the expected reward given the history, which
  REINFORCE subtracts to reduce its variance.

The core network (an evorl recurrent controller) and the action network (its linear readout) are
built by :mod:`evorl.agents.glimpse.agent`.
"""

from __future__ import annotations

import torch
from torch import nn


class GlimpseNetwork(nn.Module):
    """Glimpse features g (B, features) from retina patches (B, k, g, g) and locations (B, 2)."""

    def __init__(self, retina_dim: int, what: int, where: int, features: int) -> None:
        super().__init__()
        self.what = nn.Linear(retina_dim, what)
        self.where = nn.Linear(2, where)
        self.what_out = nn.Linear(what, features)
        self.where_out = nn.Linear(where, features)

    def forward(self, patches: torch.Tensor, loc: torch.Tensor) -> torch.Tensor:
        h_g = torch.relu(self.what(patches.flatten(1)))
        h_l = torch.relu(self.where(loc))
        return torch.relu(self.what_out(h_g) + self.where_out(h_l))


class LocationNetwork(nn.Module):
    """Mean (B, 2) in [-1, 1] of the Gaussian location policy, from the core state (B, hidden)."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.mean = nn.Linear(hidden, 2)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.mean(h))


class BaselineNetwork(nn.Module):
    """Expected reward (B,) given the core state (B, hidden)."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.value = nn.Linear(hidden, 1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.value(h).squeeze(-1)


def gaussian_log_prob(sample: torch.Tensor, mean: torch.Tensor, std: float) -> torch.Tensor:
    """Log density (B,) of the isotropic Gaussian N(mean, std²) at ``sample`` (B, d)."""
    return torch.distributions.Normal(mean, std).log_prob(sample).sum(-1)
