"""Batches of experience from vector environments, recurrent state reset at episode starts.

Two collectors step evorl's env pool (:class:`~evorl.env_pool.EnvPool`, made replayable so that
a run can be checkpointed mid-episode):

* :func:`collect_episodes` (RPG): one whole episode per env slot, all started from explicit reset
  seeds; arrays are time-major (T, B), padded after each episode's end (``mask``).
* :func:`collect_steps` (PPO): a fixed number of steps per slot; episodes run on across rollouts
  (their state travels in a :class:`Carry`), finished slots are reset at once with seeds drawn
  for the rollout, and ``episode_start`` marks where the recurrent state must be reset — the
  masking of Stable-Baselines3's ``RecurrentPPO`` and CleanRL's ``ppo_atari_lstm``.

The pool keeps ``terminated`` and ``truncated`` apart (a truncated episode is bootstrapped with
the value of its final observation) and never steps a finished slot of a list of envs.

Example:
    >>> from evorl.config import EnvConfig
    >>> from evorl.gradient.config import load_gradient_config
    >>> from evorl.gradient.learner import build_policy
    >>> policy, _ = build_policy(load_gradient_config("tmaze-10"))
    >>> envs = EnvPool.make(EnvConfig("evorl/TMaze-v0"), num_envs=4)
    >>> batch = collect_episodes(policy, envs, np.arange(4), torch.Generator().manual_seed(0))
    >>> batch.mask.shape[1], len(batch.returns)
    (4, 4)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from evorl.controllers import State
from evorl.env_pool import EnvPool
from evorl.evaluation import ObsNormalizer, ObsSums
from evorl.gradient.policy import RecurrentPolicy


class RewardScaler:
    """Rewards divided by the running std of the discounted return (SB3's VecNormalize)."""

    def __init__(self, num_envs: int, gamma: float, clip: float = 10.0) -> None:
        self.gamma, self.clip = gamma, clip
        self.ret = np.zeros(num_envs)
        self.count, self.mean, self.var = 1e-4, 0.0, 1.0

    def __call__(self, reward: np.ndarray, done: np.ndarray) -> np.ndarray:
        self.ret = self.ret * self.gamma + reward
        n, m, v = len(self.ret), float(self.ret.mean()), float(self.ret.var())
        total = self.count + n
        delta = m - self.mean
        self.mean += delta * n / total
        self.var = (self.var * self.count + v * n + delta**2 * self.count * n / total) / total
        self.count = total
        self.ret[done] = 0.0
        return np.clip(reward / np.sqrt(self.var + 1e-8), -self.clip, self.clip)

    def state_dict(self) -> dict[str, Any]:
        return {"ret": self.ret.copy(), "count": self.count, "mean": self.mean, "var": self.var}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.ret = state["ret"].copy()
        self.count, self.mean, self.var = state["count"], state["mean"], state["var"]


@dataclass
class Experience:
    """What one update reports: its finished episodes, env steps and observation sums."""

    returns: np.ndarray
    lengths: np.ndarray
    env_steps: int
    obs_sums: ObsSums


def obs_sums(raw: list[np.ndarray]) -> ObsSums:
    """One rollout's raw observations summed as one row, for ``RunningObsStats.merge``
    (observations with a NaN or infinite entry are counted and left out)."""
    x = np.concatenate(raw)
    finite = np.isfinite(x).all(axis=1)
    if not finite.all():
        x = x[finite]
    bad = np.array([len(finite) - int(finite.sum())])
    return ObsSums(np.array([len(x)], float), x.sum(0)[None], (x * x).sum(0)[None], bad)


def _as_input(obs: np.ndarray, normalizer: ObsNormalizer | None, dtype: torch.dtype):
    x = normalizer(obs) if normalizer is not None else obs
    return torch.as_tensor(np.asarray(x), dtype=dtype)


# --------------------------------------------------------------------------- RPG: whole episodes


@dataclass
class EpisodeBatch:
    """B whole episodes, time-major and padded: tensors (T, B[, ...]); ``mask`` marks real steps."""

    obs: torch.Tensor
    actions: torch.Tensor
    rewards: torch.Tensor
    mask: torch.Tensor
    returns: np.ndarray
    lengths: np.ndarray
    raw_obs: list[np.ndarray]

    def to(self, device: torch.device) -> EpisodeBatch:
        """The batch with its tensors on ``device`` (itself when they are there already)."""
        if self.obs.device == device:
            return self
        move = {k: getattr(self, k).to(device) for k in ("obs", "actions", "rewards", "mask")}
        return dataclasses.replace(self, **move)


@torch.no_grad()
def collect_episodes(
    policy: RecurrentPolicy,
    envs: EnvPool,
    seeds: np.ndarray,
    generator: torch.Generator,
    normalizer: ObsNormalizer | None = None,
    scaler: RewardScaler | None = None,
) -> EpisodeBatch:
    """One episode per slot (reset with ``seeds``), sampled from the policy until all end."""
    n, dtype = envs.num_envs, policy.value_head.weight.dtype
    obs = envs.reset(np.arange(n), seeds).copy()
    state = policy.initial_state(n)
    active = np.ones(n, bool)
    xs, acts, rews, masks, raw = [], [], [], [], []
    returns, lengths = np.zeros(n), np.zeros(n, np.int64)
    while active.any():
        raw.append(obs[active].copy())
        x = _as_input(obs, normalizer, dtype)
        outputs, _, state = policy.step(x, state)
        action = policy.sample(outputs, generator)
        obs, reward, term, trunc = envs.step(policy.env_action(action), active)
        obs = obs.copy()
        done = term | trunc
        returns += reward
        lengths += active
        xs.append(x)
        acts.append(action)
        masks.append(torch.as_tensor(active))
        scaled = scaler(reward, done | ~active) if scaler is not None else reward
        rews.append(torch.as_tensor(scaled * active, dtype=dtype))
        active = active & ~done
    return EpisodeBatch(
        torch.stack(xs), torch.stack(acts), torch.stack(rews), torch.stack(masks),
        returns, lengths, raw,
    )  # fmt: skip


# --------------------------------------------------------------------------- PPO: fixed-length


@dataclass
class Carry:
    """What runs on from one rollout to the next: env observations, recurrent state, flags."""

    obs: np.ndarray
    state: State
    episode_start: np.ndarray
    episode_return: np.ndarray
    episode_length: np.ndarray


@dataclass
class Rollout:
    """``steps`` × ``num_envs`` transitions, time-major tensors (T, B[, ...]).

    ``states[i][t]`` is the recurrent state the policy saw at step t (after any reset);
    ``bootstrap[t, b]`` is the value of the final observation where step t was truncated;
    ``last_value`` is the value of the observation after the last step.
    """

    obs: torch.Tensor
    actions: torch.Tensor
    logp: torch.Tensor
    values: torch.Tensor
    rewards: torch.Tensor
    terminated: torch.Tensor
    done: torch.Tensor
    episode_start: torch.Tensor
    states: tuple[torch.Tensor, ...]
    bootstrap: torch.Tensor
    last_value: torch.Tensor
    returns: list[float]
    lengths: list[int]
    raw_obs: list[np.ndarray]


def start_carry(policy: RecurrentPolicy, envs: EnvPool, seeds: np.ndarray) -> Carry:
    """Reset every slot; the first rollout starts here."""
    n = envs.num_envs
    obs = envs.reset(np.arange(n), seeds).copy()
    return Carry(obs, policy.initial_state(n), np.ones(n, bool), np.zeros(n), np.zeros(n, int))


@torch.no_grad()
def collect_steps(
    policy: RecurrentPolicy,
    envs: EnvPool,
    carry: Carry,
    steps: int,
    generator: torch.Generator,
    reset_seeds: np.random.Generator,
    normalizer: ObsNormalizer | None = None,
    scaler: RewardScaler | None = None,
) -> Rollout:
    """``steps`` policy steps in every slot, continuing ``carry`` (updated in place)."""
    n, dtype = envs.num_envs, policy.value_head.weight.dtype
    keys = ("obs", "actions", "logp", "values", "rewards", "terminated", "done", "start")
    buf: dict[str, list] = {k: [] for k in keys}
    states, bootstrap, raw = [], torch.zeros(steps, n, dtype=dtype), []
    returns, lengths = [], []
    c, everyone = carry, np.ones(n, bool)
    for t in range(steps):
        start = torch.as_tensor(c.episode_start)
        state = policy.controller.reset_state(c.state, start)
        raw.append(c.obs.copy())
        x = _as_input(c.obs, normalizer, dtype)
        outputs, value, next_state = policy.step(x, state)
        action = policy.sample(outputs, generator)
        obs, reward, term, trunc = envs.step(policy.env_action(action), everyone)
        done = term | trunc
        c.episode_return += reward
        c.episode_length += 1
        cut = trunc & ~term
        if cut.any():
            rows = torch.as_tensor(np.flatnonzero(cut))
            final = _as_input(obs[cut], normalizer, dtype)
            _, v, _ = policy.step(final, tuple(s[rows] for s in next_state))
            bootstrap[t, rows] = v
        for key, val in zip(
            keys, (x, action, policy.log_prob(outputs, action), value), strict=False
        ):
            buf[key].append(val)
        scaled = scaler(reward, done) if scaler is not None else reward
        buf["rewards"].append(torch.as_tensor(scaled, dtype=dtype))
        buf["terminated"].append(torch.as_tensor(term))
        buf["done"].append(torch.as_tensor(done))
        buf["start"].append(start)
        states.append(state)
        if done.any():
            returns += c.episode_return[done].tolist()
            lengths += c.episode_length[done].tolist()
            c.episode_return[done], c.episode_length[done] = 0.0, 0
            seeds = reset_seeds.integers(0, 2**31 - 1, size=int(done.sum()))
            envs.reset(np.flatnonzero(done), seeds)
            obs = envs.obs
        c.obs, c.state, c.episode_start = obs.copy(), next_state, done
    x = _as_input(c.obs, normalizer, dtype)
    _, last_value, _ = policy.step(
        x, policy.controller.reset_state(c.state, torch.as_tensor(c.episode_start))
    )
    stacked = {k: torch.stack(v) for k, v in buf.items()}
    return Rollout(
        stacked["obs"], stacked["actions"], stacked["logp"], stacked["values"],
        stacked["rewards"], stacked["terminated"], stacked["done"], stacked["start"],
        tuple(torch.stack(s) for s in zip(*states, strict=True)), bootstrap, last_value,
        returns, lengths, raw,
    )  # fmt: skip
