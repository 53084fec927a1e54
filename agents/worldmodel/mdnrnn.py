"""M: the MDN-RNN of Ha & Schmidhuber, "World Models" (2018), after Graves (2013) and Bishop (1994).

An LSTM reads ``[z_t, a_t]`` and its head predicts, for every latent dimension i,
p(z_{t+1,i} | a_t, z_t, h_t) = Σ_k π_ik N(μ_ik, σ_ik²) — a mixture of ``gaussians`` Gaussians per
dimension (5 in the paper) — plus the reward r_t (squared error) and whether the episode ends
after this step (a logit, cross-entropy). The mixture's negative log-likelihood is computed with
log-sum-exp over log π + log N, which stays finite where the plain sum of densities underflows.

Sampling takes a temperature τ (the paper's): mixture weights softmax(logits / τ) and standard
deviations σ·√τ. τ → 0 makes the dream deterministic (the most likely component's mean); τ > 1
makes it more uncertain than the data, which the paper found makes a dream-trained controller
harder to fool the model with.

Example:
    >>> m = MDNRNN(z_dim=32, action_dim=3, hidden=256)
    >>> out, state = m(torch.zeros(10, 4, 32), torch.zeros(10, 4, 3))
    >>> out.mu.shape
    torch.Size([10, 4, 32, 5])
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

LOG_SIGMA_RANGE = (-10.0, 10.0)
"""log σ is clamped to this range: the likelihood stays finite for any network output."""

State = tuple[torch.Tensor, torch.Tensor]


class MDNOutput(NamedTuple):
    """Predictions for one or many steps; mixture tensors are (..., z_dim, gaussians)."""

    logits: torch.Tensor
    mu: torch.Tensor
    log_sigma: torch.Tensor
    reward: torch.Tensor
    """(...,) predicted reward r_t."""
    done_logit: torch.Tensor
    """(...,) logit of "the episode ends after step t"."""


class MDNRNN(nn.Module):
    """LSTM over [z, a] with a mixture-density head for z_{t+1} and reward/done heads.

    Args:
        z_dim: Latent size of V.
        action_dim: Action encoding size (one-hot size for discrete actions).
        hidden: LSTM units.
        gaussians: Mixture components per latent dimension.
    """

    def __init__(self, z_dim: int, action_dim: int, hidden: int = 256, gaussians: int = 5) -> None:
        super().__init__()
        self.z_dim, self.action_dim = z_dim, action_dim
        self.hidden, self.gaussians = hidden, gaussians
        self.lstm = nn.LSTM(z_dim + action_dim, hidden)
        self.head = nn.Linear(hidden, 3 * z_dim * gaussians + 2)

    def initial_state(self, batch: int) -> State:
        """Zero (h, c), each (1, batch, hidden) as ``nn.LSTM`` takes them."""
        zeros = torch.zeros(1, batch, self.hidden, device=self.head.weight.device)
        return zeros, zeros.clone()

    def forward(
        self, z: torch.Tensor, actions: torch.Tensor, state: State | None = None
    ) -> tuple[MDNOutput, State]:
        """Sequences z (T, B, z_dim), actions (T, B, action_dim) → predictions (T, B, ...)."""
        out, state = self.lstm(torch.cat([z, actions], dim=-1), state)
        return self.predict(out), state

    def predict(self, h: torch.Tensor) -> MDNOutput:
        """The heads on LSTM outputs h (..., hidden)."""
        raw = self.head(h)
        mix = raw[..., :-2].unflatten(-1, (3, self.z_dim, self.gaussians))
        log_sigma = mix[..., 2, :, :].clamp(*LOG_SIGMA_RANGE)
        return MDNOutput(
            mix[..., 0, :, :], mix[..., 1, :, :], log_sigma, raw[..., -2], raw[..., -1]
        )

    def loss(
        self,
        z: torch.Tensor,
        actions: torch.Tensor,
        z_next: torch.Tensor,
        rewards: torch.Tensor,
        dones: torch.Tensor,
        mask: torch.Tensor,
        reward_weight: float = 1.0,
        done_weight: float = 1.0,
        done_pos_weight: float = 1.0,
    ) -> dict[str, torch.Tensor]:
        """Training loss on (T, B) sequences; ``mask`` (T, B) marks real (unpadded) steps.

        ``z_nll`` is the mixture negative log-likelihood per latent dimension (mean over
        dimensions and real steps); ``loss`` adds the weighted reward and done terms, a death
        step's cross-entropy weighted ``done_pos_weight`` against 1 for a living one.
        """
        out, _ = self(z, actions)
        weight = mask.float()
        count = weight.sum().clamp(min=1.0)
        nll = mixture_nll(z_next, out.logits, out.mu, out.log_sigma).mean(-1)
        z_nll = (nll * weight).sum() / count
        reward_mse = ((out.reward - rewards).pow(2) * weight).sum() / count
        pos_weight = None if done_pos_weight == 1 else out.done_logit.new_tensor(done_pos_weight)
        bce = F.binary_cross_entropy_with_logits(
            out.done_logit, dones.float(), reduction="none", pos_weight=pos_weight
        )
        done_bce = (bce * weight).sum() / count
        total = z_nll + reward_weight * reward_mse + done_weight * done_bce
        return {"loss": total, "z_nll": z_nll, "reward_mse": reward_mse, "done_bce": done_bce}


def mixture_nll(
    target: torch.Tensor, logits: torch.Tensor, mu: torch.Tensor, log_sigma: torch.Tensor
) -> torch.Tensor:
    """−log Σ_k π_k N(target; μ_k, σ_k²), elementwise over ``target`` (...,); mixture (..., K).

    π = softmax(logits). Computed as −logsumexp_k(log π_k + log N_k), with log σ clamped to
    :data:`LOG_SIGMA_RANGE`, so it is finite for any finite inputs of moderate size.
    """
    log_sigma = log_sigma.clamp(*LOG_SIGMA_RANGE)
    log_pi = torch.log_softmax(logits, dim=-1)
    scaled = (target.unsqueeze(-1) - mu) * torch.exp(-log_sigma)
    log_normal = -0.5 * scaled.pow(2) - log_sigma - 0.5 * math.log(2 * math.pi)
    return -torch.logsumexp(log_pi + log_normal, dim=-1)


def sample_mixture(
    logits: torch.Tensor,
    mu: torch.Tensor,
    log_sigma: torch.Tensor,
    temperature: float,
    uniform: torch.Tensor,
    normal: torch.Tensor,
) -> torch.Tensor:
    """One draw per latent dimension at temperature τ, from caller-supplied noise.

    Args:
        logits, mu, log_sigma: (..., z_dim, K) mixture parameters.
        temperature: τ > 0; weights softmax(logits / τ), standard deviations σ·√τ.
        uniform: (..., z_dim) U[0, 1) draws that pick the component (inverse CDF).
        normal: (..., z_dim) N(0, 1) draws for the chosen Gaussian.

    Returns:
        (..., z_dim) samples. Noise is an argument so that each dream episode's randomness can
        come from its own seeded stream, whatever batch it is stepped in.
    """
    weights = torch.softmax(logits / temperature, dim=-1)
    cdf = weights.cumsum(-1)
    index = (cdf < uniform.unsqueeze(-1)).sum(-1, keepdim=True).clamp(max=logits.shape[-1] - 1)
    chosen_mu = mu.gather(-1, index).squeeze(-1)
    chosen_sigma = log_sigma.gather(-1, index).squeeze(-1).exp()
    return chosen_mu + chosen_sigma * math.sqrt(temperature) * normal
