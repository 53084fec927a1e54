"""Recurrent PPO: clipped surrogate objective, GAE, truncated BPTT over whole-episode chunks.

Schulman, Wolski, Dhariwal, Radford & Klimov, "Proximal policy optimization algorithms" (2017):
maximise ``E[min(ρ_t A_t, clip(ρ_t, 1−ε, 1+ε) A_t)]`` with ``ρ_t = π_θ(a_t|h_t) / π_old(a_t|h_t)``
over several epochs of minibatches of one rollout. Schulman, Moritz, Levine, Jordan & Abbeel,
"High-dimensional continuous control using generalized advantage estimation" (ICLR 2016):
``A_t = Σ_k (γλ)^k δ_{t+k}``, ``δ_t = r_t + γ V(h_{t+1}) − V(h_t)``, cut at episode ends;
truncated episodes (time limits) bootstrap from the value of their final observation.

Recurrence (as Stable-Baselines3-contrib's ``RecurrentPPO`` and CleanRL's ``ppo_atari_lstm``):
the rollout of ``steps`` × ``num_envs`` transitions is cut into chunks of ``bptt`` consecutive
steps of one env. Each chunk is replayed from the recurrent state recorded when its first step was
acted on, with the state reset wherever an episode starts inside it, so every sequence is the
history the policy really saw; minibatches are sets of whole chunks, and gradients flow back
through time within a chunk (truncated BPTT of length ``bptt``). The value head shares the
controller's recurrent state (see :mod:`evorl.gradient.policy`).

Example:
    >>> from evorl.gradient.config import load_gradient_config
    >>> from evorl.gradient.learner import build_policy
    >>> config = load_gradient_config("tmaze-10")
    >>> policy, _ = build_policy(config)
    >>> algo = PPO(config, policy, torch.optim.Adam(policy.parameters(), lr=3e-4))
    >>> metrics, experience = algo.iterate(iteration=0, normalizer=None)
    >>> experience.env_steps == config.ppo.steps * config.ppo.num_envs
    True
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from evorl import seeding
from evorl.env_pool import EnvPool
from evorl.evaluation import ObsNormalizer
from evorl.gradient.config import GradientConfig
from evorl.gradient.policy import RecurrentPolicy, optimizer_step
from evorl.gradient.rollouts import (
    Carry,
    Experience,
    RewardScaler,
    Rollout,
    collect_steps,
    obs_sums,
    start_carry,
)


def gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    next_values: torch.Tensor,
    terminated: torch.Tensor,
    done: torch.Tensor,
    gamma: float,
    lam: float,
) -> torch.Tensor:
    """Generalized advantage estimates (T, B).

    Args:
        rewards, values: r_t and V(h_t), time-major (T, B).
        next_values: The value of what follows step t: V(h_{t+1}) within an episode, the
            bootstrap value of the final observation where step t was truncated (ignored where
            it terminated).
        terminated: Step t ended its episode in a terminal state (no bootstrap).
        done: Step t ended its episode (terminated or truncated): the recursion is cut.
        gamma, lam: Discount γ and GAE λ.
    """
    delta = rewards + gamma * next_values * (~terminated) - values  # bool last: keeps dtype
    adv = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[0])
    for t in range(rewards.shape[0] - 1, -1, -1):
        running = delta[t] + gamma * lam * running * (~done[t])
        adv[t] = running
    return adv


def next_values(rollout: Rollout) -> torch.Tensor:
    """V of the step after each step: the next value, ``last_value`` or a truncation bootstrap."""
    nxt = torch.cat([rollout.values[1:], rollout.last_value[None]])
    truncated = rollout.done & ~rollout.terminated
    return torch.where(truncated, rollout.bootstrap, nxt)


def chunk(x: torch.Tensor, length: int) -> torch.Tensor:
    """(T, B, ...) -> (length, T/length · B, ...): chunk k of env b becomes column k·B + b."""
    t, b = x.shape[:2]
    k = t // length
    return (
        x.reshape(k, length, b, *x.shape[2:]).transpose(0, 1).reshape(length, k * b, *x.shape[2:])
    )


class PPO:
    """One PPO update per call: a rollout, GAE, ``epochs`` passes of minibatched chunks."""

    def __init__(
        self,
        config: GradientConfig,
        policy: RecurrentPolicy,
        optimizer: torch.optim.Optimizer,
        trained: RecurrentPolicy | None = None,
    ) -> None:
        self.config, self.policy, self.optimizer = config, policy, optimizer
        self.trained = policy if trained is None else trained  # what the optimizer updates
        # Episodes run on across updates: a checkpoint replays the envs to where they were.
        self.envs = EnvPool.make(config.env, config.ppo.num_envs, replayable=True)
        self.scaler = (
            RewardScaler(self.envs.num_envs, config.gamma) if config.reward_scale else None
        )
        self.carry: Carry | None = None

    def iterate(
        self, iteration: int, normalizer: ObsNormalizer | None
    ) -> tuple[dict[str, float], Experience]:
        """Collect one rollout with the update's own random streams, then optimise on it."""
        cfg, ppo = self.config, self.config.ppo
        gen = torch.Generator().manual_seed(
            seeding.int_seed(cfg.seed, seeding.STREAM_ACTIONS, iteration)
        )
        resets = np.random.default_rng(seeding.stream(cfg.seed, seeding.STREAM_RESETS, iteration))
        if self.carry is None:
            seeds = resets.integers(0, 2**31 - 1, size=self.envs.num_envs)
            self.carry = start_carry(self.policy, self.envs, seeds)
        rollout = collect_steps(
            self.policy, self.envs, self.carry, ppo.steps, gen, resets, normalizer, self.scaler
        )
        with torch.no_grad():
            adv = gae(
                rollout.rewards,
                rollout.values,
                next_values(rollout),
                rollout.terminated,
                rollout.done,
                cfg.gamma,
                ppo.gae_lambda,
            )
        metrics = self._optimise(rollout, adv, adv + rollout.values, iteration)
        experience = Experience(
            np.asarray(rollout.returns, float),
            np.asarray(rollout.lengths, np.int64),
            ppo.steps * self.envs.num_envs,
            obs_sums(rollout.raw_obs),
        )
        return metrics, experience

    def _optimise(
        self, rollout: Rollout, adv: torch.Tensor, returns: torch.Tensor, iteration: int
    ) -> dict[str, float]:
        cfg, ppo = self.config, self.config.ppo
        length = ppo.bptt or ppo.steps
        data = {
            "obs": rollout.obs,
            "actions": rollout.actions,
            "logp": rollout.logp,
            "values": rollout.values,
            "adv": adv,
            "returns": returns,
            "start": rollout.episode_start,
        }
        device = next(self.trained.parameters()).device
        data = {k: chunk(v, length).to(device) for k, v in data.items()}
        init = tuple(s[::length].reshape(-1, *s.shape[2:]).to(device) for s in rollout.states)
        rng = np.random.default_rng(seeding.stream(cfg.seed, seeding.STREAM_MINIBATCH, iteration))
        sums: dict[str, float] = {}
        updates = 0
        for _ in range(ppo.epochs):
            kl = 0.0
            for idx in np.array_split(rng.permutation(data["obs"].shape[1]), ppo.minibatches):
                batch = {k: v[:, idx] for k, v in data.items()}
                terms = self._minibatch(batch, tuple(s[idx] for s in init))
                for key, value in terms.items():
                    sums[key] = sums.get(key, 0.0) + value
                updates += 1
                kl = max(kl, terms["ppo/approx_kl"])
            if ppo.target_kl is not None and kl > ppo.target_kl:
                break
        metrics = {k: v / updates for k, v in sums.items()}
        var = float(returns.var())
        metrics["ppo/explained_var"] = (
            1.0 - float((returns - rollout.values).var()) / var if var > 0 else 0.0
        )
        metrics["ppo/updates"] = updates
        return metrics

    def _minibatch(self, b: dict[str, torch.Tensor], state: tuple) -> dict[str, float]:
        ppo, policy = self.config.ppo, self.trained
        outputs, values = policy.unroll(b["obs"], state, b["start"])
        logp = policy.log_prob(outputs, b["actions"])
        log_ratio = logp - b["logp"]
        ratio = log_ratio.exp()
        adv = b["adv"]
        if ppo.normalize_advantages and adv.numel() > 1:
            adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        clipped = torch.clamp(ratio, 1.0 - ppo.clip, 1.0 + ppo.clip)
        policy_loss = -torch.min(ratio * adv, clipped * adv).mean()
        value_err = (values - b["returns"]) ** 2
        if ppo.clip_value is not None:
            v_clip = b["values"] + torch.clamp(
                values - b["values"], -ppo.clip_value, ppo.clip_value
            )
            value_err = torch.max(value_err, (v_clip - b["returns"]) ** 2)
        value_loss = 0.5 * value_err.mean()
        entropy = policy.entropy(outputs).mean()
        loss = policy_loss + ppo.value_coef * value_loss - ppo.entropy_coef * entropy
        norm = optimizer_step(policy, self.optimizer, loss, self.config.optim.max_grad_norm)
        with torch.no_grad():
            approx_kl = float(((ratio - 1.0) - log_ratio).mean())
            clip_frac = float(((ratio - 1.0).abs() > ppo.clip).float().mean())
        return {
            "loss/policy": policy_loss.item(),
            "loss/value": value_loss.item(),
            "loss/entropy": entropy.item(),
            "ppo/approx_kl": approx_kl,
            "ppo/clip_frac": clip_frac,
            "grad/norm": norm,
        }

    def state_dict(self) -> dict[str, Any]:
        c = self.carry
        carry = None
        if c is not None:
            carry = {
                "obs": c.obs.copy(),
                "state": tuple(s.clone() for s in c.state),
                "episode_start": c.episode_start.copy(),
                "episode_return": c.episode_return.copy(),
                "episode_length": c.episode_length.copy(),
            }
        return {
            "carry": carry,
            "envs": self.envs.state_dict() if c is not None else None,
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["carry"] is not None:
            self.envs.load_state_dict(state["envs"])
            self.carry = Carry(**state["carry"])
        if self.scaler is not None:
            self.scaler.load_state_dict(state["scaler"])

    def close(self) -> None:
        self.envs.close()
