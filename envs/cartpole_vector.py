"""Natively vectorised ``CartPole-v1`` that reproduces Gymnasium's single env bit for bit.

Gymnasium's own ``CartPoleVectorEnv`` is fast but draws all start states from one shared RNG and
autoresets on the next step, so its trajectories differ from ``gym.make("CartPole-v1")``. This
class keeps one RNG per sub-env (see :mod:`evorl.envs.vector`), so sub-env ``i`` reset with seed
``s`` starts exactly where ``gym.make("CartPole-v1").reset(seed=s)`` starts, and then follows the
same float64 Euler integration of Barto, Sutton & Anderson (1983) in the same order of operations,
giving identical observations, rewards, ``terminated`` and ``truncated`` (TimeLimit 500) for the
same actions. The tests check this against Gymnasium over many seeds.

Bit-exactness rests on every numpy operation here being elementwise IEEE arithmetic, plus
``np.cos`` / ``np.sin`` giving the same bits for an array element as for the same value as a
scalar; :func:`~evorl.envs.exact_math.trig_is_elementwise_exact` checks that on the running
machine (it holds with numpy 2.x, whose float64 sin/cos call the C library elementwise), and the
class falls back to per-element scalar calls if it ever does not.

Example:
    >>> import numpy as np
    >>> envs = CartPoleVectorEnv(num_envs=64)
    >>> obs, _ = envs.reset(seed=0)  # sub-env i seeded with i
    >>> obs, reward, terminated, truncated, _ = envs.step(np.zeros(64, dtype=np.int64))
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.envs.classic_control import utils as cc_utils
from gymnasium.vector.utils import batch_space

from .exact_math import trig_is_elementwise_exact
from .render import draw_cart_poles
from .vector import NativeVectorEnv

# Constants of gymnasium.envs.classic_control.cartpole.CartPoleEnv, computed the same way so that
# derived values carry the same bits.
GRAVITY = 9.8
MASSCART = 1.0
MASSPOLE = 0.1
TOTAL_MASS = MASSPOLE + MASSCART
LENGTH = 0.5  # half the pole's length
POLEMASS_LENGTH = MASSPOLE * LENGTH
FORCE_MAG = 10.0
TAU = 0.02
THETA_THRESHOLD = 12 * 2 * math.pi / 360
X_THRESHOLD = 2.4


def _scalar_cos(a: np.ndarray) -> np.ndarray:
    return np.array([np.cos(v) for v in a])


def _scalar_sin(a: np.ndarray) -> np.ndarray:
    return np.array([np.sin(v) for v in a])


_EXACT = trig_is_elementwise_exact()
_COS = np.cos if _EXACT else _scalar_cos
_SIN = np.sin if _EXACT else _scalar_sin


class CartPoleVectorEnv(NativeVectorEnv):
    """``num_envs`` copies of ``CartPole-v1`` in one numpy state, exact per-env trajectories.

    Conventions (shared by all evorl native vector envs, see :mod:`evorl.envs.vector`):
    autoreset DISABLED; ``reset(seed=int | list | None, options={"reset_mask": mask})`` resets the
    masked sub-envs from their own seeds; stepping a finished sub-env keeps it frozen (reward 0,
    same obs, flags repeated). Rewards are 1.0 per step including the terminating one, as in
    ``CartPole-v1``; ``truncated`` becomes True at ``max_episode_steps`` steps (500).

    Args:
        num_envs: Number of sub-environments.
        max_episode_steps: Truncation limit (``CartPole-v1``: 500).
        observe: Indices of the state entries to observe (default all four: x, ẋ, θ, θ̇); e.g.
            ``(0, 2)`` gives the positions-only ``evorl/CartPoleNoVel-v0``.
        render_mode: ``None`` or ``"rgb_array"`` (one frame per sub-env, drawn with numpy).
    """

    def __init__(
        self,
        num_envs: int = 1,
        max_episode_steps: int = 500,
        observe: Sequence[int] | None = None,
        render_mode: str | None = None,
    ) -> None:
        super().__init__(num_envs, 4, max_episode_steps, render_mode)
        self._observe_rows = None if observe is None else np.asarray(observe, dtype=np.intp)
        high = np.array([X_THRESHOLD * 2, np.inf, THETA_THRESHOLD * 2, np.inf], dtype=np.float32)
        if self._observe_rows is not None:
            high = high[self._observe_rows]
        self.single_observation_space = spaces.Box(-high, high, dtype=np.float32)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.single_action_space = spaces.Discrete(2)
        self.action_space = batch_space(self.single_action_space, num_envs)

    def _initial_state(
        self, index: int, rng: np.random.Generator, options: Mapping[str, Any]
    ) -> np.ndarray:
        low, high = cc_utils.maybe_parse_reset_bounds(dict(options), -0.05, 0.05)
        return rng.uniform(low=low, high=high, size=(4,))

    def _terminated(self, state: np.ndarray) -> np.ndarray:
        # |v| > c is exactly (v < -c) | (v > c) (abs is exact), with two fewer numpy calls.
        return (np.abs(state[0]) > X_THRESHOLD) | (np.abs(state[2]) > THETA_THRESHOLD)

    def _observe(self) -> np.ndarray:
        state = self.state if self._observe_rows is None else self.state[self._observe_rows]
        return np.ascontiguousarray(state.T, dtype=np.float32)

    def step(
        self, actions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Advances every sub-env by one 0.02 s Euler step.

        Args:
            actions: ``(num_envs,)`` ints, 1 pushes right, anything else left (as CartPoleEnv's
                ``force_mag if action == 1 else -force_mag``).

        Returns:
            ``(obs, rewards, terminated, truncated, {})`` with obs ``(num_envs, obs_dim)``
            float32, rewards float64.
        """
        actions = np.asarray(actions)
        if actions.shape != (self.num_envs,):
            actions = actions.reshape(self.num_envs)
        x, x_dot, theta, theta_dot = self.state
        # Same expressions, same order as CartPoleEnv.step, so every element gets the same bits.
        force = np.where(actions == 1, FORCE_MAG, -FORCE_MAG)
        costheta = _COS(theta)
        sintheta = _SIN(theta)
        temp = (force + POLEMASS_LENGTH * np.square(theta_dot) * sintheta) / TOTAL_MASS
        thetaacc = (GRAVITY * sintheta - costheta * temp) / (
            LENGTH * (4.0 / 3.0 - MASSPOLE * np.square(costheta) / TOTAL_MASS)
        )
        xacc = temp - POLEMASS_LENGTH * thetaacc * costheta / TOTAL_MASS
        new_state = np.empty_like(self.state)
        np.add(x, TAU * x_dot, out=new_state[0])
        np.add(x_dot, TAU * xacc, out=new_state[1])
        np.add(theta, TAU * theta_dot, out=new_state[2])
        np.add(theta_dot, TAU * thetaacc, out=new_state[3])
        terminated, truncated, active = self._commit(new_state)
        return self._observe(), active.astype(np.float64), terminated, truncated, {}

    def render(self) -> tuple[np.ndarray, ...] | None:
        """One ``(400, 600, 3)`` uint8 frame per sub-env (``render_mode="rgb_array"``)."""
        if self.render_mode is None:
            return None
        return tuple(
            draw_cart_poles(self.state[0, i], [self.state[2, i]], [LENGTH], X_THRESHOLD)
            for i in range(self.num_envs)
        )
