"""Natively vectorised ``MountainCar-v0`` and ``MountainCarContinuous-v0``, bit for bit.

**MountainCar-v0**: Gymnasium 1.4's ``gymnasium/envs/classic_control/mountain_car.py``
(``MountainCarEnv.step`` and ``reset``; Moore 1990, Sutton & Barto's version), float64 per
sub-env with action a ∈ {0, 1, 2}::

    v' = clip(v + (a − 1) · 0.001 + cos(3x) · (−0.0025), −0.07, 0.07)
    x' = clip(x + v', −1.2, 0.6);  v' = 0 if x' == −1.2 and v' < 0
    terminated = x' ≥ 0.5 and v' ≥ goal_velocity;  reward = −1;  obs = float32 [x', v']

**MountainCarContinuous-v0**: ``continuous_mountain_car.py`` (``Continuous_MountainCarEnv``)::

    f  = min(max(a, −1), 1)
    v' = v + f · 0.0015 − 0.0025 · cos(3x), then capped to ±0.07
    x' = x + v', then capped to [−1.2, 0.6];  v' = 0 if x' == −1.2 and v' < 0
    terminated = x' ≥ 0.45 and v' ≥ goal_velocity
    reward = 100 · terminated − a² · 0.1 (a unclipped);  state and obs = float32 [x', v']

Both reset to x ~ U(−0.6, −0.4) (options ``low``/``high``), v = 0, in float64; MountainCar-v0
truncates at 200 steps, the continuous one at 999.

The continuous env stores its state as float32 after the first step, and its arithmetic mixes
numpy float32 scalars with Python floats, which NEP 50 promotion keeps in float32 (a Python float
meeting a float32 is rounded to float32 first, comparisons included). Which operations are
float32 therefore depends, per sub-env and step, on whether it is its first step after reset
(float64 state), whether the force was clipped (a Python float, not the action's float32) and
whether a cap replaced the velocity or position by a Python float. :meth:`step` tracks that per
sub-env with boolean masks and evaluates each expression in the same precision, so the float32
rounding happens exactly where it happens in Gymnasium. ``cos`` is ``math.cos`` in Gymnasium;
numpy's equals it bit for bit (checked at import, see :mod:`evorl.envs.exact_math`).

Example:
    >>> import numpy as np
    >>> envs = MountainCarVectorEnv(num_envs=4)
    >>> obs, _ = envs.reset(seed=0)
    >>> obs, reward, terminated, truncated, _ = envs.step(np.full(4, 2))
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces
from gymnasium.envs.classic_control import utils as cc_utils
from gymnasium.vector.utils import batch_space

from .exact_math import clip, numpy_trig_equals_math, square_like_scalar
from .vector import NativeVectorEnv

MIN_POSITION = -1.2
MAX_POSITION = 0.6
MAX_SPEED = 0.07
GRAVITY = 0.0025
FORCE = 0.001  # MountainCar-v0
POWER = 0.0015  # MountainCarContinuous-v0
F32 = np.float32

_EXACT_TRIG = numpy_trig_equals_math()


def _cos(a: np.ndarray) -> np.ndarray:
    return np.cos(a) if _EXACT_TRIG else np.array([math.cos(v) for v in a])


class _MountainCarBase(NativeVectorEnv):
    """Spaces, reset and the frozen ``terminated`` flags shared by the two mountain cars."""

    metadata: ClassVar[dict[str, Any]] = {
        **NativeVectorEnv.metadata,
        "render_modes": [],
        "render_fps": 30,
    }

    def __init__(
        self,
        num_envs: int,
        max_episode_steps: int,
        goal_position: float,
        goal_velocity: float,
        render_mode: str | None,
    ) -> None:
        super().__init__(num_envs, 2, max_episode_steps, render_mode)
        self.goal_position = goal_position
        self.goal_velocity = goal_velocity
        low = np.array([MIN_POSITION, -MAX_SPEED], dtype=np.float32)
        high = np.array([MAX_POSITION, MAX_SPEED], dtype=np.float32)
        self.single_observation_space = spaces.Box(low, high, dtype=np.float32)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self._terminal = np.zeros(num_envs, dtype=np.bool_)
        self._first = np.zeros(num_envs, dtype=np.bool_)  # state still float64 from reset

    def _initial_state(
        self, index: int, rng: np.random.Generator, options: Mapping[str, Any]
    ) -> np.ndarray:
        low, high = cc_utils.maybe_parse_reset_bounds(dict(options), -0.6, -0.4)
        return np.array([rng.uniform(low=low, high=high), 0])

    def _after_reset(self, mask: np.ndarray) -> None:
        self._terminal[mask] = False
        self._first |= mask

    def _terminated(self, state: np.ndarray) -> np.ndarray:
        # Set by step: termination compares values of the step (not all of them are stored).
        return self._terminal.copy()

    def _observe(self) -> np.ndarray:
        return np.ascontiguousarray(self.state.T, dtype=np.float32)

    def _finish(self, new_state: np.ndarray, terminated: np.ndarray, reward: np.ndarray) -> tuple:
        """Commit a step whose candidate termination flags are ``terminated``."""
        self._terminal = np.where(self._done, self._terminal, terminated)
        terminated, truncated, active = self._commit(new_state)
        self._first &= ~active
        return self._observe(), np.where(active, reward, 0.0), terminated, truncated, {}


class MountainCarVectorEnv(_MountainCarBase):
    """``num_envs`` copies of ``MountainCar-v0`` in one numpy state, exact per-env trajectories.

    Args:
        num_envs: Number of sub-environments.
        max_episode_steps: Truncation limit (``MountainCar-v0``: 200).
        goal_velocity: As ``gym.make("MountainCar-v0", goal_velocity=...)``.
        render_mode: Only ``None`` (use a list of Gymnasium envs to render).
    """

    def __init__(
        self,
        num_envs: int = 1,
        max_episode_steps: int = 200,
        goal_velocity: float = 0,
        render_mode: str | None = None,
    ) -> None:
        super().__init__(num_envs, max_episode_steps, 0.5, goal_velocity, render_mode)
        self.single_action_space = spaces.Discrete(3)
        self.action_space = batch_space(self.single_action_space, num_envs)

    def step(
        self, actions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Advances every sub-env by one step.

        Args:
            actions: ``(num_envs,)`` ints in {0, 1, 2}: push left, no push, push right.

        Returns:
            ``(obs, rewards, terminated, truncated, {})``: obs ``(num_envs, 2)`` float32,
            rewards float64 (−1, 0 for frozen sub-envs).
        """
        actions = np.asarray(actions).reshape(self.num_envs)
        position, velocity = self.state
        # MountainCarEnv.step's expressions, all in float64.
        push = (actions - 1) * FORCE + _cos(3 * position) * (-GRAVITY)
        velocity = clip(velocity + push, -MAX_SPEED, MAX_SPEED)
        position = clip(position + velocity, MIN_POSITION, MAX_POSITION)
        velocity[(position == MIN_POSITION) & (velocity < 0)] = 0
        terminated = (position >= self.goal_position) & (velocity >= self.goal_velocity)
        reward = np.full(self.num_envs, -1.0)
        return self._finish(np.stack([position, velocity]), terminated, reward)


class MountainCarContinuousVectorEnv(_MountainCarBase):
    """``num_envs`` copies of ``MountainCarContinuous-v0``, exact per-env trajectories.

    Args:
        num_envs: Number of sub-environments.
        max_episode_steps: Truncation limit (``MountainCarContinuous-v0``: 999).
        goal_velocity: As ``gym.make("MountainCarContinuous-v0", goal_velocity=...)``.
        render_mode: Only ``None`` (use a list of Gymnasium envs to render).
    """

    def __init__(
        self,
        num_envs: int = 1,
        max_episode_steps: int = 999,
        goal_velocity: float = 0,
        render_mode: str | None = None,
    ) -> None:
        super().__init__(num_envs, max_episode_steps, 0.45, goal_velocity, render_mode)
        self.single_action_space = spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
        self.action_space = batch_space(self.single_action_space, num_envs)

    def step(
        self, actions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Advances every sub-env by one step.

        Args:
            actions: ``(num_envs, 1)`` forces, float32 (the space's dtype) or float64 (each
                gives Gymnasium's result for that dtype); clipped to [−1, 1] for the dynamics.

        Returns:
            ``(obs, rewards, terminated, truncated, {})``: obs ``(num_envs, 2)`` float32,
            rewards float64 (0 for frozen sub-envs).
        """
        a = np.asarray(actions)
        if a.dtype != np.float32:
            a = a.astype(np.float64)
        a = a.reshape(self.num_envs, -1)[:, 0]
        first = self._first
        position, velocity = self.state

        # force = min(max(a, -1.0), 1.0): a Python float where clipped, else a's numpy scalar.
        low, high = a < -1.0, a > 1.0
        high &= ~low
        clipped = low | high
        push = a * POWER  # in a's dtype
        clipped_push = np.where(low, -1.0 * POWER, 1.0 * POWER)

        # 3 * position: float32 once the state is float32 (every step after the first).
        three_x = np.where(first, 3 * position, (3 * position.astype(F32)).astype(np.float64))
        slope = 0.0025 * _cos(three_x)  # a Python float (math.cos)
        if a.dtype == np.float32:  # float32 - Python float: a float32 operation
            term = (push - slope.astype(F32)).astype(np.float64)
        else:
            term = push - slope
        term = np.where(clipped, clipped_push - slope, term)
        strong64 = ~clipped & (a.dtype == np.float64)  # term is a np.float64

        # velocity += term: float64 on the first step or with a np.float64 term, else float32.
        v32 = ~first & ~strong64
        velocity = np.where(v32, _f32_add(velocity, term), velocity + term)
        over = _greater(velocity, MAX_SPEED, v32)
        velocity = np.where(over, MAX_SPEED, velocity)
        under = _less(velocity, -MAX_SPEED, v32 & ~over)
        velocity = np.where(under, -MAX_SPEED, velocity)
        capped_v = over | under  # now a Python float
        v32 &= ~capped_v

        # position += velocity: float32 if position is float32 and velocity not a np.float64.
        p32 = ~first & ~(strong64 & ~capped_v)
        position = np.where(p32, _f32_add(position, velocity), position + velocity)
        over = _greater(position, MAX_POSITION, p32)
        position = np.where(over, MAX_POSITION, position)
        under = _less(position, MIN_POSITION, p32 & ~over)
        position = np.where(under, MIN_POSITION, position)
        p32 &= ~(over | under)
        at_wall = _equal(position, MIN_POSITION, p32) & (velocity < 0)
        velocity = np.where(at_wall, 0.0, velocity)
        v32 &= ~at_wall

        terminated = _greater_equal(position, self.goal_position, p32) & _greater_equal(
            velocity, self.goal_velocity, v32
        )
        reward = np.where(terminated, 100.0, 0.0) - square_like_scalar(a.astype(np.float64)) * 0.1
        new_state = np.stack([position, velocity]).astype(F32).astype(np.float64)
        return self._finish(new_state, terminated, reward)


def _f32_add(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``fl32(x + fl32(y))`` for float32-valued ``x``, as float64."""
    return (x.astype(F32) + y.astype(F32)).astype(np.float64)


def _compare(op: Any, x: np.ndarray, c: float, in_f32: np.ndarray) -> np.ndarray:
    """``op(x, c)`` in float32 where ``in_f32`` (a float32 scalar against a Python float), else
    in float64."""
    return np.where(in_f32, op(x.astype(F32), F32(c)), op(x, c))


def _greater(x: np.ndarray, c: float, in_f32: np.ndarray) -> np.ndarray:
    return _compare(np.greater, x, c, in_f32)


def _less(x: np.ndarray, c: float, in_f32: np.ndarray) -> np.ndarray:
    return _compare(np.less, x, c, in_f32)


def _equal(x: np.ndarray, c: float, in_f32: np.ndarray) -> np.ndarray:
    return _compare(np.equal, x, c, in_f32)


def _greater_equal(x: np.ndarray, c: float, in_f32: np.ndarray) -> np.ndarray:
    return _compare(np.greater_equal, x, c, in_f32)
