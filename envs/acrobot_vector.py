"""Natively vectorised ``Acrobot-v1`` that reproduces Gymnasium's single env bit for bit.

Gymnasium 1.4's ``gymnasium/envs/classic_control/acrobot.py`` (``AcrobotEnv.step``, ``_dsdt``,
``_terminal``, ``_get_ob``, ``reset`` and the module functions ``rk4``, ``wrap``, ``bound``), per
sub-env, with state s = (θ1, θ2, θ̇1, θ̇2) and torque a ∈ {−1, 0, +1} (action 0, 1, 2)::

    s' = RK4 step of ds/dt over dt = 0.2 s (one step: k1..k4, s + dt/6 (k1 + 2 k2 + 2 k3 + k4))
    θ1', θ2' wrapped into [−π, π];  θ̇1' bounded to ±4π, θ̇2' to ±9π
    terminated = −cos θ1' − cos(θ2' + θ1') > 1;  reward = −1 (0 on the terminating step)
    obs = float32 [cos θ1, sin θ1, cos θ2, sin θ2, θ̇1, θ̇2]

with ``_dsdt``'s equations of Sutton & Barto's book (``book_or_nips="book"``, Gymnasium's
default; ``"nips"`` drops the θ̇1² term of θ̈2, as Sutton 1996). Every expression keeps
Gymnasium's operand order; the squares take the bits of its numpy-scalar ``**`` (libm ``pow``,
see :mod:`evorl.envs.exact_math`). The start state is U(−0.1, 0.1)⁴ rounded to float32, as in
``AcrobotEnv.reset``; its observation is therefore computed with float32 ``cos``/``sin``, and the
first step starts from those float32 values. ``Acrobot-v1`` truncates at 500 steps.

Example:
    >>> import numpy as np
    >>> envs = AcrobotVectorEnv(num_envs=8)
    >>> obs, _ = envs.reset(seed=0)
    >>> obs, reward, terminated, truncated, _ = envs.step(np.full(8, 2))
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces
from gymnasium.envs.classic_control import utils as cc_utils
from gymnasium.vector.utils import batch_space
from numpy import cos, pi, sin

from .exact_math import (
    float32_trig_is_elementwise_exact,
    square_like_scalar,
    trig_is_elementwise_exact,
)
from .vector import NativeVectorEnv

DT = 0.2
LINK_LENGTH_1 = 1.0
LINK_MASS_1 = 1.0
LINK_MASS_2 = 1.0
LINK_COM_POS_1 = 0.5
LINK_COM_POS_2 = 0.5
LINK_MOI = 1.0
MAX_VEL_1 = 4 * pi
MAX_VEL_2 = 9 * pi
AVAIL_TORQUE = np.array([-1.0, 0.0, +1])

_EXACT_TRIG = trig_is_elementwise_exact() and float32_trig_is_elementwise_exact()


def dsdt(s: np.ndarray, a: np.ndarray, book: bool = True) -> tuple[np.ndarray, ...]:
    """``AcrobotEnv._dsdt`` for rows ``s = (θ1, θ2, θ̇1, θ̇2)`` (each ``(n,)``), torques ``a``.

    Returns:
        ``(θ̇1, θ̇2, θ̈1, θ̈2)``.
    """
    m1, m2, l1 = LINK_MASS_1, LINK_MASS_2, LINK_LENGTH_1
    lc1, lc2, i1, i2 = LINK_COM_POS_1, LINK_COM_POS_2, LINK_MOI, LINK_MOI
    g = 9.8
    theta1, theta2, dtheta1, dtheta2 = s
    cos2, sin2 = _cos(theta2), _sin(theta2)
    sq1, sq2 = np.split(square_like_scalar(np.concatenate([dtheta1, dtheta2])), 2)
    d1 = m1 * lc1**2 + m2 * (l1**2 + lc2**2 + 2 * l1 * lc2 * cos2) + i1 + i2
    d2 = m2 * (lc2**2 + l1 * lc2 * cos2) + i2
    phi2 = m2 * lc2 * g * _cos(theta1 + theta2 - pi / 2.0)
    phi1 = (
        -m2 * l1 * lc2 * sq2 * sin2
        - 2 * m2 * l1 * lc2 * dtheta2 * dtheta1 * sin2
        + (m1 * lc1 + m2 * l1) * g * _cos(theta1 - pi / 2)
        + phi2
    )
    d2_sq_over_d1 = square_like_scalar(d2) / d1
    if book:
        ddtheta2 = (a + d2 / d1 * phi1 - m2 * l1 * lc2 * sq1 * sin2 - phi2) / (
            m2 * lc2**2 + i2 - d2_sq_over_d1
        )
    else:
        ddtheta2 = (a + d2 / d1 * phi1 - phi2) / (m2 * lc2**2 + i2 - d2_sq_over_d1)
    ddtheta1 = -(d2 * ddtheta2 + phi1) / d1
    return dtheta1, dtheta2, ddtheta1, ddtheta2


def rk4_step(s: np.ndarray, a: np.ndarray, book: bool = True) -> np.ndarray:
    """One step of Gymnasium's ``rk4(derivs, s_augmented, [0, dt])`` for ``s`` of shape (4, n)."""
    dt = DT - 0
    dt2 = dt / 2.0
    k1 = np.array(dsdt(s, a, book))
    k2 = np.array(dsdt(s + dt2 * k1, a, book))
    k3 = np.array(dsdt(s + dt2 * k2, a, book))
    k4 = np.array(dsdt(s + dt * k3, a, book))
    return s + dt / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)


def wrap(x: np.ndarray, m: float, big_m: float) -> np.ndarray:
    """Gymnasium's ``wrap`` elementwise: subtract / add ``big_m - m`` until in range (in place)."""
    diff = big_m - m
    while True:
        above = x > big_m
        if not above.any():
            break
        x[above] -= diff
    while True:
        below = x < m
        if not below.any():
            break
        x[below] += diff
    return x


def bound(x: np.ndarray, m: float, big_m: float) -> np.ndarray:
    """Gymnasium's ``bound``, ``min(max(x, m), big_m)`` with Python's ``max``/``min`` rules."""
    x = np.where(m > x, m, x)
    return np.where(big_m < x, big_m, x)


class AcrobotVectorEnv(NativeVectorEnv):
    """``num_envs`` copies of ``Acrobot-v1`` in one numpy state, exact per-env trajectories.

    Conventions of :mod:`evorl.envs.vector`: autoreset disabled, per-env seeds, ``reset_mask``,
    finished sub-envs frozen with reward 0.

    Args:
        num_envs: Number of sub-environments.
        max_episode_steps: Truncation limit (``Acrobot-v1``: 500).
        book_or_nips: ``"book"`` (Gymnasium's default) or ``"nips"`` dynamics.
        render_mode: Only ``None`` (use a list of Gymnasium envs to render).
    """

    metadata: ClassVar[dict[str, Any]] = {
        **NativeVectorEnv.metadata,
        "render_modes": [],
        "render_fps": 15,
    }

    def __init__(
        self,
        num_envs: int = 1,
        max_episode_steps: int = 500,
        book_or_nips: str = "book",
        render_mode: str | None = None,
    ) -> None:
        if book_or_nips not in ("book", "nips"):
            raise ValueError(f"book_or_nips must be 'book' or 'nips', got {book_or_nips!r}")
        super().__init__(num_envs, 4, max_episode_steps, render_mode)
        self.book_or_nips = book_or_nips
        high = np.array([1.0, 1.0, 1.0, 1.0, MAX_VEL_1, MAX_VEL_2], dtype=np.float32)
        self.single_observation_space = spaces.Box(low=-high, high=high, dtype=np.float32)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.single_action_space = spaces.Discrete(3)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self._fresh = np.zeros(num_envs, dtype=np.bool_)  # state still float32 from reset

    def _initial_state(
        self, index: int, rng: np.random.Generator, options: Mapping[str, Any]
    ) -> np.ndarray:
        low, high = cc_utils.maybe_parse_reset_bounds(dict(options), -0.1, 0.1)
        return rng.uniform(low=low, high=high, size=(4,)).astype(np.float32)

    def _after_reset(self, mask: np.ndarray) -> None:
        self._fresh |= mask

    def _terminated(self, state: np.ndarray) -> np.ndarray:
        return -_cos(state[0]) - _cos(state[1] + state[0]) > 1.0

    def _observe(self) -> np.ndarray:
        obs = np.empty((self.num_envs, 6), dtype=np.float32)
        theta1, theta2 = self.state[0], self.state[1]
        obs[:, 0], obs[:, 1] = _cos(theta1), _sin(theta1)
        obs[:, 2], obs[:, 3] = _cos(theta2), _sin(theta2)
        obs[:, 4:] = self.state[2:].T
        if self._fresh.any():  # AcrobotEnv.reset's state is float32: so are cos and sin
            fresh = np.flatnonzero(self._fresh)
            angles = self.state[:2, fresh].astype(np.float32)
            obs[fresh, 0], obs[fresh, 1] = _cos(angles[0]), _sin(angles[0])
            obs[fresh, 2], obs[fresh, 3] = _cos(angles[1]), _sin(angles[1])
        return obs

    def step(
        self, actions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Advances every sub-env by one 0.2 s RK4 step.

        Args:
            actions: ``(num_envs,)`` ints in {0, 1, 2}: torque −1, 0, +1 (indexing
                ``AVAIL_TORQUE`` as Gymnasium does).

        Returns:
            ``(obs, rewards, terminated, truncated, {})``: obs ``(num_envs, 6)`` float32,
            rewards float64 (−1 per step, 0 on the terminating step and for frozen sub-envs).
        """
        torque = AVAIL_TORQUE[np.asarray(actions).reshape(self.num_envs)]
        new_state = rk4_step(self.state, torque, self.book_or_nips == "book")
        wrap(new_state[0], -pi, pi)
        wrap(new_state[1], -pi, pi)
        new_state[2] = bound(new_state[2], -MAX_VEL_1, MAX_VEL_1)
        new_state[3] = bound(new_state[3], -MAX_VEL_2, MAX_VEL_2)
        terminated, truncated, active = self._commit(new_state)
        self._fresh &= ~active
        rewards = np.where(active, np.where(terminated, 0.0, -1.0), 0.0)
        return self._observe(), rewards, terminated, truncated, {}


def _cos(a: np.ndarray) -> np.ndarray:
    return cos(a) if _EXACT_TRIG else np.array([cos(v) for v in a], dtype=a.dtype)


def _sin(a: np.ndarray) -> np.ndarray:
    return sin(a) if _EXACT_TRIG else np.array([sin(v) for v in a], dtype=a.dtype)
