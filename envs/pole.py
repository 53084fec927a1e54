"""Cart-pole balancing with one or two poles, as benchmarked in the neuroevolution literature.

Physics: Wieland's (1991) equations of motion for poles on a cart with cart and hinge friction,
integrated by fourth-order Runge-Kutta with two 0.01 s sub-steps per 0.02 s control step — the
code Faustino Gomez wrote for ESP and that Stanley's NEAT and Igel's Shark reuse. The constants
are those of Gomez, Schmidhuber & Miikkulainen, "Accelerated Neural Evolution through
Cooperatively Coevolved Synapses" (JMLR 9, 2008), Section 6.1:

=====================  ==========================  =============================
cart                   mass 1 kg                   track ±2.4 m
long pole              mass 0.1 kg                 half-length 0.5 m (1 m pole)
short pole             mass 0.01 kg                half-length 0.05 m (0.1 m)
friction               cart μc = 5e-4              hinges μp = 2e-6
force                  F ∈ [-10, 10] N             action a ∈ [-1, 1] → F = 10·a
gravity                g = -9.8 m/s² (sign convention of the equations)
failure                a pole leaves ±36°          or the cart leaves the track
start                  [x, ẋ, θ1, θ̇1, θ2, θ̇2] = [0, 0, 4°, 0, 0, 0]
=====================  ==========================  =============================

Angles are in radians, positive leaning towards +x; angular velocities in rad/s. The equations:
``ẍ = (F - μc·sgn(ẋ) + Σ F̃i) / (M + Σ m̃i)`` and ``θ̈i = -3/(4 li) (ẍ cos θi + g sin θi +
μp θ̇i / (mi li))`` with ``F̃i = mi li θ̇i² sin θi + ¾ mi cos θi (μp θ̇i / (mi li) + g sin θi)`` and
``m̃i = mi (1 - ¾ cos² θi)``. NEAT's C++ code omits the cart-friction term; Gomez et al. (2008)
list μc and Shark's port includes it, and so do we. The same generic code (:func:`derivatives`,
:func:`rk4_step`) runs on Python floats here and on numpy arrays in :mod:`evorl.envs.pole_vector`,
with the operations in the same order, so the single and the vectorised envs give identical
trajectories.

Observations (documented choice): scaled like ESP/NEAT's network inputs, ``x/4.8, ẋ/2, θ/0.52,
θ̇/2`` (``scale_obs=False`` gives raw SI values); Markov envs observe ``[x, ẋ, θ1, θ̇1(, θ2,
θ̇2)]``, non-Markov ("NV") ones the positions ``[x, θ1(, θ2)]`` only.

Rewards (documented choice): by default 1.0 for every step after which the system is still within
bounds and 0.0 on the failing step, so the return is the number of steps balanced — the fitness of
the "evaluations to solve" tables. With ``damping_fitness=True`` the reward of step ``t`` is
``F(t) - F(t-1)``, where ``F(t) = 0.1·t/1000 + 0.9·f2`` is Gruau et al.'s (1996) damping fitness
after ``t`` balanced steps, ``f2 = 0`` if ``t < 100`` else ``0.75 / Σ`` over the last 100 balanced
steps of ``|x| + |ẋ| + |θ1| + |θ̇1|`` (raw SI state, as in NEAT's code). The rewards telescope, so
the return equals ``F`` (up to float rounding, ~1e-13) at *whatever* step the episode ends —
failure, ``max_steps``, or an outer ``TimeLimit`` — and no reward depends on knowing the horizon.
The window sum is kept in fixed point (units of 2⁻³²), so the running sum is exact and identical in
the single and the vectorised env.

Episode length: registered ids get Gymnasium's ``TimeLimit`` of 1,000 steps (``gym.make(id,
max_episode_steps=100_000)`` for the "solved" test); the vectorised env takes the same
``max_episode_steps``; constructing :class:`PoleBalancingEnv` directly, ``max_steps`` sets an
intrinsic limit instead (default none).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, NamedTuple

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from .render import draw_cart_poles

GRAVITY = -9.8
MASSCART = 1.0
POLES = ((0.1, 0.5), (0.01, 0.05))
"""(mass kg, half-length m) of the long and the short pole."""
MUC = 0.0005
MUP = 0.000002
FORCE_MAG = 10.0
TAU = 0.01
"""RK4 sub-step (s); two per control step of 0.02 s."""
SUBSTEPS = 2
TRACK_LIMIT = 2.4
FAILURE_ANGLE = math.radians(36.0)
"""36°; NEAT's code uses the rounded 0.628329 rad."""
START_ANGLE = math.radians(4.0)
"""Initial long-pole angle; NEAT's code uses 0.07 rad (4.01°)."""
OBS_SCALE = (4.8, 2.0, 0.52, 2.0, 0.52, 2.0)
"""Divisors of [x, ẋ, θ1, θ̇1, θ2, θ̇2] for the network inputs in ESP/NEAT/Shark."""
DAMPING_WINDOW = 100
JIGGLE_SCALE = 2.0**32
"""Fixed-point scale of the damping window (exact, order-free running sums)."""

_HH = TAU * 0.5
_H6 = TAU / 6.0
_ML = tuple(m * length for m, length in POLES)


class Ops(NamedTuple):
    """The non-arithmetic functions the physics needs, for floats or for numpy arrays."""

    cos: Callable
    sin: Callable
    sign: Callable


def _sign(v: float) -> float:
    return 1.0 if v > 0.0 else (-1.0 if v < 0.0 else 0.0)


def _libm_matches_numpy() -> bool:
    probe = np.random.default_rng(7).uniform(-1.0, 1.0, 2048)
    return bool(
        np.array_equal(np.cos(probe), [math.cos(v) for v in probe])
        and np.array_equal(np.sin(probe), [math.sin(v) for v in probe])
    )


NUMPY_OPS = Ops(np.cos, np.sin, np.sign)
# Python floats use the C library's cos/sin when they agree with numpy's bit for bit (numpy 2.x
# calls the same libm), else numpy's scalar ufuncs, so single and vector envs stay identical.
FLOAT_OPS = (
    Ops(math.cos, math.sin, _sign)
    if _libm_matches_numpy()
    else Ops(lambda v: float(np.cos(v)), lambda v: float(np.sin(v)), _sign)
)


def derivatives(y: Sequence, force: Any, num_poles: int, ops: Ops) -> list:
    """Time derivative of the state by Wieland's equations (ESP/NEAT's ``step``).

    Args:
        y: State components ``[x, ẋ, θ1, θ̇1, ...]``, each a float or an array over envs.
        force: Applied force (N), float or array.
        num_poles: 1 or 2.
        ops: :data:`FLOAT_OPS` or :data:`NUMPY_OPS`.

    Returns:
        ``[ẋ, ẍ, θ̇1, θ̈1, ...]`` in the same type as ``y``.
    """
    x_dot = y[1]
    total_force = force - MUC * ops.sign(x_dot)
    total_mass = None
    terms = []
    for k in range(num_poles):
        mass, _ = POLES[k]
        ml = _ML[k]
        theta_dot = y[3 + 2 * k]
        cos_t = ops.cos(y[2 + 2 * k])
        sin_t = ops.sin(y[2 + 2 * k])
        g_sin = GRAVITY * sin_t
        temp = MUP * theta_dot / ml
        fi = (ml * theta_dot * theta_dot * sin_t) + (0.75 * mass * cos_t * (temp + g_sin))
        mi = mass * (1 - (0.75 * cos_t * cos_t))
        total_force = total_force + fi
        total_mass = mi if total_mass is None else total_mass + mi
        terms.append((cos_t, g_sin, temp))
    x_acc = total_force / (total_mass + MASSCART)
    out = [x_dot, x_acc]
    for k, (cos_t, g_sin, temp) in enumerate(terms):
        half_length = POLES[k][1]
        out += [y[3 + 2 * k], -0.75 * (x_acc * cos_t + g_sin + temp) / half_length]
    return out


def rk4_step(y: Sequence, force: Any, num_poles: int, ops: Ops) -> list:
    """One RK4 step of ``TAU`` seconds, in the order of operations of ESP/NEAT's ``rk4``."""
    dydx = derivatives(y, force, num_poles, ops)
    yt = [a + _HH * b for a, b in zip(y, dydx, strict=True)]
    dyt = derivatives(yt, force, num_poles, ops)
    yt = [a + _HH * b for a, b in zip(y, dyt, strict=True)]
    dym = derivatives(yt, force, num_poles, ops)
    yt = [a + TAU * b for a, b in zip(y, dym, strict=True)]
    dym = [a + b for a, b in zip(dym, dyt, strict=True)]
    dyt = derivatives(yt, force, num_poles, ops)
    return [a + _H6 * (b + c + 2.0 * d) for a, b, c, d in zip(y, dydx, dyt, dym, strict=True)]


def advance(y: Sequence, force: Any, num_poles: int, ops: Ops) -> list:
    """One 0.02 s control step: ``SUBSTEPS`` RK4 steps with the force held."""
    for _ in range(SUBSTEPS):
        y = rk4_step(y, force, num_poles, ops)
    return y


# --------------------------------------------------------------------------- fast paths
# The generic code above is the readable reference. The functions below compute exactly the same
# floating-point operations in exactly the same order, unrolled for Python floats
# (:func:`advance_float`, used by the single env) and fused over whole (state_dim, num_envs)
# arrays (:func:`advance_array`, used by the vector env), so both stay bit-identical to
# :func:`advance` (tested) at a fraction of its interpreter overhead.

_M1, _H1 = POLES[0]
_M2, _H2 = POLES[1]
_ML1, _ML2 = _ML
_K1, _K2 = 0.75 * _M1, 0.75 * _M2
"""``0.75·mass``: the first product of ``0.75 * mass * cos_t`` in :func:`derivatives`."""


def _deriv_float(y: Sequence[float], force: float, num_poles: int) -> tuple[float, ...]:
    """:func:`derivatives` for Python floats, unrolled."""
    cos, sin, sign = FLOAT_OPS
    mup = MUP
    x_dot, t1, w1 = y[1], y[2], y[3]
    total_force = force - MUC * sign(x_dot)
    c1 = cos(t1)
    s1 = sin(t1)
    g1 = GRAVITY * s1
    tmp1 = mup * w1 / _ML1
    total_force = total_force + ((_ML1 * w1 * w1 * s1) + (_K1 * c1 * (tmp1 + g1)))
    total_mass = _M1 * (1 - (0.75 * c1 * c1))
    if num_poles == 1:
        x_acc = total_force / (total_mass + MASSCART)
        return (x_dot, x_acc, w1, -0.75 * (x_acc * c1 + g1 + tmp1) / _H1)
    t2, w2 = y[4], y[5]
    c2 = cos(t2)
    s2 = sin(t2)
    g2 = GRAVITY * s2
    tmp2 = mup * w2 / _ML2
    total_force = total_force + ((_ML2 * w2 * w2 * s2) + (_K2 * c2 * (tmp2 + g2)))
    total_mass = total_mass + _M2 * (1 - (0.75 * c2 * c2))
    x_acc = total_force / (total_mass + MASSCART)
    return (
        x_dot,
        x_acc,
        w1,
        -0.75 * (x_acc * c1 + g1 + tmp1) / _H1,
        w2,
        -0.75 * (x_acc * c2 + g2 + tmp2) / _H2,
    )


def advance_float(y: Sequence[float], force: float, num_poles: int) -> list[float]:
    """:func:`advance` with :data:`FLOAT_OPS`, bit for bit, about five times faster.

    Args:
        y: State ``[x, ẋ, θ1, θ̇1(, θ2, θ̇2)]`` as Python floats.
        force: Applied force (N).
        num_poles: 1 or 2.

    Returns:
        The state after one 0.02 s control step.
    """
    hh, h6, tau = _HH, _H6, TAU
    for _ in range(SUBSTEPS):
        d1 = _deriv_float(y, force, num_poles)
        d2 = _deriv_float([a + hh * b for a, b in zip(y, d1, strict=True)], force, num_poles)
        d3 = _deriv_float([a + hh * b for a, b in zip(y, d2, strict=True)], force, num_poles)
        d4 = _deriv_float([a + tau * b for a, b in zip(y, d3, strict=True)], force, num_poles)
        y = [
            a + h6 * (b + c + 2.0 * (d + e))
            for a, b, c, d, e in zip(y, d1, d4, d3, d2, strict=True)
        ]
    return y


def default_state(num_poles: int) -> np.ndarray:
    """``[0, 0, 4°, 0(, 0, 0)]``: the standard start of the benchmark."""
    state = np.zeros(2 + 2 * num_poles)
    state[2] = START_ANGLE
    return state


def observed_rows(num_poles: int, markov: bool) -> tuple[int, ...]:
    """State indices that the agent observes."""
    if markov:
        return tuple(range(2 + 2 * num_poles))
    return (0, *(2 + 2 * k for k in range(num_poles)))


def jiggle_units(jiggle: Any) -> Any:
    """``|x| + |ẋ| + |θ1| + |θ̇1|`` in fixed point (int, or int64 array), rounded half to even."""
    if isinstance(jiggle, np.ndarray):
        return np.rint(jiggle * JIGGLE_SCALE).astype(np.int64)
    return round(jiggle * JIGGLE_SCALE)


def damping_fitness(balanced_steps: Any, window_units: Any) -> Any:
    """Gruau et al.'s (1996) damping fitness ``F = 0.1·t/1000 + 0.9·f2`` (floats or arrays).

    Args:
        balanced_steps: ``t``, the number of steps balanced.
        window_units: Sum over the last ``min(t, 100)`` balanced steps of :func:`jiggle_units`.

    Returns:
        ``F``, with ``f2 = 0.75 / (window_units / 2³²)`` if ``t >= 100`` else 0 (a window sum of
        exactly 0, a cart resting in equilibrium, counts as one unit instead of dividing by 0).
    """
    f1 = 0.1 * (balanced_steps / 1000.0)
    if isinstance(balanced_steps, np.ndarray):
        f2 = 0.75 / (np.maximum(window_units, 1) / JIGGLE_SCALE)
        return np.where(balanced_steps >= DAMPING_WINDOW, f1 + 0.9 * f2, f1)
    if balanced_steps < DAMPING_WINDOW:
        return f1
    return f1 + 0.9 * (0.75 / (max(window_units, 1) / JIGGLE_SCALE))


def check_state(state: Any, num_poles: int) -> np.ndarray:
    """Validates a user-given start state and returns it as float64 ``(2 + 2·num_poles,)``."""
    arr = np.asarray(state, dtype=np.float64)
    if arr.shape != (2 + 2 * num_poles,):
        raise ValueError(f"state must have shape ({2 + 2 * num_poles},), got {arr.shape}")
    return arr


def observation_space(num_poles: int, markov: bool) -> spaces.Box:
    """Unbounded float32 Box of the observed entries (a failing step may exceed any bound)."""
    n = len(observed_rows(num_poles, markov))
    return spaces.Box(-np.inf, np.inf, shape=(n,), dtype=np.float32)


class PoleBalancingEnv(gym.Env):
    """Single or double pole balancing, Markov or non-Markov (registered as ``evorl/*Pole*``).

    Args:
        num_poles: 1 (``SinglePole``) or 2 (``DoublePole``).
        markov: Observe velocities too (True) or positions only (False, the "NV" tasks).
        max_steps: Intrinsic truncation limit, default none: registered ids are limited to 1,000
            steps by Gymnasium's ``TimeLimit`` instead (``max_episode_steps=100_000`` for the
            "solved" test).
        damping_fitness: Rewards that sum to Gruau's damping fitness instead of 1 per step.
        initial_state: Start state ``[x, ẋ, θ1, θ̇1(, θ2, θ̇2)]`` (SI units, radians); default
            :func:`default_state`. ``reset(options={"state": ...})`` overrides it per episode.
        scale_obs: Divide observations by :data:`OBS_SCALE` (ESP/NEAT's input scaling).
        render_mode: ``None`` or ``"rgb_array"``.

    Example:
        >>> import gymnasium as gym
        >>> import evorl.envs  # registers the ids
        >>> env = gym.make("evorl/DoublePoleNV-v0", damping_fitness=True)
        >>> obs, _ = env.reset()
        >>> obs, reward, terminated, truncated, _ = env.step(np.array([0.1], np.float32))
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": 50}

    def __init__(
        self,
        num_poles: int = 2,
        markov: bool = True,
        max_steps: int | None = None,
        damping_fitness: bool = False,
        initial_state: Sequence[float] | None = None,
        scale_obs: bool = True,
        render_mode: str | None = None,
    ) -> None:
        if num_poles not in (1, 2):
            raise ValueError(f"num_poles must be 1 or 2, got {num_poles}")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"unsupported render_mode {render_mode!r}")
        self.num_poles = num_poles
        self.markov = markov
        self.max_steps = max_steps
        self.damping_fitness = damping_fitness
        self.initial_state = (
            default_state(num_poles)
            if initial_state is None
            else check_state(initial_state, num_poles)
        )
        self.render_mode = render_mode
        self._rows = observed_rows(num_poles, markov)
        self._scales = tuple(OBS_SCALE[r] if scale_obs else 1.0 for r in self._rows)
        self.observation_space = observation_space(num_poles, markov)
        self.action_space = spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
        self._y: list[float] = [float(v) for v in self.initial_state]
        self._reset_counters()

    def _reset_counters(self) -> None:
        self._steps = 0
        self._balanced = 0
        self._window = [0] * DAMPING_WINDOW
        self._window_sum = 0
        self._fitness = 0.0

    @property
    def state(self) -> np.ndarray:
        """The physical state ``[x, ẋ, θ1, θ̇1(, θ2, θ̇2)]`` (float64 copy)."""
        return np.array(self._y)

    def _obs(self) -> np.ndarray:
        y = self._y
        obs = [y[r] / s for r, s in zip(self._rows, self._scales, strict=True)]
        return np.array(obs, dtype=np.float32)

    def _failed(self) -> bool:
        # Written as "not within bounds" so that a NaN state (e.g. from a NaN action) fails.
        y = self._y
        return not (
            abs(y[0]) <= TRACK_LIMIT
            and all(abs(y[2 + 2 * k]) <= FAILURE_ANGLE for k in range(self.num_poles))
        )

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Starts an episode from ``options["state"]`` or the env's initial state."""
        super().reset(seed=seed)
        state = self.initial_state
        if options and options.get("state") is not None:
            state = check_state(options["state"], self.num_poles)
        self._y = [float(v) for v in state]
        self._reset_counters()
        return self._obs(), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Applies ``10 N · clip(action, -1, 1)`` for 0.02 s (two RK4 sub-steps)."""
        a = float(np.clip(np.asarray(action, dtype=np.float64).reshape(-1)[0], -1.0, 1.0))
        self._y = advance_float(self._y, a * FORCE_MAG, self.num_poles)
        self._steps += 1
        terminated = self._failed()
        truncated = self.max_steps is not None and self._steps >= self.max_steps
        if terminated:
            return self._obs(), 0.0, True, truncated, {}
        self._balanced += 1
        if not self.damping_fitness:
            return self._obs(), 1.0, False, truncated, {}
        y = self._y
        units = jiggle_units(abs(y[0]) + abs(y[1]) + abs(y[2]) + abs(y[3]))
        slot = (self._balanced - 1) % DAMPING_WINDOW
        self._window_sum += units - self._window[slot]
        self._window[slot] = units
        fitness = damping_fitness(self._balanced, self._window_sum)
        reward = fitness - self._fitness
        self._fitness = fitness
        return self._obs(), reward, False, truncated, {}

    def render(self) -> np.ndarray | None:
        """A ``(400, 600, 3)`` uint8 frame of cart, poles and track."""
        if self.render_mode is None:
            return None
        y = self._y
        thetas = [y[2 + 2 * k] for k in range(self.num_poles)]
        halves = [POLES[k][1] for k in range(self.num_poles)]
        return draw_cart_poles(y[0], thetas, halves, TRACK_LIMIT)
