"""Gymnasium environments provided by evorl (installed as ``evorl.envs``).

Importing this package registers every env under the ``evorl/`` namespace (lazily, by string entry
points, so nothing heavy loads until an env is made):

================================  =====================================================
``evorl/SinglePole-v0``           one pole, observes x, ẋ, θ1, θ̇1
``evorl/SinglePoleNV-v0``         one pole, observes x, θ1 (non-Markov)
``evorl/DoublePole-v0``           two poles, observes all six state variables
``evorl/DoublePoleNV-v0``         two poles, observes x, θ1, θ2 (non-Markov)
``evorl/CartPoleNoVel-v0``        Gymnasium's CartPole-v1 observing x, θ only
``evorl/TMaze-v0``                Bakker's T-maze (kwarg ``corridor_length``)
``evorl/Catch-v0``                Mnih et al.'s 24 × 24 Catch
``evorl/TakeCover-v0``            dodge aimed fireballs, 64 × 64 × 3 pixels (World Models)
================================  =====================================================

The pole envs and CartPoleNoVel have natively vectorised versions (``vector_entry_point``, used by
``gymnasium.make_vec``), and :data:`EXACT_VECTOR_VERSIONS` names evorl's exact vectorised versions
of Gymnasium's classic control (``CartPole-v1``, ``Pendulum-v1``, ``Acrobot-v1``,
``MountainCar-v0``, ``MountainCarContinuous-v0``); evorl's env pools find them
(:func:`evorl.env_factory.native_vector_env`). They all share the conventions of
:mod:`evorl.envs.vector`.

Example:
    >>> import gymnasium as gym
    >>> import evorl.envs
    >>> env = gym.make("evorl/DoublePoleNV-v0")
    >>> envs = gym.make_vec("evorl/DoublePoleNV-v0", 64, vectorization_mode="vector_entry_point")
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
from gymnasium.vector import VectorEnv

_POLE = "evorl.envs.pole:PoleBalancingEnv"
_POLE_VEC = "evorl.envs.pole_vector:PoleBalancingVectorEnv"

_SPECS: dict[str, dict[str, Any]] = {
    "evorl/SinglePole-v0": {
        "entry_point": _POLE,
        "vector_entry_point": _POLE_VEC,
        "max_episode_steps": 1000,
        "kwargs": {"num_poles": 1, "markov": True},
    },
    "evorl/SinglePoleNV-v0": {
        "entry_point": _POLE,
        "vector_entry_point": _POLE_VEC,
        "max_episode_steps": 1000,
        "kwargs": {"num_poles": 1, "markov": False},
    },
    "evorl/DoublePole-v0": {
        "entry_point": _POLE,
        "vector_entry_point": _POLE_VEC,
        "max_episode_steps": 1000,
        "kwargs": {"num_poles": 2, "markov": True},
    },
    "evorl/DoublePoleNV-v0": {
        "entry_point": _POLE,
        "vector_entry_point": _POLE_VEC,
        "max_episode_steps": 1000,
        "kwargs": {"num_poles": 2, "markov": False},
    },
    "evorl/CartPoleNoVel-v0": {
        "entry_point": "evorl.envs.wrappers:make_cartpole_novel",
        "vector_entry_point": "evorl.envs:_make_cartpolenovel_vec",
        "max_episode_steps": 500,
        "reward_threshold": 475.0,
        "kwargs": {},
    },
    "evorl/TMaze-v0": {
        "entry_point": "evorl.envs.tmaze:TMazeEnv",
        "kwargs": {"corridor_length": 10},
    },
    "evorl/Catch-v0": {"entry_point": "evorl.envs.catch:CatchEnv", "kwargs": {}},
    "evorl/TakeCover-v0": {
        "entry_point": "evorl.envs.takecover:TakeCoverEnv",
        "max_episode_steps": 1000,
        "kwargs": {},
    },
}

EXACT_VECTOR_VERSIONS: dict[str, str] = {
    "CartPole-v1": "evorl.envs.cartpole_vector:CartPoleVectorEnv",
    "Pendulum-v1": "evorl.envs.pendulum_vector:PendulumVectorEnv",
    "Acrobot-v1": "evorl.envs.acrobot_vector:AcrobotVectorEnv",
    "MountainCar-v0": "evorl.envs.mountain_car_vector:MountainCarVectorEnv",
    "MountainCarContinuous-v0": "evorl.envs.mountain_car_vector:MountainCarContinuousVectorEnv",
}
"""evorl's natively vectorised versions of Gymnasium's own envs (entry points by id): exact,
sub-env by sub-env, where Gymnasium's registered vector versions are not (they share one
generator and reset themselves). Our own envs name theirs as ``vector_entry_point``."""

ENV_IDS: list[str] = list(_SPECS)
"""Every id registered by :func:`register_envs` (drives the registry tests)."""


def register_envs() -> None:
    """Registers the ``evorl/`` envs with Gymnasium; safe to call any number of times."""
    for env_id, spec in _SPECS.items():
        if env_id in gym.registry:
            continue
        gym.register(
            id=env_id,
            entry_point=spec["entry_point"],
            vector_entry_point=spec.get("vector_entry_point"),
            max_episode_steps=spec.get("max_episode_steps"),
            reward_threshold=spec.get("reward_threshold"),
            kwargs=dict(spec["kwargs"]),
        )


def _make_cartpolenovel_vec(num_envs: int = 1, **kwargs: Any) -> VectorEnv:
    """Vector entry point of ``evorl/CartPoleNoVel-v0``: CartPole-v1 vectorised, positions only."""
    from .cartpole_vector import CartPoleVectorEnv

    return CartPoleVectorEnv(num_envs=num_envs, observe=(0, 2), **kwargs)


_LAZY = {
    "AcrobotVectorEnv": "acrobot_vector",
    "CartPoleVectorEnv": "cartpole_vector",
    "CatchEnv": "catch",
    "DelayObservation": "wrappers",
    "MaskObservation": "wrappers",
    "MountainCarContinuousVectorEnv": "mountain_car_vector",
    "MountainCarVectorEnv": "mountain_car_vector",
    "ObservationNoise": "wrappers",
    "PendulumVectorEnv": "pendulum_vector",
    "PoleBalancingEnv": "pole",
    "PoleBalancingVectorEnv": "pole_vector",
    "TMazeEnv": "tmaze",
    "TakeCoverEnv": "takecover",
    "generalization_score": "pole_vector",
}


def __getattr__(name: str) -> Any:
    """Lazy access to the public classes (``evorl.envs.TMazeEnv``) without importing them all."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


register_envs()

__all__ = [
    "ENV_IDS",
    "EXACT_VECTOR_VERSIONS",
    "AcrobotVectorEnv",
    "CartPoleVectorEnv",
    "CatchEnv",
    "DelayObservation",
    "MaskObservation",
    "MountainCarContinuousVectorEnv",
    "MountainCarVectorEnv",
    "ObservationNoise",
    "PendulumVectorEnv",
    "PoleBalancingEnv",
    "PoleBalancingVectorEnv",
    "TMazeEnv",
    "TakeCoverEnv",
    "generalization_score",
    "register_envs",
]
