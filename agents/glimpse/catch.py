"""The glimpse agent playing Catch (Mnih et al. 2014, Sec. 4.2) through its retina.

Each frame of ``evorl/Catch-v0`` (24×24 pixels) gets one glimpse; from the core state the agent
samples a paddle move (action network, softmax over left / stay / right) and where to look on the
next frame (location network). Both are trained by REINFORCE with a baseline and a small entropy
bonus that keeps the paddle policy exploring:

    L = −1/B Σ_b Σ_t [log π(a_t) + log π(l_{t+1})] (R_t − b_t) + MSE(b_t, R_t) − β H(π(a_t))

where R_t is the discounted return to go. The game rewards only the last step (+1 caught, −1
missed); a random paddle catches 8% of balls, and those catches say almost nothing about which way
to move. Training therefore adds a potential-based shaping reward ``φ(s') − φ(s)`` (Ng, Harada &
Russell, ICML 1999) — a departure from the paper. ``shaping="landing"`` (default) takes
``φ = −gap / size`` with ``gap`` the columns between the paddle and where the ball *will land*
(:meth:`~evorl.envs.catch.CatchEnv.landing_column`, a function of the game state); ``"ball"``
measures the gap to where the ball *is*; ``"none"`` trains on the game's reward alone. With γ = 1
shaping leaves the best policy unchanged; γ < 1 trades that guarantee for lower variance, as GAE's
λ does. The shaping only scores moves: the agent still sees nothing but its glimpses, and must
work out the ball's speed and bounces from them. Success is always counted in caught balls.

With ``drift=True`` (the environment's default, the paper's "random angle") the ball moves
sideways as fast as the paddle, so chasing it catches only 37% of balls and the agent must
predict where it lands (a scripted predictor catches 100%); ``"ball"`` shaping rewards exactly
that chase and stalls there (38% after 1,500 updates), while ``"landing"`` shaping goes past it.
``drift=False`` drops the ball straight, where both shapings agree.

Episodes run on the bare :class:`~evorl.envs.catch.CatchEnv` (``.unwrapped``): Gymnasium's
checking wrappers triple the cost of a step and add nothing to a fixed-length game.

Example:
    >>> agent = GlimpseAgent(catch_config(), n_actions=3, seed=0)
    >>> rate = catch_rate(agent, episodes=8, seed=1)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import NamedTuple

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F

from evorl import seeding
from evorl.agents.glimpse.agent import GlimpseAgent, GlimpseConfig, Population
from evorl.agents.glimpse.networks import gaussian_log_prob
from evorl.envs.catch import CatchEnv
from evorl.gradient.rpg import returns_to_go

ENV_ID = "evorl/Catch-v0"
STREAM_TRAIN_EPISODES = seeding.STREAM_CATCH_TRAIN
STREAM_TEST_EPISODES = seeding.STREAM_CATCH_TEST
STREAM_NOISE = seeding.STREAM_CATCH_NOISE
SHAPINGS = ("landing", "ball", "none")


def check_shaping(shaping: str) -> None:
    """Raise ValueError unless ``shaping`` is one of :data:`SHAPINGS`."""
    if shaping not in SHAPINGS:
        raise ValueError(f"shaping={shaping!r} is not one of {SHAPINGS}")


def catch_config(**changes: object) -> GlimpseConfig:
    """A glimpse agent sized for 24×24 Catch: 6×6 patches at 3 scales, a 128-unit core."""
    base = {"size": 6, "scales": 3, "what": 64, "where": 32, "features": 128, "hidden": 128}
    return GlimpseConfig(**{**base, **changes})


@dataclass(frozen=True)
class CatchConfig:
    """Budget and settings of REINFORCE on Catch."""

    updates: int = 8000
    """Gradient steps, each on a fresh batch of episodes."""
    batch: int = 64
    """Episodes per gradient step."""
    lr: float = 1e-3
    """Adam's initial learning rate (cosine decay to zero over the run)."""
    entropy: float = 0.01
    """Weight β of the action-entropy bonus."""
    clip: float = 5.0
    """Global gradient-norm clip."""
    seed: int = 0
    """Seeds episodes and sampling."""
    shaping: str = "landing"
    """Potential-based shaping (module docstring): "landing", "ball" or "none"."""
    gamma: float = 0.9
    """Discount of the returns to go."""
    drift: bool = True
    """Balls move sideways (the environment's default) or drop straight down."""
    test_every: int = 100
    """Updates between greedy test rounds."""
    test_episodes: int = 200
    """Episodes per test round."""

    def __post_init__(self) -> None:
        check_shaping(self.shaping)

    def to_dict(self) -> dict[str, object]:
        """The fields as a plain dict."""
        return asdict(self)


class Episodes(NamedTuple):
    """A batch of Catch episodes, time-major (T = frames per episode)."""

    log_probs: torch.Tensor
    """log π(a_t) + log π(l_{t+1}) (T, B)."""
    baselines: torch.Tensor
    """b_t (T, B)."""
    entropy: torch.Tensor
    """Entropy of the action distribution (T, B)."""
    rewards: torch.Tensor
    """The game's rewards (T, B): 0 until the last step, then +1 caught or −1 missed."""
    gaps: torch.Tensor
    """Columns between the ball and the paddle (T+1, B), from the reset to the end."""
    landing_gaps: torch.Tensor
    """Columns between the paddle and where the ball will land (T+1, B)."""
    frames: np.ndarray
    """The screens the agent saw (T, B, 24, 24)."""
    locations: torch.Tensor
    """Where each glimpse looked (T, B, 2)."""


def make_envs(count: int, drift: bool = True) -> list[CatchEnv]:
    """``count`` bare Catch environments, reused across batches of episodes."""
    return [gym.make(ENV_ID, drift=drift).unwrapped for _ in range(count)]


def _gap(env: CatchEnv, col: int) -> int:
    """Columns between column ``col`` and the nearest paddle pixel."""
    return max(env.paddle - col, col - env.paddle - env.paddle_width + 1, 0)


def _gaps(envs: list[CatchEnv], landing: list[int]) -> tuple[list[int], list[int]]:
    """Gaps of every env's paddle to its ball and to the ball's landing column ``landing``."""
    return (
        [_gap(e, e.ball_col) for e in envs],
        [_gap(e, col) for e, col in zip(envs, landing, strict=True)],
    )


def play(
    agent: GlimpseAgent | Population,
    envs: list[CatchEnv],
    seeds: np.ndarray,
    generator: torch.Generator | None,
) -> Episodes:
    """Play one episode per reset seed, one per environment of ``envs``.

    Actions and locations are sampled with ``generator``, or greedy (argmax action, mean
    location) when it is None. A :class:`~evorl.agents.glimpse.agent.Population` of P
    candidates plays P·B episodes, candidate-major (envs and seeds ``p·B … p·B + B − 1`` are
    candidate p's), its forward batched over the candidates each frame.
    """
    if len(envs) != len(seeds):
        raise ValueError(f"{len(envs)} environments for {len(seeds)} seeds")
    frames = [np.stack([env.reset(seed=int(s))[0] for env, s in zip(envs, seeds, strict=True)])]
    batch = len(envs)
    loc = torch.zeros(batch, 2)
    state = agent.initial_state(batch)
    log_probs, baselines, entropies, locations = [], [], [], []
    landing_cols = [env.landing_column() for env in envs]  # fixed for the whole episode
    gap, landing = _gaps(envs, landing_cols)
    rewards, gaps, landing_gaps, done = [], [gap], [landing], False
    while not done:
        out = agent(torch.from_numpy(frames[-1]), loc, state)
        state = out.state
        policy = torch.distributions.Categorical(logits=out.logits)
        locations.append(loc)
        if generator is None:
            action, loc = out.logits.argmax(-1), out.loc_mean.detach()
        else:
            action = torch.multinomial(policy.probs.detach(), 1, generator=generator).squeeze(1)
            noise = torch.randn(out.loc_mean.shape, generator=generator)
            loc = (out.loc_mean.detach() + agent.config.loc_std * noise).clamp(-1.0, 1.0)
        log_probs.append(
            policy.log_prob(action) + gaussian_log_prob(loc, out.loc_mean, agent.config.loc_std)
        )
        baselines.append(out.baseline)
        entropies.append(policy.entropy())
        step = [env.step(a) for env, a in zip(envs, action.tolist(), strict=True)]
        frames.append(np.stack([s[0] for s in step]))
        rewards.append([s[1] for s in step])
        gap, landing = _gaps(envs, landing_cols)
        gaps.append(gap)
        landing_gaps.append(landing)
        done = all(s[2] or s[3] for s in step)
    return Episodes(
        torch.stack(log_probs),
        torch.stack(baselines),
        torch.stack(entropies),
        torch.tensor(rewards, dtype=torch.float32),
        torch.tensor(gaps),
        torch.tensor(landing_gaps),
        np.stack(frames[:-1]),
        torch.stack(locations),
    )


def caught(episodes: Episodes) -> torch.Tensor:
    """Whether each ball was caught (B,)."""
    return episodes.rewards.sum(0) > 0


def shaped_rewards(episodes: Episodes, shaping: str) -> torch.Tensor:
    """The rewards (T, B) that training maximises: the game's, plus ``φ(s') − φ(s)`` unless
    ``shaping`` is "none" (module docstring)."""
    if shaping == "none":
        return episodes.rewards
    gaps = episodes.landing_gaps if shaping == "landing" else episodes.gaps
    potential = -gaps.float() / episodes.frames.shape[-1]
    return episodes.rewards + potential[1:] - potential[:-1]


def reinforce_loss(episodes: Episodes, rewards: torch.Tensor, cfg: CatchConfig) -> torch.Tensor:
    """REINFORCE with baseline on both policies, baseline regression, entropy bonus."""
    returns = returns_to_go(rewards, torch.ones_like(rewards), cfg.gamma)
    advantage = returns - episodes.baselines.detach()
    policy = -(episodes.log_probs * advantage).sum(0).mean()
    baseline = F.mse_loss(episodes.baselines, returns.expand_as(episodes.baselines))
    return policy + baseline - cfg.entropy * episodes.entropy.sum(0).mean()


@torch.no_grad()
def catch_rate(agent: GlimpseAgent, episodes: int, seed: int, drift: bool = True) -> float:
    """Fraction of ``episodes`` greedy test episodes in which the ball was caught."""
    seeds = seeding.episode_seeds(seed, STREAM_TEST_EPISODES, 0, episodes)
    return float(caught(play(agent, make_envs(episodes, drift), seeds, None)).float().mean())


def train_catch(
    agent: GlimpseAgent, cfg: CatchConfig, log: Callable[[dict], None] | None = None
) -> list[dict]:
    """REINFORCE on Catch for ``cfg.updates`` steps; returns one record per test round."""
    opt = torch.optim.Adam(agent.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.updates)
    gen = torch.Generator().manual_seed(seeding.int_seed(cfg.seed, STREAM_NOISE))
    envs = make_envs(cfg.batch, cfg.drift)
    history, start, recent = [], time.perf_counter(), []
    for update in range(1, cfg.updates + 1):
        seeds = seeding.episode_seeds(cfg.seed, STREAM_TRAIN_EPISODES, update, cfg.batch)
        episodes = play(agent, envs, seeds, gen)
        rewards = shaped_rewards(episodes, cfg.shaping)
        loss = reinforce_loss(episodes, rewards, cfg)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(agent.parameters(), cfg.clip)
        opt.step()
        sched.step()
        recent.append(float(caught(episodes).float().mean()))
        if update % cfg.test_every == 0 or update == cfg.updates:
            record = {
                "update": update,
                "train_caught": float(np.mean(recent)),
                "test_caught": catch_rate(agent, cfg.test_episodes, cfg.seed, cfg.drift),
                "seconds": time.perf_counter() - start,
            }
            recent = []
            history.append(record)
            if log is not None:
                log(record)
    return history
