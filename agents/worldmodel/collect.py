"""Collect: rollouts of an untrained policy, one compressed shard per episode, written as they come.

Policies (the paper's): ``random`` draws every action uniformly from the action space;
``brownian`` (Box actions) lets the action do a clipped random walk, which explores a car's
speeds and turns better than independent draws. Episode ``i`` is a pure function of the pipeline
seed and ``i`` (its reset seed and action noise come from their own streams), so collection
resumes by filling in the shards that are missing, and gives the same data on one process or on
many Ray workers.

Example:
    >>> collect(config, Path("runs/take-cover/data"))  # doctest: +SKIP
    200
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import gymnasium as gym
import numpy as np

from evorl import seeding

from .config import CollectConfig, EnvSection, WorldModelConfig
from .preprocess import make_real_env, to_frame
from .shards import shard_name, write_shard

STREAM_COLLECT = seeding.STREAM_COLLECT
"""Seed-stream tag of collection (evorl's own tags are small integers)."""
BROWNIAN_STEP = 0.1
"""Standard deviation of a Brownian action's step, as a fraction of the action range."""

Progress = Callable[[int], None]


def collect_episode(
    section: EnvSection,
    collect: CollectConfig,
    seed: int,
    index: int,
    stream_tag: int = STREAM_COLLECT,
) -> dict[str, np.ndarray]:
    """One episode: ``obs`` (T+1, 64, 64, 3) uint8, ``action``, ``reward`` (T,), ``done`` (T,).

    Its reset seed and actions come from stream ``(seed, stream_tag, index)``.
    """
    env = make_real_env(section)
    rng = np.random.default_rng(seeding.stream(seed, stream_tag, index))
    try:
        obs, _ = env.reset(seed=int(rng.integers(2**31 - 1)))
        frames, actions, rewards, dones = [to_frame(obs, section.crop_bottom)], [], [], []
        action = _first_action(env.action_space, rng)
        done = False
        while not done and (collect.max_steps is None or len(actions) < collect.max_steps):
            action = _next_action(env.action_space, collect.policy, action, rng)
            obs, reward, terminated, truncated, _ = env.step(action)
            frames.append(to_frame(obs, section.crop_bottom))
            actions.append(action)
            rewards.append(reward)
            dones.append(terminated)
            done = terminated or truncated
    finally:
        env.close()
    return {
        "obs": np.stack(frames),
        "action": np.asarray(actions),
        "reward": np.asarray(rewards, np.float32),
        "done": np.asarray(dones, bool),
    }


def _first_action(space: gym.spaces.Space, rng: np.random.Generator):
    if isinstance(space, gym.spaces.Box):
        return ((space.low + space.high) / 2).astype(np.float32)
    return 0


def _next_action(space: gym.spaces.Space, policy: str, previous, rng: np.random.Generator):
    if isinstance(space, gym.spaces.Discrete):
        return int(space.start + rng.integers(space.n))
    low, high = space.low, space.high
    if policy == "brownian":
        step = rng.normal(0.0, BROWNIAN_STEP, space.shape) * (high - low)
        return np.clip(previous + step, low, high).astype(np.float32)
    return rng.uniform(low, high).astype(np.float32)


def missing_episodes(directory: Path, episodes: int) -> list[int]:
    """Indices of the episodes whose shard is not on disk yet."""
    return [i for i in range(episodes) if not (directory / shard_name(i)).exists()]


def collect(config: WorldModelConfig, directory: Path, progress: Progress | None = None) -> int:
    """Write every missing episode shard of ``config.collect`` into ``directory``.

    Runs in this process, or on ``collect.workers`` Ray workers (results are written by this
    process as they arrive, so workers need no shared disk). Returns the number written.
    """
    directory.mkdir(parents=True, exist_ok=True)
    todo = missing_episodes(directory, config.collect.episodes)
    if config.collect.workers and todo:
        return _collect_on_ray(config, directory, todo, progress)
    for index in todo:
        episode = collect_episode(config.env, config.collect, config.seed, index)
        write_shard(directory / shard_name(index), **episode)
        if progress is not None:
            progress(1)
    return len(todo)


def _collect_on_ray(
    config: WorldModelConfig, directory: Path, todo: list[int], progress: Progress | None
) -> int:
    import ray

    from evorl.evaluation import ray_connect

    c = config.collect
    started = ray_connect.connect(c.ray_address, c.workers, key="collect.ray_address")
    remote = ray.remote(num_cpus=1)(collect_episode)
    try:
        queue, pending = list(todo), {}
        while queue or pending:
            while queue and len(pending) < 2 * config.collect.workers:  # bounded memory
                index = queue.pop(0)
                ref = remote.remote(config.env, config.collect, config.seed, index)
                pending[ref] = index
            done, _ = ray.wait(list(pending), num_returns=1)
            index = pending.pop(done[0])
            write_shard(directory / shard_name(index), **ray.get(done[0]))
            if progress is not None:
                progress(1)
    finally:
        if started:
            ray_connect.disconnect()
    return len(todo)
