"""Real episodes of an evolved controller, recorded frame by frame (with exploration noise).

The iterative procedure of Ha & Schmidhuber (2018) collects its later data with the current
controller instead of a random policy, and the diagnostics need the states that controller
visits. :func:`controller_episodes` runs one controller on many real envs seen through V and M
(:class:`~.real_env.RealVectorEnv`, one batch) and returns each episode in the shard layout of
:func:`~.collect.collect_episode`. With ``noise`` > 0 the action taken is perturbed: for a
``Discrete`` space it is replaced by a uniform one with probability ``noise`` (ε-greedy); for a
``Box`` space Gaussian noise of ``noise`` × (high − low) is added and the result clipped.

An episode's noise comes from its own generator, so it does not depend on which episodes share
its batch; M's batched LSTM does (in the last float bits), so callers that must reproduce
episodes exactly run the same batches again (:func:`~.collect.collect_rounds` runs fixed chunks).

Example:
    >>> rngs = [np.random.default_rng(k) for k in (1, 2)]
    >>> episodes = controller_episodes(folder, ctrl, params, [1, 2], rngs, 0.1)  # doctest: +SKIP
    >>> episodes[0]["obs"].shape  # doctest: +SKIP
    (348, 64, 64, 3)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

from evorl.controllers import Controller

from .real_env import RealVectorEnv

Episode = dict[str, np.ndarray]


def perturb(
    space: gym.spaces.Space, action: np.ndarray, noise: float, rng: np.random.Generator
) -> np.ndarray:
    """One env's action with exploration noise drawn from ``rng`` (same draws at any noise).

    ``Discrete``: a uniform action with probability ``noise``; ``Box``: plus N(0, (noise ·
    (high − low))²), clipped to the bounds.
    """
    if isinstance(space, gym.spaces.Discrete):
        explore, pick = rng.random(), int(space.start + rng.integers(space.n))
        return np.asarray(pick if explore < noise else action, dtype=np.int64)
    step = rng.standard_normal(space.shape) * noise * (space.high - space.low)
    return np.clip(np.asarray(action) + step, space.low, space.high).astype(np.float32)


@torch.no_grad()
def controller_episodes(
    directory: str | Path,
    controller: Controller,
    params: np.ndarray,
    seeds: Sequence[int],
    rngs: Sequence[np.random.Generator],
    noise: float = 0.0,
    max_steps: int | None = None,
) -> list[Episode]:
    """Episodes of controller ``params`` in the real env, one per reset seed, as one batch.

    Args:
        directory: The pipeline directory (its config's env, V and M).
        controller: C's architecture (its weights are set to ``params``).
        params: (D,) flat parameters.
        seeds: Reset seed of each episode.
        rngs: Each episode's noise generator (drawn from every step, whatever ``noise``).
        noise: Exploration noise (see :func:`perturb`).
        max_steps: Cut episodes at this length (``None``: the env's own end).

    Returns:
        One dict per episode: ``obs`` (T+1, 64, 64, 3) uint8, ``action`` (T, ...), ``reward``
        and ``done`` (T,) — the layout of collected shards.
    """
    n = len(seeds)
    controller.set_flat(np.asarray(params, np.float32))
    vec = RealVectorEnv(n, str(directory))
    space = vec.single_action_space
    try:
        obs, _ = vec.reset(seed=[int(s) for s in seeds])
        state = controller.initial_state(n)
        frames = [[vec.frames[i].copy()] for i in range(n)]
        actions, rewards, dones = ([[] for _ in range(n)] for _ in range(3))
        live = np.ones(n, bool)
        while live.any():
            chosen, state = controller.step(torch.from_numpy(obs), state)
            pairs = zip(chosen.numpy(), rngs, strict=True)
            taken = [perturb(space, a, noise, rng) for a, rng in pairs]
            obs, reward, terminated, truncated, _ = vec.step(np.stack(taken))
            for i in np.flatnonzero(live):
                frames[i].append(vec.frames[i].copy())
                actions[i].append(taken[i])
                rewards[i].append(reward[i])
                dones[i].append(bool(terminated[i]))
                if terminated[i] or truncated[i] or len(actions[i]) == max_steps:
                    live[i] = False
            vec.end(np.flatnonzero(~live))  # episodes cut at max_steps are stepped no more
    finally:
        vec.close()
    return [
        {
            "obs": np.stack(frames[i]),
            "action": np.asarray(actions[i]),
            "reward": np.asarray(rewards[i], np.float32),
            "done": np.asarray(dones[i], bool),
        }
        for i in range(n)
    ]
