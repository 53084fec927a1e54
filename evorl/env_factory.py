"""Environments from an :class:`~evorl.config.EnvConfig`: one env, its spaces, its vector form.

* :func:`make_env` makes one Gymnasium env as configured (kwargs, time limit, then
  ``env.wrappers`` in order) and turns every way ``gymnasium.make`` or a wrapper can fail into
  one line.
* :func:`wrapper_class` resolves a wrapper name of ``env.wrappers``: ``mask``, ``noise``,
  ``delay`` (evorl's own, :mod:`evorl.envs.wrappers`), a class of ``gymnasium.wrappers``, or
  ``module:Class``. Wrappers wrap single envs; vector wrappers are refused, and a run with
  wrappers steps a list of envs (the env pool never uses a native vector env for it), so the
  wrappers see exactly the seeds and actions of every slot.
* :func:`env_spec` learns an env's spaces once (the builder hands the result to everything that
  needs it: controller, pools, policy file) and refuses, in one line, a space evorl cannot
  serve.
* :func:`native_vector_env` finds a natively vectorised version — one numpy array for all envs —
  through Gymnasium's registry: the id's registered ``vector_entry_point`` (evorl's pole envs,
  the world model's dream, a user's own vector env), or evorl's exact numpy version of one of
  Gymnasium's own envs (:data:`evorl.envs.EXACT_VECTOR_VERSIONS`). A vector env qualifies when
  its autoreset mode is ``DISABLED`` (evorl resets finished slots itself, with seeds it chose).

Pools of environments are in :mod:`evorl.env_pool`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
from gymnasium.vector import AutoresetMode, VectorEnv

from evorl.config import EnvConfig, WrapperConfig
from evorl.errors import ConfigError
from evorl.spaces import ObservationMap, check_action_space

OUR_WRAPPERS = {
    "mask": "evorl.envs.wrappers:MaskObservation",
    "noise": "evorl.envs.wrappers:ObservationNoise",
    "delay": "evorl.envs.wrappers:DelayObservation",
}
"""evorl's wrapper names for ``env.wrappers`` (:mod:`evorl.envs.wrappers`)."""


@dataclass(frozen=True)
class EnvSpec:
    """An env's spaces, learned once: what the controller reads and what it must output."""

    observation_space: gym.Space
    """The env's own observation space."""
    action_space: gym.Space
    """The env's action space."""
    observation: ObservationMap
    """How observations become controller inputs (flattened, ``env.observe`` applied, the
    previous action and reward appended where asked)."""

    @property
    def obs_dim(self) -> int:
        """Length of the controller's input vector."""
        return self.observation.dim


def _register_ours() -> None:
    import evorl.envs  # noqa: F401  (registers the evorl/ namespace on import)


def _kwargs(cfg: EnvConfig, render_mode: str | None = None) -> dict[str, Any]:
    kwargs: dict[str, Any] = dict(cfg.kwargs)
    if cfg.max_episode_steps is not None:
        kwargs["max_episode_steps"] = cfg.max_episode_steps
    if render_mode is not None:
        kwargs["render_mode"] = render_mode
    return kwargs


def make_env(cfg: EnvConfig, render_mode: str | None = None) -> gym.Env:
    """One Gymnasium env as configured (kwargs, time limit, ``env.wrappers`` in order);
    observations as the (wrapped) env gives them.

    Raises:
        ConfigError: Unknown id, missing package, bad kwargs, a bad wrapper.
    """
    env = _make(cfg, render_mode)
    for index, wrapper in enumerate(cfg.wrappers):
        env = _wrap(env, wrapper, index)
    return env


def wrapper_class(wrapper: WrapperConfig, index: int = 0) -> type:
    """The class a name of ``env.wrappers`` stands for (see the module docstring).

    Raises:
        ConfigError: An unknown name, a module that cannot be imported, or not a wrapper.
    """
    where = f"env.wrappers[{index}]"
    name = OUR_WRAPPERS.get(wrapper.name, wrapper.name)
    module, _, attr = name.rpartition(":")
    if module:
        try:
            found = getattr(importlib.import_module(module), attr, None)
        except ImportError as err:
            raise ConfigError(f"{where}: cannot import {module}: {_first_line(err)}") from None
    else:
        found = getattr(gym.wrappers, name, None) if name != "vector" else None
    if found is None:
        raise ConfigError(
            f"{where}: unknown wrapper '{wrapper.name}' (evorl's: {', '.join(OUR_WRAPPERS)}; "
            "a class of gymnasium.wrappers; or module:Class)"
        )
    if isinstance(found, type) and issubclass(found, gym.vector.VectorWrapper):
        raise ConfigError(f"{where}: '{wrapper.name}' wraps vector envs; name a single-env one")
    if not callable(found):
        raise ConfigError(f"{where}: '{wrapper.name}' is not a wrapper class")
    return found


def _wrap(env: gym.Env, wrapper: WrapperConfig, index: int) -> gym.Env:
    cls = wrapper_class(wrapper, index)
    try:
        wrapped = cls(env, **wrapper.kwargs)
    except (TypeError, ValueError, AssertionError, gym.error.Error) as err:
        raise ConfigError(f"env.wrappers[{index}] ({wrapper.name}): {_first_line(err)}") from None
    if not isinstance(wrapped, gym.Env):
        raise ConfigError(f"env.wrappers[{index}] ({wrapper.name}) did not return an env")
    return wrapped


def _make(cfg: EnvConfig, render_mode: str | None) -> gym.Env:
    _register_ours()
    try:
        return gym.make(cfg.id, **_kwargs(cfg, render_mode))
    except gym.error.Error as err:
        raise ConfigError(f"cannot make env '{cfg.id}': {_first_line(err)}") from None
    except ModuleNotFoundError as err:
        raise ConfigError(_missing_module(cfg.id, err)) from None
    except ImportError as err:
        raise ConfigError(f"env '{cfg.id}' cannot be imported: {_first_line(err)}") from None
    except (TypeError, ValueError) as err:
        raise ConfigError(f"env '{cfg.id}': bad env.kwargs: {_first_line(err)}") from None


def env_spec(cfg: EnvConfig) -> EnvSpec:
    """The spaces of the configured env (one env is made and closed).

    Raises:
        ConfigError: A space evorl cannot serve (one line naming a wrapper to use).
    """
    env = make_env(cfg)
    try:
        space, action_space = env.observation_space, env.action_space
        check_action_space(action_space, cfg.id)
        return EnvSpec(space, action_space, ObservationMap.for_env(cfg, space, action_space))
    finally:
        env.close()


def native_vector_env(cfg: EnvConfig, num_envs: int) -> VectorEnv | None:
    """``num_envs`` envs as one natively vectorised env, or None where there is none.

    The env gives, sub-env by sub-env, the trajectories of ``gym.make(cfg.id)`` for the same
    seeds and actions, with autoreset disabled, per-env seeds and ``reset_mask`` (the
    conventions of :mod:`evorl.envs.vector`).
    """
    _register_ours()
    from evorl.envs import EXACT_VECTOR_VERSIONS

    kwargs = _kwargs(cfg)
    try:
        if cfg.id in EXACT_VECTOR_VERSIONS:
            creator = gym.envs.registration.load_env_creator(EXACT_VECTOR_VERSIONS[cfg.id])
            limit = gym.spec(cfg.id).max_episode_steps
            env = creator(num_envs=num_envs, **({"max_episode_steps": limit} | kwargs))
        elif _registered(cfg.id).vector_entry_point is None:
            return None
        else:
            env = gym.make_vec(cfg.id, num_envs, vectorization_mode="vector_entry_point", **kwargs)
    except gym.error.Error as err:
        raise ConfigError(f"cannot make env '{cfg.id}': {_first_line(err)}") from None
    except (TypeError, ValueError) as err:
        raise ConfigError(f"env '{cfg.id}': bad env.kwargs: {_first_line(err)}") from None
    if env.metadata.get("autoreset_mode") != AutoresetMode.DISABLED:
        env.close()  # a vector env that resets itself cannot replay evorl's seeds
        return None
    return env


def _registered(env_id: str) -> gym.envs.registration.EnvSpec:
    """The registry entry of ``env_id`` (``module:Id`` imports the module first)."""
    module, _, name = env_id.rpartition(":")
    if module:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as err:
            raise ConfigError(_missing_module(env_id, err)) from None
    try:
        return gym.spec(name)
    except gym.error.Error as err:
        raise ConfigError(f"cannot make env '{env_id}': {_first_line(err)}") from None


def _missing_module(env_id: str, err: ModuleNotFoundError) -> str:
    extras = {"mujoco": "mujoco", "Box2D": "box2d", "box2d": "box2d", "popgym": "popgym"}
    name = err.name or getattr(err.__cause__, "name", None) or ""  # gymnasium re-raises
    root = name.split(".")[0]
    if root in extras:
        return f"env '{env_id}' needs {root}: pip install 'evorl-toolkit[{extras[root]}]'"
    return f"env '{env_id}': cannot import module '{name}'"


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]
