"""Natively vectorised ``Pendulum-v1`` that reproduces Gymnasium's single env bit for bit.

Gymnasium 1.4's ``gymnasium/envs/classic_control/pendulum.py`` (``PendulumEnv.step``, ``reset``,
``_get_obs`` and ``angle_normalize``), per sub-env, with θ the angle (0 upright), u the torque::

    u     = clip(action[0], -2, 2)                          (in the action's dtype)
    cost  = angle_normalize(θ)**2 + 0.1 * θ̇**2 + 0.001 * u**2   (θ, θ̇ before the step)
    θ̇'   = clip(θ̇ + (3g / (2l) * sin θ + 3 / (m l²) * u) * dt, -8, 8)
    θ'    = θ + θ̇' * dt                         (dt = 0.05, m = l = 1, g = 10 by default)
    obs   = float32 [cos θ', sin θ', θ̇'],  reward = −cost (float64)

with angle_normalize(θ) = ((θ + π) mod 2π) − π.

Never terminates; ``Pendulum-v1`` truncates at 200 steps. Start state θ ~ U(−π, π), θ̇ ~ U(−1, 1)
from the sub-env's own generator (options ``x_init``, ``y_init`` change the bounds, as in
Gymnasium). The squares take the bits of Gymnasium's numpy-scalar ``**`` (libm ``pow``, see
:mod:`evorl.envs.exact_math`); with float32 actions (the action space's dtype) the torque terms
``0.001 * u**2`` and ``3 * u`` are float32 operations, as they are in Gymnasium.

Example:
    >>> import numpy as np
    >>> envs = PendulumVectorEnv(num_envs=64)
    >>> obs, _ = envs.reset(seed=0)  # sub-env i seeded with i
    >>> obs, reward, terminated, truncated, _ = envs.step(np.zeros((64, 1), dtype=np.float32))
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces
from gymnasium.envs.classic_control import utils as cc_utils
from gymnasium.vector.utils import batch_space

from .exact_math import clip, square_like_scalar, trig_is_elementwise_exact
from .vector import NativeVectorEnv

MAX_SPEED = 8
MAX_TORQUE = 2.0
DT = 0.05
MASS = 1.0
LENGTH = 1.0
DEFAULT_X = np.pi
DEFAULT_Y = 1.0

_EXACT_TRIG = trig_is_elementwise_exact()


class PendulumVectorEnv(NativeVectorEnv):
    """``num_envs`` copies of ``Pendulum-v1`` in one numpy state, exact per-env trajectories.

    Conventions of :mod:`evorl.envs.vector`: autoreset disabled, per-env seeds, ``reset_mask``,
    finished (truncated) sub-envs frozen with reward 0.

    Args:
        num_envs: Number of sub-environments.
        max_episode_steps: Truncation limit (``Pendulum-v1``: 200).
        g: Gravity, as ``gym.make("Pendulum-v1", g=...)``.
        render_mode: Only ``None`` (use a list of Gymnasium envs to render).
    """

    metadata: ClassVar[dict[str, Any]] = {
        **NativeVectorEnv.metadata,
        "render_modes": [],
        "render_fps": 30,
    }

    def __init__(
        self,
        num_envs: int = 1,
        max_episode_steps: int = 200,
        g: float = 10.0,
        render_mode: str | None = None,
    ) -> None:
        super().__init__(num_envs, 2, max_episode_steps, render_mode)
        self.g = g
        # The same Python expressions as PendulumEnv.step, so the constants carry the same bits.
        self._gravity_term = 3 * g / (2 * LENGTH)
        self._torque_term = 3.0 / (MASS * LENGTH**2)
        high = np.array([1.0, 1.0, MAX_SPEED], dtype=np.float32)
        self.single_observation_space = spaces.Box(low=-high, high=high, dtype=np.float32)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.single_action_space = spaces.Box(
            low=-MAX_TORQUE, high=MAX_TORQUE, shape=(1,), dtype=np.float32
        )
        self.action_space = batch_space(self.single_action_space, num_envs)

    def _initial_state(
        self, index: int, rng: np.random.Generator, options: Mapping[str, Any]
    ) -> np.ndarray:
        x = cc_utils.verify_number_and_cast(options.get("x_init", DEFAULT_X))
        y = cc_utils.verify_number_and_cast(options.get("y_init", DEFAULT_Y))
        high = np.array([x, y])
        return rng.uniform(low=-high, high=high)

    def _terminated(self, state: np.ndarray) -> np.ndarray:
        return np.zeros(self.num_envs, dtype=np.bool_)

    def _observe(self) -> np.ndarray:
        theta, theta_dot = self.state
        obs = np.empty((self.num_envs, 3), dtype=np.float32)
        obs[:, 0] = _cos(theta)
        obs[:, 1] = _sin(theta)
        obs[:, 2] = theta_dot
        return obs

    def step(
        self, actions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Advances every sub-env by one 0.05 s step.

        Args:
            actions: ``(num_envs, 1)`` torques (float32, the space's dtype; float64 also gives
                Gymnasium's result for float64 actions), clipped to [-2, 2].

        Returns:
            ``(obs, rewards, terminated, truncated, {})``: obs ``(num_envs, 3)`` float32,
            rewards float64 (0 for frozen sub-envs).
        """
        u = np.asarray(actions)
        if u.dtype.kind != "f":
            u = u.astype(np.float64)
        u = clip(u.reshape(self.num_envs, -1)[:, 0], -MAX_TORQUE, MAX_TORQUE)
        theta, theta_dot = self.state
        normalized = ((theta + np.pi) % (2 * np.pi)) - np.pi
        squares = square_like_scalar(np.concatenate([normalized, theta_dot]))
        n = self.num_envs
        # Same expressions, same order as PendulumEnv.step; u's terms stay in u's dtype.
        costs = squares[:n] + 0.1 * squares[n:] + 0.001 * square_like_scalar(u)
        new_state = np.empty_like(self.state)
        new_theta_dot = new_state[1]
        np.add(self._gravity_term * _sin(theta), self._torque_term * u, out=new_theta_dot)
        new_theta_dot *= DT
        new_theta_dot += theta_dot
        clip(new_theta_dot, -MAX_SPEED, MAX_SPEED, out=new_theta_dot)
        np.add(theta, new_theta_dot * DT, out=new_state[0])
        terminated, truncated, active = self._commit(new_state)
        rewards = np.where(active, -costs, 0.0)
        return self._observe(), rewards, terminated, truncated, {}


def _cos(a: np.ndarray) -> np.ndarray:
    return np.cos(a) if _EXACT_TRIG else np.array([np.cos(v) for v in a])


def _sin(a: np.ndarray) -> np.ndarray:
    return np.sin(a) if _EXACT_TRIG else np.array([np.sin(v) for v in a])
