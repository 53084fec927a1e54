"""Build environments from an :class:`~evorl.config.EnvConfig`: one env, or a pool of many.

A *pool* is what the evaluators step: ``num_envs`` environments that are reset slot by slot with
explicit seeds and stepped together. Two kinds:

* :class:`VectorPool` wraps a natively vectorised Gymnasium ``VectorEnv`` (one numpy array for all
  envs; evorl ships exact ones for CartPole-v1 and the pole-balancing family). Its autoreset mode
  must be ``DISABLED``: evorl resets finished slots itself, with seeds it chose.
* :class:`SyncPool` holds a list of ordinary Gymnasium envs (any env, MuJoCo and Box2D included).
  It is Gymnasium's ``SyncVectorEnv`` with autoreset disabled, except that finished sub-envs are
  not stepped: a population's episodes end at different times, and stepping a finished MuJoCo env
  costs as much as stepping a live one.

Both give the trajectory that ``gymnasium.make(id)`` gives for the same seed and actions, so every
evaluator reproduces the serial reference exactly.
"""

from __future__ import annotations

from typing import Any, Protocol

import gymnasium as gym
import numpy as np

from evorl.config import ConfigError, EnvConfig


class EnvPool(Protocol):
    """Many environments stepped together; see the module docstring."""

    num_envs: int
    observation_dim: int

    def reset(self, slots: np.ndarray, seeds: np.ndarray) -> np.ndarray:
        """Reset ``slots`` with ``seeds``; returns their observations, shape (len(slots), obs)."""
        ...

    def step(self, actions: np.ndarray, active: np.ndarray) -> tuple[np.ndarray, ...]:
        """Step the ``active`` slots; returns (obs, reward, done) for all slots (others stale)."""
        ...

    def close(self) -> None: ...


def _register_ours() -> None:
    import evorl.envs  # noqa: F401  (registers the evorl/ namespace on import)


def make_env(cfg: EnvConfig, render_mode: str | None = None) -> gym.Env:
    """One Gymnasium env as configured (time limit, observation mask)."""
    _register_ours()
    kwargs: dict[str, Any] = dict(cfg.kwargs)
    if cfg.max_episode_steps is not None:
        kwargs["max_episode_steps"] = cfg.max_episode_steps
    if render_mode is not None:
        kwargs["render_mode"] = render_mode
    try:
        env = gym.make(cfg.id, **kwargs)
    except gym.error.Error as err:
        raise ConfigError(f"cannot make env '{cfg.id}': {_first_line(err)}") from None
    except ImportError as err:
        raise ConfigError(
            f"env '{cfg.id}' needs a missing package ({err.name}); "
            "install evorl-toolkit[mujoco] or [box2d]"
        ) from None
    except TypeError as err:
        raise ConfigError(f"env '{cfg.id}': bad env.kwargs: {_first_line(err)}") from None
    if cfg.observe is not None:
        from evorl.envs.wrappers import MaskObservation

        _check_observe(cfg, env.observation_space)
        env = MaskObservation(env, cfg.observe)
    return env


def env_spaces(cfg: EnvConfig) -> tuple[int, gym.spaces.Space]:
    """Observation size and action space of the configured env (after masking)."""
    env = make_env(cfg)
    try:
        space = env.observation_space
        if not isinstance(space, gym.spaces.Box) or len(space.shape) != 1:
            raise ConfigError(
                f"env '{cfg.id}': evorl controllers need a flat Box observation, got {space}"
            )
        return int(space.shape[0]), env.action_space
    finally:
        env.close()


def make_pool(cfg: EnvConfig, num_envs: int) -> EnvPool:
    """A pool of ``num_envs`` envs: native vectorised where possible and allowed, else sync."""
    if cfg.vectorization != "sync":
        vec = _native_vector_env(cfg, num_envs)
        if vec is not None:
            return VectorPool(vec, cfg.observe)
        if cfg.vectorization == "native":
            raise ConfigError(f"env '{cfg.id}' has no native vectorised version; use sync")
    return SyncPool([make_env(cfg) for _ in range(num_envs)])


def _native_vector_env(cfg: EnvConfig, num_envs: int) -> gym.vector.VectorEnv | None:
    _register_ours()
    from evorl.envs import native_vector_env

    kwargs = dict(cfg.kwargs)
    if cfg.max_episode_steps is not None:
        kwargs["max_episode_steps"] = cfg.max_episode_steps
    return native_vector_env(cfg.id, num_envs, **kwargs)


def _check_observe(cfg: EnvConfig, space: gym.spaces.Space) -> None:
    size = int(np.prod(space.shape)) if space.shape else 0
    bad = [i for i in cfg.observe or () if not -size <= i < size]
    if bad:
        raise ConfigError(f"env.observe: index {bad[0]} out of range for {size} observations")


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


class SyncPool:
    """A list of Gymnasium envs; only active slots are stepped."""

    def __init__(self, envs: list[gym.Env]) -> None:
        self.envs = envs
        self.num_envs = len(envs)
        self.observation_dim = int(np.prod(envs[0].observation_space.shape))
        self._obs = np.zeros((self.num_envs, self.observation_dim), np.float64)
        self._reward = np.zeros(self.num_envs, np.float64)
        self._done = np.zeros(self.num_envs, bool)
        self._discrete = isinstance(envs[0].action_space, gym.spaces.Discrete)

    def reset(self, slots: np.ndarray, seeds: np.ndarray) -> np.ndarray:
        for slot, seed in zip(slots, seeds, strict=True):
            obs, _ = self.envs[slot].reset(seed=int(seed))
            self._obs[slot] = obs
        return self._obs[slots]

    def step(self, actions: np.ndarray, active: np.ndarray) -> tuple[np.ndarray, ...]:
        obs, reward, done = self._obs, self._reward, self._done
        reward[:] = 0.0
        for i in np.flatnonzero(active):
            action = int(actions[i]) if self._discrete else actions[i]
            o, r, term, trunc, _ = self.envs[i].step(action)
            obs[i] = o
            reward[i] = r
            done[i] = term or trunc
        return obs, reward, done

    def close(self) -> None:
        for env in self.envs:
            env.close()


class VectorPool:
    """A natively vectorised Gymnasium ``VectorEnv`` with autoreset disabled."""

    def __init__(self, env: gym.vector.VectorEnv, observe: tuple[int, ...] | None = None) -> None:
        mode = env.metadata.get("autoreset_mode")
        if mode != gym.vector.AutoresetMode.DISABLED:
            raise ValueError(f"VectorPool needs autoreset_mode DISABLED, got {mode}")
        self.env = env
        self.num_envs = env.num_envs
        self._keep = None if observe is None else np.asarray(observe, dtype=np.intp)
        dim = int(np.prod(env.single_observation_space.shape))
        self.observation_dim = dim if self._keep is None else len(self._keep)
        self._obs: np.ndarray | None = None
        self._seeds: list[int | None] = [None] * self.num_envs

    def _select(self, obs: np.ndarray) -> np.ndarray:
        return obs if self._keep is None else obs[:, self._keep]

    def reset(self, slots: np.ndarray, seeds: np.ndarray) -> np.ndarray:
        mask = np.zeros(self.num_envs, bool)
        mask[slots] = True
        seed_list = list(self._seeds)
        for slot, seed in zip(slots, seeds, strict=True):
            seed_list[slot] = int(seed)
        obs, _ = self.env.reset(seed=seed_list, options={"reset_mask": mask})
        self._obs = self._select(np.asarray(obs))
        return self._obs[slots]

    def step(self, actions: np.ndarray, active: np.ndarray) -> tuple[np.ndarray, ...]:
        obs, reward, term, trunc, _ = self.env.step(actions)
        self._obs = self._select(obs)
        return self._obs, reward, term | trunc

    def close(self) -> None:
        self.env.close()
