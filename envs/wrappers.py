"""Wrappers that make any Gymnasium env partially observable.

Hiding velocities, adding sensor noise and delaying observations are the standard ways to turn a
reactive task into one that needs memory (e.g. the non-Markov pole balancing of Wieland 1991 and
Gomez et al. 2008, or the velocity-masked CartPole of many recurrent-RL papers). Each wrapper keeps
the underlying dynamics and rewards untouched.

Example:
    >>> import gymnasium as gym
    >>> env = DelayObservation(MaskObservation(gym.make("CartPole-v1"), keep=[0, 2]), k=2)
    >>> obs, _ = env.reset(seed=0)
    >>> obs.shape
    (2,)
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

_NOISE_STREAM = 0x6E6F6973  # spawn key that separates the noise stream from the env's own RNG


def _box(env: gym.Env) -> spaces.Box:
    space = env.observation_space
    if not isinstance(space, spaces.Box):
        raise TypeError(f"needs a Box observation space, got {type(space).__name__}")
    return space


class MaskObservation(gym.ObservationWrapper):
    """Keeps only the chosen entries of a flat Box observation.

    Args:
        env: An env with a 1-D Box observation space.
        keep: Indices to keep, in the order wanted (e.g. CartPole positions ``[0, 2]``).
    """

    def __init__(self, env: gym.Env, keep: Sequence[int]) -> None:
        super().__init__(env)
        space = _box(env)
        if len(space.shape) != 1:
            raise ValueError(f"needs a 1-D observation space, got shape {space.shape}")
        self.keep = np.asarray(keep, dtype=np.intp)
        if self.keep.ndim != 1 or len(self.keep) == 0:
            raise ValueError("keep must be a non-empty sequence of indices")
        self.observation_space = spaces.Box(
            space.low[self.keep], space.high[self.keep], dtype=space.dtype
        )

    def observation(self, observation: np.ndarray) -> np.ndarray:
        """The kept entries (a new array)."""
        return np.asarray(observation)[self.keep]


class ObservationNoise(gym.ObservationWrapper):
    """Adds zero-mean Gaussian noise of standard deviation ``std`` to every observation.

    The noise comes from the wrapper's own generator, so the wrapped env's random stream (its
    start states) is untouched. ``reset(seed=s)`` reseeds it from ``SeedSequence(s)`` with a
    fixed spawn key (a stream independent of the env's ``np_random(s)``); ``reset()`` without a
    seed continues it. The same seed therefore gives the same noisy trajectory.

    Args:
        env: An env with a Box observation space.
        std: Noise standard deviation, a scalar or one value per observation entry.
    """

    def __init__(self, env: gym.Env, std: float | Sequence[float]) -> None:
        super().__init__(env)
        space = _box(env)
        self.std = np.broadcast_to(np.asarray(std, dtype=np.float64), space.shape).copy()
        if np.any(self.std < 0):
            raise ValueError("std must be >= 0")
        noisy = self.std > 0
        # Noise can leave any bound, so noisy entries become unbounded.
        self.observation_space = spaces.Box(
            np.where(noisy, -np.inf, space.low),
            np.where(noisy, np.inf, space.high),
            dtype=space.dtype,
        )
        self._noise_rng: np.random.Generator | None = None

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Resets the env and, given a seed, the noise generator."""
        if seed is not None or self._noise_rng is None:
            self._noise_rng = np.random.default_rng(
                np.random.SeedSequence(seed, spawn_key=(_NOISE_STREAM,))
            )
        return super().reset(seed=seed, options=options)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        """``observation + std · N(0, 1)``, in the observation's dtype."""
        assert self._noise_rng is not None, "call reset() first"
        obs = np.asarray(observation)
        noise = self._noise_rng.standard_normal(obs.shape) * self.std
        return (obs + noise).astype(obs.dtype, copy=False)


class DelayObservation(gym.Wrapper):
    """Returns the observation of ``k`` steps ago.

    At step ``t`` the agent sees the observation the env produced at step ``t - k``. For the
    first ``k`` steps of an episode, where there is none, it sees the initial (reset) observation
    again — unlike ``gymnasium.wrappers.DelayObservation``, which shows zeros. ``k = 0`` is the
    identity. Rewards and episode ends are not delayed.

    Args:
        env: Any env.
        k: Delay in steps (>= 0).
    """

    def __init__(self, env: gym.Env, k: int) -> None:
        super().__init__(env)
        if k < 0:
            raise ValueError(f"k must be >= 0, got {k}")
        self.k = int(k)
        self._queue: deque = deque(maxlen=self.k + 1)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        """Resets the env and fills the delay line with the initial observation."""
        obs, info = self.env.reset(seed=seed, options=options)
        self._queue.clear()
        self._queue.extend([obs] * (self.k + 1))
        return obs, info

    def step(self, action: Any) -> tuple[Any, Any, bool, bool, dict[str, Any]]:
        """Steps the env and returns the observation from ``k`` steps earlier."""
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._queue.append(obs)
        return self._queue[0], reward, terminated, truncated, info


def make_cartpole_novel(render_mode: str | None = None) -> gym.Env:
    """``CartPole-v1`` observing positions only ``[x, θ]`` (entry point of CartPoleNoVel-v0).

    The time limit (500) is added by the registration, outside the mask.
    """
    from gymnasium.envs.classic_control.cartpole import CartPoleEnv

    return MaskObservation(CartPoleEnv(render_mode=render_mode), keep=[0, 2])
