"""Pole balancing: physics against an independent derivation, vector == single, fitness, test."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest

from evorl.envs import pole
from evorl.envs.pole import PoleBalancingEnv
from evorl.envs.pole_vector import (
    PoleBalancingVectorEnv,
    generalization_score,
    generalization_states,
)

G = 9.8


def _lagrange_accelerations(state, force, num_poles, muc=pole.MUC, mup=pole.MUP):
    """Accelerations from the rigid-body equations solved as a linear system (independent of
    Wieland's closed form): cart (M + Σm) ẍ + Σ m l cos θ θ̈ = F − μc sgn ẋ + Σ m l θ̇² sin θ,
    pole (uniform rod, I_pivot = 4/3 m l²) m l cos θ ẍ + 4/3 m l² θ̈ = m l g sin θ − μp θ̇."""
    n = num_poles
    a = np.zeros((n + 1, n + 1))
    b = np.zeros(n + 1)
    a[0, 0] = pole.MASSCART
    b[0] = force - muc * np.sign(state[1])
    for k in range(n):
        m, half = pole.POLES[k]
        th, thd = state[2 + 2 * k], state[3 + 2 * k]
        a[0, 0] += m
        a[0, k + 1] = m * half * math.cos(th)
        b[0] += m * half * thd**2 * math.sin(th)
        a[k + 1, 0] = m * half * math.cos(th)
        a[k + 1, k + 1] = 4.0 / 3.0 * m * half**2
        b[k + 1] = m * half * G * math.sin(th) - mup * thd
    return np.linalg.solve(a, b)


def _energy(s, num_poles):
    e = 0.5 * pole.MASSCART * s[1] ** 2
    for k in range(num_poles):
        m, half = pole.POLES[k]
        th, thd = s[2 + 2 * k], s[3 + 2 * k]
        vx, vy = s[1] + half * thd * math.cos(th), -half * thd * math.sin(th)
        kinetic = 0.5 * m * (vx**2 + vy**2) + 0.5 * (m * half**2 / 3) * thd**2
        e += kinetic + m * G * half * math.cos(th)
    return e


@pytest.mark.parametrize("num_poles", [1, 2])
def test_derivatives_match_independent_rigid_body_equations(num_poles):
    rng = np.random.default_rng(num_poles)
    for _ in range(50):
        s = rng.uniform(-1, 1, 2 + 2 * num_poles)
        force = rng.uniform(-10, 10)
        d = pole.derivatives(list(s), force, num_poles, pole.FLOAT_OPS)
        acc = _lagrange_accelerations(s, force, num_poles)
        np.testing.assert_allclose(d[1::2], acc, rtol=1e-10, atol=1e-12)
        np.testing.assert_array_equal(d[0::2], s[1::2])


def test_first_step_equals_hand_written_rk4():
    s0 = pole.default_state(2)

    def f(s):
        out = np.empty_like(s)
        out[0::2] = s[1::2]
        out[1::2] = _lagrange_accelerations(s, 3.0, 2)
        return out

    s, h = s0.copy(), pole.TAU
    for _ in range(2):
        k1 = f(s)
        k2 = f(s + h / 2 * k1)
        k3 = f(s + h / 2 * k2)
        k4 = f(s + h * k3)
        s = s + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    ours = pole.advance(list(s0), 3.0, 2, pole.FLOAT_OPS)
    np.testing.assert_allclose(ours, s, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("num_poles", [1, 2])
def test_energy_is_conserved_without_friction_or_force(monkeypatch, num_poles):
    monkeypatch.setattr(pole, "MUC", 0.0)
    monkeypatch.setattr(pole, "MUP", 0.0)
    s = [0.0, 0.3, 0.3, -0.5, -0.2, 1.0][: 2 + 2 * num_poles]
    e0 = _energy(s, num_poles)
    for _ in range(500):  # 10 s of swinging, through large angles
        s = pole.advance(s, 0.0, num_poles, pole.FLOAT_OPS)
    assert abs(_energy(s, num_poles) - e0) < 1e-6 * abs(e0)
    assert max(abs(v) for v in s[2::2]) > 1.0  # it really swung


def test_pole_falls_the_right_way_and_force_pushes_right():
    env = PoleBalancingEnv(num_poles=2, scale_obs=False)
    env.reset()
    for _ in range(10):
        env.step(np.zeros(1, np.float32))
    assert env.state[2] > pole.START_ANGLE and env.state[3] > 0  # leans further towards +x
    env.reset(options={"state": np.zeros(6)})
    obs, *_ = env.step(np.ones(1, np.float32))
    assert obs[1] > 0 and obs[3] < 0  # cart accelerates right, poles tip left


def test_fails_after_falling_and_counts_steps():
    env = PoleBalancingEnv(num_poles=1)
    env.reset()
    total, steps, terminated = 0.0, 0, False
    while not terminated:
        _, r, terminated, truncated, _ = env.step(np.zeros(1, np.float32))
        total += r
        steps += 1
        assert not truncated
    assert abs(env.state[2]) > pole.FAILURE_ANGLE and total == steps - 1


def test_nan_actions_fail_instead_of_balancing_forever():
    env = PoleBalancingEnv(num_poles=2)
    env.reset()
    assert env.step(np.array([np.nan], np.float32))[2]
    vec = PoleBalancingVectorEnv(2)
    vec.reset()
    with np.errstate(invalid="ignore"):
        assert list(vec.step(np.array([[np.nan], [0.0]]))[2]) == [True, False]


def _controller(state, rng):
    gains = np.array([0.1, 0.2, 5.0, 1.0, -2.0, 0.2])[: state.shape[0]]
    return np.clip(gains @ state + rng.normal(0, 0.3, state.shape[1]), -1, 1).astype(np.float32)


@pytest.mark.parametrize("num_poles", [1, 2])
@pytest.mark.parametrize("markov", [True, False])
@pytest.mark.parametrize("damping", [False, True])
def test_vector_env_equals_single_env(num_poles, markov, damping):
    n, rng = 12, np.random.default_rng(3)
    starts = np.zeros((n, 2 + 2 * num_poles))
    starts[:, 0] = rng.uniform(-1, 1, n)
    starts[:, 2] = rng.uniform(-0.1, 0.1, n)
    kw = {"num_poles": num_poles, "markov": markov, "max_steps": 250, "damping_fitness": damping}
    vec = PoleBalancingVectorEnv(n, **kw)
    singles = [PoleBalancingEnv(**kw) for _ in range(n)]
    obs, _ = vec.reset(options={"state": starts})
    for i, env in enumerate(singles):
        assert np.array_equal(env.reset(options={"state": starts[i]})[0], obs[i])
    finished = np.zeros(n, dtype=bool)
    returns = np.zeros(n)
    for _ in range(260):
        actions = _controller(vec.state, rng)
        obs, rew, term, trunc, _ = vec.step(actions[:, None])
        for i in np.flatnonzero(~finished):
            o, r, te, tr, _ = singles[i].step(actions[i : i + 1])
            assert np.array_equal(o, obs[i]) and np.array_equal(singles[i].state, vec.state[:, i])
            assert (r, te, tr) == (rew[i], term[i], trunc[i])
            returns[i] += r
            finished[i] = te or tr
    assert finished.all() and vec.done.all()
    if damping:
        assert np.all(returns < 1.0)


def _balance_single_pole(env, steps: int) -> tuple[list[float], list[float], bool]:
    """Runs a PD controller; returns rewards, raw jiggles of balanced steps, terminated."""
    rewards, jiggles = [], []
    rng = np.random.default_rng(0)
    for _ in range(steps):
        s = env.unwrapped.state
        a = np.clip(np.array([5 * s[2] + s[3] + 0.1 * s[0]]) + rng.normal(0, 0.1), -1, 1)
        _, r, te, tr, _ = env.step(a.astype(np.float32))
        rewards.append(r)
        s = env.unwrapped.state
        if not te:
            jiggles.append(abs(s[0]) + abs(s[1]) + abs(s[2]) + abs(s[3]))
        if te or tr:
            return rewards, jiggles, te
    return rewards, jiggles, False


def _gruau(jiggles: list[float]) -> float:
    t = len(jiggles)
    return 0.1 * t / 1000 + (0.9 * 0.75 / math.fsum(jiggles[-100:]) if t >= 100 else 0.0)


def test_damping_rewards_sum_to_gruau_fitness_wherever_the_episode_ends():
    env = PoleBalancingEnv(num_poles=1, markov=False, damping_fitness=True, max_steps=150)
    env.reset()
    rewards, jiggles, terminated = _balance_single_pole(env, 200)
    assert len(jiggles) == 150 and not terminated  # balanced to the limit: f2 counts
    assert rewards[:99] == pytest.approx([1e-4] * 99)
    for t in (50, 99, 100, 101, 150):
        assert math.fsum(rewards[:t]) == pytest.approx(_gruau(jiggles[:t]), rel=1e-9)
    # An outer TimeLimit (gym.make's max_episode_steps) cuts at the right fitness too.
    made = gym.make("evorl/SinglePoleNV-v0", damping_fitness=True, max_episode_steps=120)
    made.reset()
    rewards, jiggles, _ = _balance_single_pole(made, 500)
    assert len(rewards) == 120 and sum(rewards) == pytest.approx(_gruau(jiggles), rel=1e-9)
    # A failure ends the sum at F of the balanced steps (the failing step adds nothing).
    env = PoleBalancingEnv(num_poles=2, damping_fitness=True)
    env.reset()
    rewards, jiggles, terminated = _balance_single_pole(env, 1000)
    assert terminated and rewards[-1] == 0.0
    assert sum(rewards) == pytest.approx(_gruau(jiggles), rel=1e-9)


def test_generalization_states_match_neat():
    states = generalization_states(2)
    assert states.shape == (625, 6)
    np.testing.assert_allclose(states[0, :4], [-1.944, -1.215, -0.056548368, -0.135087768])
    assert np.allclose(np.abs(states[:, :4]).max(axis=0), [1.944, 1.215, 0.0565484, 0.1350878])
    assert np.all(states[:, 4:] == 0)
    assert math.degrees(0.06283152) == pytest.approx(3.6, abs=1e-4)


def test_generalization_score_of_bad_policies():
    push = generalization_score(lambda obs, s: (np.ones(len(obs)), s))
    assert push == 0
    # Zero force balances only the 5 starts that sit exactly in equilibrium (ẋ = θ = θ̇ = 0).
    calls = []

    def idle(obs, state):
        calls.append(state)
        return np.zeros((len(obs), 1)), state + 1

    assert generalization_score(idle, initial_state=0, num_poles=1, markov=True) == 5
    assert calls[:3] == [0, 1, 2] and len(calls) == 1000


def test_options_render_and_native_lookup():
    env = PoleBalancingEnv(
        num_poles=2, initial_state=[0, 0, 0.1, 0, 0.02, 0], render_mode="rgb_array"
    )
    obs, _ = env.reset()
    np.testing.assert_allclose(obs, np.array([0, 0, 0.1 / 0.52, 0, 0.02 / 0.52, 0], np.float32))
    frame = env.render()
    assert frame.shape == (400, 600, 3) and frame.dtype == np.uint8 and (frame != 255).any()
    raw = PoleBalancingEnv(num_poles=1, markov=False, scale_obs=False)
    assert np.array_equal(raw.reset()[0], np.array([0, pole.START_ANGLE], np.float32))
    with pytest.raises(ValueError):
        env.reset(options={"state": [0, 0, 0]})
    vec = gym.make_vec(
        "evorl/DoublePoleNV-v0", 4, "vector_entry_point", max_steps=10, render_mode="rgb_array"
    )
    assert (
        isinstance(vec, PoleBalancingVectorEnv) and not vec.markov and vec.max_episode_steps == 10
    )
    assert gym.spec("evorl/DoublePoleNV-v0").max_episode_steps == 1000
    assert gym.make("evorl/DoublePole-v0", max_episode_steps=100_000).spec.max_episode_steps == (
        100_000
    )
    vec.reset(options={"state": [0, 0, 0.1, 0, 0, 0]})
    assert np.all(vec.state[2] == 0.1) and len(vec.render()) == 4
