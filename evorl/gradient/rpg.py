"""Recurrent policy gradients: REINFORCE backpropagated through an LSTM over whole episodes.

Wierstra, Foerster, Peters & Schmidhuber, "Solving deep memory POMDPs with recurrent policy
gradients" (ICANN 2007) and "Recurrent policy gradients" (Logic Journal of the IGPL 18(5), 2010):
the likelihood-ratio gradient of the expected return of a policy with memory,

    ∇J(θ) ≈ 1/N Σ_episodes Σ_t ∇_θ log π(a_t | h_t) (R_t − b(h_t)),

where h_t is the whole history (carried by the recurrent state, so ∇ log π is computed by
backpropagation through time), ``R_t = Σ_k γ^k r_{t+k}`` is the return to go and ``b(h_t)`` is a
history-dependent baseline — here the value head on the same recurrent state, fitted by least
squares alongside. A baseline that depends only on the history up to t leaves the gradient
unbiased (the test suite checks this against the exact gradient of an enumerated problem).
Updates use Adam with global-norm gradient clipping; the controller starts from its orthogonal
initialisation. ``window`` truncates backpropagation to windows of that many steps.

Example:
    >>> from evorl.gradient.config import load_gradient_config
    >>> from evorl.gradient.learner import build_policy
    >>> config = load_gradient_config("tmaze-10", ["algo=rpg"])
    >>> policy, _ = build_policy(config)
    >>> algo = RPG(config, policy, torch.optim.Adam(policy.parameters()))
    >>> metrics, experience = algo.iterate(iteration=0, normalizer=None)
    >>> len(experience.returns) == config.rpg.episodes
    True
"""

from __future__ import annotations

from typing import Any

import torch

from evorl import seeding
from evorl.env_pool import EnvPool
from evorl.evaluation import ObsNormalizer
from evorl.gradient.config import GradientConfig
from evorl.gradient.policy import RecurrentPolicy, optimizer_step
from evorl.gradient.rollouts import (
    EpisodeBatch,
    Experience,
    RewardScaler,
    collect_episodes,
    obs_sums,
)


def returns_to_go(rewards: torch.Tensor, mask: torch.Tensor, gamma: float) -> torch.Tensor:
    """``R_t = r_t + γ R_{t+1}`` within each (padded, time-major) episode; 0 on padding."""
    out = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[0])
    for t in range(rewards.shape[0] - 1, -1, -1):
        running = (rewards[t] + gamma * running) * mask[t]
        out[t] = running
    return out


def rpg_losses(
    policy: RecurrentPolicy,
    batch: EpisodeBatch,
    gamma: float,
    *,
    baseline: bool = True,
    normalize: bool = False,
    window: int | None = None,
) -> dict[str, torch.Tensor]:
    """Policy, value and entropy terms of the RPG loss for a batch of whole episodes.

    ``policy`` is ``-1/N Σ_episodes Σ_t log π(a_t|h_t) · A_t`` with ``A_t = R_t − b(h_t)``
    (baseline detached), whose gradient is the negative RPG estimate of ∇J; ``value`` is the
    mean squared error of the baseline, halved; ``entropy`` the mean entropy per step.
    """
    episodes = batch.obs.shape[1]
    state = policy.initial_state(episodes, batch.obs.dtype)
    outputs, values = policy.unroll(batch.obs, state, window=window)
    mask = batch.mask.to(values.dtype)
    steps = mask.sum()
    target = returns_to_go(batch.rewards, mask, gamma)
    adv = target - values.detach() if baseline else target
    if normalize:
        mean = (adv * mask).sum() / steps
        std = torch.sqrt(((adv - mean) ** 2 * mask).sum() / steps + 1e-8)
        adv = (adv - mean) / std
    logp = policy.log_prob(outputs, batch.actions)
    return {
        "policy": -(logp * adv * mask).sum() / episodes,
        "value": 0.5 * (((values - target) ** 2) * mask).sum() / steps,
        "entropy": (policy.entropy(outputs) * mask).sum() / steps,
    }


class RPG:
    """One RPG update per call: collect ``rpg.episodes`` whole episodes, one Adam step."""

    def __init__(
        self,
        config: GradientConfig,
        policy: RecurrentPolicy,
        optimizer: torch.optim.Optimizer,
        trained: RecurrentPolicy | None = None,
    ) -> None:
        self.config, self.policy, self.optimizer = config, policy, optimizer
        self.trained = policy if trained is None else trained  # what the optimizer updates
        self.envs = EnvPool.make(config.env, config.rpg.episodes)  # whole episodes per update
        self.scaler = (
            RewardScaler(self.envs.num_envs, config.gamma) if config.reward_scale else None
        )

    def iterate(
        self, iteration: int, normalizer: ObsNormalizer | None
    ) -> tuple[dict[str, float], Experience]:
        """Collect a batch with the update's own seeds, take one gradient step."""
        cfg, rpg = self.config, self.config.rpg
        seeds = seeding.episode_seeds(
            cfg.seed, seeding.STREAM_TRAIN_EPISODES, iteration, self.envs.num_envs
        )
        gen = torch.Generator().manual_seed(
            seeding.int_seed(cfg.seed, seeding.STREAM_ACTIONS, iteration)
        )
        batch = collect_episodes(self.policy, self.envs, seeds, gen, normalizer, self.scaler)
        losses = rpg_losses(
            self.trained,
            batch.to(next(self.trained.parameters()).device),
            cfg.gamma,
            baseline=rpg.baseline,
            normalize=rpg.normalize_advantages,
            window=rpg.window,
        )
        loss = losses["policy"] - rpg.entropy_coef * losses["entropy"]
        if rpg.baseline:
            loss = loss + rpg.value_coef * losses["value"]
        norm = optimizer_step(self.trained, self.optimizer, loss, cfg.optim.max_grad_norm)
        metrics = {f"loss/{k}": v.item() for k, v in losses.items()}
        metrics["grad/norm"] = norm
        steps = int(batch.lengths.sum())
        return metrics, Experience(batch.returns, batch.lengths, steps, obs_sums(batch.raw_obs))

    def state_dict(self) -> dict[str, Any]:
        return {"scaler": self.scaler.state_dict() if self.scaler is not None else None}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.scaler is not None:
            self.scaler.load_state_dict(state["scaler"])

    def close(self) -> None:
        self.envs.close()
