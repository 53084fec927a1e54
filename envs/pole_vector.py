"""Natively vectorised pole balancing, and the generalisation test of Gruau et al. (1996).

:class:`PoleBalancingVectorEnv` advances many cart-pole systems held in one ``(state_dim,
num_envs)`` float64 array with the same generic physics code as the single
:class:`~evorl.envs.pole.PoleBalancingEnv` (see :mod:`evorl.envs.pole`), so each sub-env follows
exactly the single env's trajectory. It follows the conventions of :mod:`evorl.envs.vector`:
autoreset disabled, per-env seeds, ``reset_mask``, finished sub-envs frozen.

:func:`generalization_score` runs the 625-start-state test of Gruau, Whitley & Pyeatt (1996) used
by Gomez, Schmidhuber & Miikkulainen (JMLR 2008) and Stanley & Miikkulainen's NEAT (2002): from
every combination of 5 values of x, ẋ, θ1, θ̇1 (at 0.05, 0.25, 0.5, 0.75 and 0.95 of the ranges
±2.16 m, ±1.35 m/s, ±3.6°, ±8.6°/s; the short pole at rest and upright), count the starts from
which the controller balances for 1,000 steps. All 625 run as one batch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.vector.utils import batch_space

from . import pole
from .render import draw_cart_poles
from .vector import NativeVectorEnv

_GRID = np.array([0.05, 0.25, 0.5, 0.75, 0.95])
_SCALAR_MAX = 4
"""Up to this many running sub-envs are stepped one by one with Python floats
(:func:`~evorl.envs.pole.advance_float`), which beats ~300 numpy calls on tiny arrays."""

_ORDER = {1: np.array([0, 1, 2, 3]), 2: np.array([0, 1, 2, 4, 3, 5])}
"""Row order of the work layout ``[x, ẋ, θ1(, θ2), θ̇1(, θ̇2)]``: angles, then angular velocities,
each block contiguous. numpy's per-call overhead is lowest on 1-D contiguous operands (a 2-D or
broadcast operand costs about four times more), so the physics runs on one flat vector; the
permutation for two poles is its own inverse."""

_CONSTANTS: dict[tuple[int, int], tuple[np.ndarray, ...]] = {}


def _pole_constants(num_poles: int, n: int) -> tuple[np.ndarray, ...]:
    """``(m·l, 0.75·m, m, l)`` per pole, each repeated over ``n`` envs (pole-major), cached."""
    key = (num_poles, n)
    if key not in _CONSTANTS:
        poles = pole.POLES[:num_poles]
        columns = (pole._ML[:num_poles], [0.75 * m for m, _ in poles], [m for m, _ in poles])
        _CONSTANTS[key] = (
            *(np.repeat(np.array(c, dtype=np.float64), n) for c in columns),
            np.repeat(np.array([h for _, h in poles]), n),
        )
    return _CONSTANTS[key]


def _deriv_flat(y: np.ndarray, force: np.ndarray, num_poles: int, n: int) -> np.ndarray:
    """:func:`evorl.envs.pole.derivatives` in the flat work layout (see :data:`_ORDER`).

    Every element sees the scalar code's operations in the scalar code's order (a product or sum
    of two operands is exact whichever operand comes first), so the result is bit-identical.
    """
    ml, k075m, mass, half = _pole_constants(num_poles, n)
    split = (2 + num_poles) * n
    theta, omega = y[2 * n : split], y[split:]
    c = np.cos(theta)
    s = np.sin(theta)
    g = pole.GRAVITY * s
    tmp = pole.MUP * omega
    tmp /= ml
    fi = ml * omega
    fi *= omega
    fi *= s
    q = k075m * c
    q *= tmp + g
    fi += q
    mi = 0.75 * c
    mi *= c
    np.subtract(1, mi, out=mi)
    mi *= mass
    total_force = pole.MUC * np.sign(y[n : 2 * n])
    np.subtract(force, total_force, out=total_force)
    total_force += fi[:n]
    total_mass = mi[:n]
    if num_poles == 2:
        total_force += fi[n:]
        total_mass = total_mass + mi[n:]
    total_mass += pole.MASSCART
    out = np.empty_like(y)
    out[:n] = y[n : 2 * n]
    x_acc = out[n : 2 * n]
    np.divide(total_force, total_mass, out=x_acc)
    out[2 * n : split] = omega
    acc = out[split:]
    for p in range(num_poles):
        np.multiply(x_acc, c[p * n : (p + 1) * n], out=acc[p * n : (p + 1) * n])
    acc += g
    acc += tmp
    acc *= -0.75
    acc /= half
    return out


def advance_array(y: np.ndarray, force: np.ndarray, num_poles: int) -> np.ndarray:
    """:func:`evorl.envs.pole.advance` on a ``(state_dim, n)`` float64 array, bit for bit.

    About 80 numpy calls on 1-D contiguous vectors per RK4 step (the generic code makes ~220,
    many of them on strided rows).

    Args:
        y: States, one column per env.
        force: ``(n,)`` forces (N).
        num_poles: 1 or 2.

    Returns:
        A new ``(state_dim, n)`` array.
    """
    n = y.shape[1]
    order = _ORDER[num_poles]
    x = y[order].reshape(-1)
    force = np.ascontiguousarray(force, dtype=np.float64)
    hh, h6, tau = pole._HH, pole._H6, pole.TAU
    for _ in range(pole.SUBSTEPS):
        d1 = _deriv_flat(x, force, num_poles, n)
        d2 = _deriv_flat(x + hh * d1, force, num_poles, n)
        d3 = _deriv_flat(x + hh * d2, force, num_poles, n)
        d4 = _deriv_flat(x + tau * d3, force, num_poles, n)
        d3 += d2
        d3 *= 2.0
        d1 += d4
        d1 += d3
        d1 *= h6
        x = x + d1
    return x.reshape(len(order), n)[order]


def generalization_states(num_poles: int = 2) -> np.ndarray:
    """The 625 start states of the generalisation test, in NEAT's loop order (x outermost).

    Values as in NEAT/ESP's code: ``v·4.32 − 2.16`` m, ``v·2.70 − 1.35`` m/s,
    ``v·0.12566304 − 0.06283152`` rad (±3.6°), ``v·0.30019504 − 0.15009752`` rad/s (±8.6°/s).

    Returns:
        ``(625, 2 + 2·num_poles)`` float64; the short pole (if any) starts at 0 with 0 velocity.
    """
    x = _GRID * 4.32 - 2.16
    x_dot = _GRID * 2.70 - 1.35
    theta = _GRID * 0.12566304 - 0.06283152
    theta_dot = _GRID * 0.30019504 - 0.15009752
    grid = np.stack(np.meshgrid(x, x_dot, theta, theta_dot, indexing="ij"), axis=-1)
    states = np.zeros((625, 2 + 2 * num_poles))
    states[:, :4] = grid.reshape(625, 4)
    return states


class PoleBalancingVectorEnv(NativeVectorEnv):
    """``num_envs`` pole-balancing systems stepped together; same trajectories as the single env.

    Args:
        num_envs: Number of sub-environments.
        num_poles: 1 or 2.
        markov: Observe velocities too (True) or positions only (False).
        max_episode_steps: Truncation limit, as the ``TimeLimit`` of the registered single envs
            (1,000; 100,000 for the "solved" test).
        max_steps: Optional intrinsic limit, as in the single env; the episode is truncated at
            the smaller of the two.
        damping_fitness: Per-step rewards that sum to Gruau's damping fitness (see
            :mod:`evorl.envs.pole`).
        initial_state: Start state of every sub-env (default ``[0, 0, 4°, 0(, 0, 0)]``).
            ``reset(options={"state": s})`` overrides it for the reset sub-envs: ``s`` of shape
            ``(state_dim,)`` for all of them or ``(num_envs, state_dim)``, one row per sub-env.
        scale_obs: Divide observations by ESP/NEAT's scales (see :mod:`evorl.envs.pole`).
        render_mode: ``None`` or ``"rgb_array"`` (a tuple of one frame per sub-env).

    Example:
        >>> envs = PoleBalancingVectorEnv(num_envs=128, num_poles=2, markov=False)
        >>> obs, _ = envs.reset(seed=0)
        >>> obs, reward, terminated, truncated, _ = envs.step(np.zeros((128, 1), np.float32))
    """

    def __init__(
        self,
        num_envs: int = 1,
        num_poles: int = 2,
        markov: bool = True,
        max_episode_steps: int = 1000,
        max_steps: int | None = None,
        damping_fitness: bool = False,
        initial_state: Sequence[float] | None = None,
        scale_obs: bool = True,
        render_mode: str | None = None,
    ) -> None:
        if num_poles not in (1, 2):
            raise ValueError(f"num_poles must be 1 or 2, got {num_poles}")
        limit = max_episode_steps if max_steps is None else min(max_steps, max_episode_steps)
        super().__init__(num_envs, 2 + 2 * num_poles, limit, render_mode)
        self.num_poles = num_poles
        self.markov = markov
        self.damping_fitness = damping_fitness
        self.initial_state = (
            pole.default_state(num_poles)
            if initial_state is None
            else pole.check_state(initial_state, num_poles)
        )
        rows = pole.observed_rows(num_poles, markov)
        self._rows = np.asarray(rows)
        self._scales = np.array([pole.OBS_SCALE[r] if scale_obs else 1.0 for r in rows])[:, None]
        self.single_observation_space = pole.observation_space(num_poles, markov)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.single_action_space = spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self._balanced = np.zeros(num_envs, dtype=np.int64)
        self._window = np.zeros((pole.DAMPING_WINDOW, num_envs), dtype=np.int64)
        self._window_sum = np.zeros(num_envs, dtype=np.int64)
        self._fitness = np.zeros(num_envs)
        self._columns = np.arange(num_envs)

    @property
    def balanced_steps(self) -> np.ndarray:
        """Steps each sub-env has balanced since its reset (a copy)."""
        return self._balanced.copy()

    def _initial_state(
        self, index: int, rng: np.random.Generator, options: Mapping[str, Any]
    ) -> np.ndarray:
        state = options.get("state")
        if state is None:
            return self.initial_state
        state = np.asarray(state, dtype=np.float64)
        if state.ndim == 2:
            state = state[index]
        return pole.check_state(state, self.num_poles)

    def _after_reset(self, mask: np.ndarray) -> None:
        self._balanced[mask] = 0
        self._window[:, mask] = 0
        self._window_sum[mask] = 0
        self._fitness[mask] = 0.0

    def _terminated(self, state: np.ndarray) -> np.ndarray:
        within = np.abs(state[0]) <= pole.TRACK_LIMIT  # "not within" also fails NaN states
        for k in range(self.num_poles):
            within &= np.abs(state[2 + 2 * k]) <= pole.FAILURE_ANGLE
        return ~within

    def _observe(self) -> np.ndarray:
        return np.ascontiguousarray((self.state[self._rows] / self._scales).T, dtype=np.float32)

    def step(
        self, actions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Applies ``10 N · clip(action, -1, 1)`` to each cart for 0.02 s.

        Args:
            actions: ``(num_envs, 1)`` or ``(num_envs,)`` floats in [-1, 1].

        Returns:
            ``(obs, rewards, terminated, truncated, {})``; obs ``(num_envs, obs_dim)`` float32.
        """
        a = np.asarray(actions, dtype=np.float64).reshape(self.num_envs)
        force = np.clip(a, -1.0, 1.0) * pole.FORCE_MAG
        terminated, truncated, active = self._commit(self._advance(force))
        balanced = active & ~terminated
        self._balanced += balanced
        if not self.damping_fitness:
            return self._observe(), balanced.astype(np.float64), terminated, truncated, {}
        return self._observe(), self._damping_rewards(balanced), terminated, truncated, {}

    def _advance(self, force: np.ndarray) -> np.ndarray:
        """Next state of the running sub-envs (frozen ones are copied back by ``_commit``).

        Only the running columns are computed: one by one with Python floats when there are at
        most :data:`_SCALAR_MAX` of them (a long "solved" test of a few controllers, the tail
        of a generation), else with :func:`advance_array`. Both are bit-identical to the
        single env, so which path ran never changes a trajectory.
        """
        state, k = self.state, self.num_poles
        cols = np.flatnonzero(~self._done) if self._any_done else None
        count = self.num_envs if cols is None else cols.size
        if count > _SCALAR_MAX:
            if cols is None:
                return advance_array(state, force, k)
            new = state.copy()
            new[:, cols] = advance_array(state[:, cols], force[cols], k)
            return new
        new = state.copy()
        for i in range(count) if cols is None else cols.tolist():
            new[:, i] = pole.advance_float(state[:, i].tolist(), float(force[i]), k)
        return new

    def _damping_rewards(self, balanced: np.ndarray) -> np.ndarray:
        """Records the balanced sub-envs' jiggle and returns ``F(t) - F(t-1)`` (0 elsewhere)."""
        cols = self._columns[balanced]
        s = self.state[:4, cols]  # only balanced (finite) states
        units = pole.jiggle_units(np.abs(s[0]) + np.abs(s[1]) + np.abs(s[2]) + np.abs(s[3]))
        slot = (self._balanced[cols] - 1) % pole.DAMPING_WINDOW
        self._window_sum[cols] += units - self._window[slot, cols]
        self._window[slot, cols] = units
        fitness = pole.damping_fitness(self._balanced, self._window_sum)
        rewards = np.where(balanced, fitness - self._fitness, 0.0)
        self._fitness = np.where(balanced, fitness, self._fitness)
        return rewards

    def render(self) -> tuple[np.ndarray, ...] | None:
        """One ``(400, 600, 3)`` uint8 frame per sub-env."""
        if self.render_mode is None:
            return None
        halves = [pole.POLES[k][1] for k in range(self.num_poles)]
        return tuple(
            draw_cart_poles(
                col[0], [col[2 + 2 * k] for k in range(self.num_poles)], halves, pole.TRACK_LIMIT
            )
            for col in self.state.T
        )


PolicyFn = Callable[[np.ndarray, Any], tuple[np.ndarray, Any]]
"""``policy_fn(obs_batch, state) -> (actions, state)``; see :func:`generalization_score`."""


def generalization_score(
    policy_fn: PolicyFn,
    initial_state: Any = None,
    *,
    num_poles: int = 2,
    markov: bool = False,
    max_steps: int = 1000,
    scale_obs: bool = True,
) -> int:
    """Counts the generalisation start states from which ``policy_fn`` balances ``max_steps``.

    The standard test (Gruau et al. 1996; Gomez et al. 2008; NEAT) is on the non-Markov double
    pole with 1,000 steps; a controller "generalises" at a score of at least 200 of 625.

    Args:
        policy_fn: Called once per step for the whole batch as
            ``policy_fn(obs, state) -> (actions, state)`` with ``obs`` of shape ``(625, obs_dim)``
            float32 and ``actions`` of shape ``(625,)`` or ``(625, 1)`` in [-1, 1]. ``state`` is
            the controller's recurrent state (batch of 625), passed back unchanged by memoryless
            policies: ``lambda obs, s: (f(obs), s)``.
        initial_state: The recurrent state at the start (e.g. ``controller.initial_state(625)``);
            start states are independent episodes, so it must be the reset state.
        num_poles: 1 or 2.
        markov: Observations with velocities (True) or positions only (False).
        max_steps: Steps to balance (1,000).
        scale_obs: As in the env.

    Returns:
        The number of start states (0–625) balanced for ``max_steps`` steps.
    """
    starts = generalization_states(num_poles)
    env = PoleBalancingVectorEnv(
        len(starts),
        num_poles=num_poles,
        markov=markov,
        max_episode_steps=max_steps,
        scale_obs=scale_obs,
    )
    obs, _ = env.reset(options={"state": starts})
    state = initial_state
    failed = np.zeros(len(starts), dtype=np.bool_)
    while not env.done.all():
        actions, state = policy_fn(obs, state)
        obs, _, terminated, _, _ = env.step(actions)
        failed |= terminated
    return int(np.count_nonzero(~failed))
