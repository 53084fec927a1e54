"""evorl's native Pendulum, Acrobot and mountain cars equal Gymnasium's envs step for step."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch

from evorl.config import ControllerConfig, EnvConfig
from evorl.controllers import build_controller
from evorl.env_factory import env_spec, native_vector_env
from evorl.env_pool import EnvPool
from evorl.envs import EXACT_VECTOR_VERSIONS
from evorl.envs.acrobot_vector import AcrobotVectorEnv
from evorl.envs.exact_math import (
    float32_trig_is_elementwise_exact,
    numpy_trig_equals_math,
    pow_squares_are_exact,
    square_like_scalar,
    trig_is_elementwise_exact,
)
from evorl.envs.mountain_car_vector import MountainCarContinuousVectorEnv, MountainCarVectorEnv
from evorl.envs.pendulum_vector import PendulumVectorEnv
from evorl.evaluation import RunningObsStats, SerialEvaluator, VectorEvaluator
from evorl.evaluation.obs_norm import ObsSums

Policy = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def _pump(column: int, scale: float = 1.0) -> Policy:
    """Discrete: push (action 2) in the direction of obs[:, column], else 0; 30% random."""

    def policy(obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        n = len(obs)
        pump = np.where(obs[:, column] > 0, 2, 0)
        return np.where(rng.random(n) < 0.3, rng.integers(0, 3, n), pump)

    return policy


def _pump_continuous(dtype: type) -> Policy:
    """Force along the velocity with a random magnitude in [0.2, 1.6] (clipped above 1)."""

    def policy(obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        sign = np.where(obs[:, 1:] > 0, 1.0, -1.0)
        return (sign * rng.uniform(0.2, 1.6, (len(obs), 1))).astype(dtype)

    return policy


def _uniform(high: float, dtype: type) -> Policy:
    return lambda obs, rng: rng.uniform(-high, high, (len(obs), 1)).astype(dtype)


def _discrete(obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, 3, len(obs))


@dataclass
class Case:
    env_id: str
    cls: type
    policy: Policy
    steps: int
    kwargs: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] | None = None
    reset_prob: float = 0.01


CASES = {
    "pendulum-f32": Case("Pendulum-v1", PendulumVectorEnv, _uniform(3.0, np.float32), 450),
    "pendulum-f64": Case("Pendulum-v1", PendulumVectorEnv, _uniform(3.0, np.float64), 250),
    "pendulum-g-options": Case(
        "Pendulum-v1",
        PendulumVectorEnv,
        _uniform(2.0, np.float32),
        220,
        {"g": 9.81},
        {"x_init": 0.5, "y_init": 6.0},
        0.0,
    ),
    "acrobot-random": Case("Acrobot-v1", AcrobotVectorEnv, _discrete, 520, reset_prob=0.0),
    "acrobot-pump": Case("Acrobot-v1", AcrobotVectorEnv, _pump(5), 400),
    "mountaincar": Case("MountainCar-v0", MountainCarVectorEnv, _pump(1), 450),
    "mountaincar-wide": Case(
        "MountainCar-v0",
        MountainCarVectorEnv,
        _pump(1),
        300,
        {"goal_velocity": 0.01},
        {"low": -1.2, "high": 0.6},
    ),
    "mountaincar-continuous-f32": Case(
        "MountainCarContinuous-v0",
        MountainCarContinuousVectorEnv,
        _pump_continuous(np.float32),
        400,
        options={"low": -1.2, "high": 0.6},
    ),
    "mountaincar-continuous-f64": Case(
        "MountainCarContinuous-v0",
        MountainCarContinuousVectorEnv,
        _pump_continuous(np.float64),
        400,
        options={"low": -1.2, "high": 0.6},
    ),
    "mountaincar-continuous-random": Case(
        "MountainCarContinuous-v0",
        MountainCarContinuousVectorEnv,
        _uniform(1.5, np.float32),
        1010,
        reset_prob=0.0,
    ),
}


def run_against_gymnasium(case: Case, seeds: list[int], seed: int = 0) -> dict[str, int]:
    """Steps ``case.cls`` and one ``gym.make(case.env_id)`` per seed with the same actions;
    finished sub-envs, and a random few running ones, are reset with fresh seeds through
    ``reset_mask``. Asserts identical observations, rewards and flags at every step.

    Returns:
        Counts of terminations, truncations and resets seen.
    """
    rng, n = np.random.default_rng(seed), len(seeds)
    vec = case.cls(num_envs=n, **case.kwargs)
    singles = [gym.make(case.env_id, **case.kwargs) for _ in range(n)]
    obs, _ = vec.reset(seed=seeds, options=case.options)
    for i, env in enumerate(singles):
        _assert_obs(env.reset(seed=seeds[i], options=case.options)[0], obs[i])
    seen, next_seed = {"terminated": 0, "truncated": 0, "resets": 0}, max(seeds) + 1
    for t in range(case.steps):
        actions = case.policy(obs, rng)
        obs, reward, terminated, truncated, _ = vec.step(actions)
        for i, env in enumerate(singles):
            action = int(actions[i]) if actions.ndim == 1 else actions[i]
            o, r, te, tr, _ = env.step(action)
            _assert_obs(o, obs[i], f"step {t}, env {i}")
            assert np.float64(r).tobytes() == reward[i].tobytes(), (t, i, r, reward[i])
            assert (te, tr) == (terminated[i], truncated[i]), (t, i)
        seen["terminated"] += int(terminated.sum())
        seen["truncated"] += int(truncated.sum())
        mask = terminated | truncated | (rng.random(n) < case.reset_prob)
        if mask.any():
            new: list[int | None] = [None] * n
            for i in np.flatnonzero(mask):
                new[i], next_seed = next_seed, next_seed + 1
            obs, _ = vec.reset(seed=new, options={**(case.options or {}), "reset_mask": mask})
            for i in np.flatnonzero(mask):
                _assert_obs(singles[i].reset(seed=new[i], options=case.options)[0], obs[i])
            seen["resets"] += int(mask.sum())
    return seen


def _assert_obs(expected: np.ndarray, got: np.ndarray, where: str = "reset") -> None:
    assert expected.dtype == got.dtype == np.float32, where
    assert expected.tobytes() == got.tobytes(), (where, expected, got)


@pytest.mark.parametrize("name", list(CASES))
def test_matches_gymnasium_step_for_step(name):
    case = CASES[name]
    seen = run_against_gymnasium(case, list(range(10, 26)))
    assert seen["resets"] > 0
    if name in ("pendulum-f32", "acrobot-random", "mountaincar-continuous-random"):
        assert seen["truncated"] > 0  # the time limit is reached and reproduced
    if "pump" in name or name.startswith("mountaincar-continuous-f"):
        assert seen["terminated"] > 0


def _set_state(vec, i: int, env: gym.Env, state: np.ndarray, first: bool) -> None:
    """Puts sub-env ``i`` and ``env`` in ``state``: float64 as after a reset (``first``), or
    float32 as after a step of the continuous mountain car."""
    env.unwrapped.state = np.array(state, dtype=np.float64 if first else np.float32)
    vec.state[:, i] = env.unwrapped.state
    vec._first[i] = first


def test_continuous_mountain_car_at_its_float32_boundaries():
    """Positions and velocities on and next to the caps, the wall and the goal, compared in
    float64 (first step after reset) and float32 (later steps), with clipped and unclipped,
    float32 and float64 forces: every branch of Continuous_MountainCarEnv.step."""
    f32 = np.float32
    positions = [-1.2, f32(-1.2), -0.5, 0.45, f32(0.45), np.nextafter(f32(0.45), f32(0)), 0.6]
    positions += [f32(0.6), 0.59999, -1.19999]
    velocities = [0.0, 0.07, f32(0.07), -0.07, f32(-0.07), 0.0699, -0.0699, 1e-9, -1e-9]
    forces = [0.0, 0.5, -0.5, 1.0, -1.0, 1.3, -1.3, 1e-8]
    grid = [(p, v, a) for p in positions for v in velocities for a in forces]
    for first in (True, False):
        for dtype in (np.float32, np.float64):
            n = len(grid)
            vec = MountainCarContinuousVectorEnv(num_envs=n)
            vec.reset(seed=0)
            envs = [gym.make("MountainCarContinuous-v0") for _ in range(n)]
            for i, (env, (p, v, _)) in enumerate(zip(envs, grid, strict=True)):
                env.reset(seed=i)
                _set_state(vec, i, env, np.array([p, v]), first)
            actions = np.array([[a] for _, _, a in grid], dtype=dtype)
            obs, reward, terminated, _, _ = vec.step(actions)
            for i, env in enumerate(envs):
                o, r, te, _, _ = env.step(actions[i])
                _assert_obs(o, obs[i], f"{grid[i]} first={first} {dtype.__name__}")
                assert (r, te) == (reward[i], terminated[i]), grid[i]


def _goal_landings() -> list[tuple[np.ndarray, bool]]:
    """Start states (moving right at 0.01) from which one unforced step of Gymnasium's
    continuous mountain car lands on the goal's boundary: float32 states (later steps) whose
    next position is exactly float32(0.45) < 0.45 (a float32 comparison: terminated), and a
    float64 state (first step) whose next position lies in [float32(0.45), 0.45) (a float64
    comparison: not terminated)."""
    env = gym.make("MountainCarContinuous-v0").unwrapped
    env.reset(seed=0)
    drift = 0.0
    for _ in range(3):  # the velocity after one step from 0.45 - drift
        env.state = np.array([0.45 - drift, 0.01], dtype=np.float32)
        drift = float(env.step(np.zeros(1, np.float32))[0][1])
    goal32, landings = np.float32(0.45), []
    p = np.float32(0.45 - drift - 40 * 3e-8)
    for _ in range(80):
        env.state = np.array([p, 0.01], dtype=np.float32)
        if env.step(np.zeros(1, np.float32))[0][0] == goal32:
            landings.append((np.array([p, 0.01], dtype=np.float32), True))
        p = np.nextafter(p, np.float32(1))
    landings.append((np.array([0.45 - 5e-9 - drift, 0.01]), False))
    return landings


def test_continuous_mountain_car_goal_is_compared_in_the_steps_precision():
    landings = _goal_landings()
    assert len(landings) > 1
    n = len(landings)
    vec = MountainCarContinuousVectorEnv(num_envs=n)
    vec.reset(seed=0)
    envs = [gym.make("MountainCarContinuous-v0") for _ in range(n)]
    for i, (state, later) in enumerate(landings):
        envs[i].reset(seed=i)
        _set_state(vec, i, envs[i], state, first=not later)
    obs, reward, terminated, _, _ = vec.step(np.zeros((n, 1), np.float32))
    for i, (_, later) in enumerate(landings):
        o, r, te, _, _ = envs[i].step(np.zeros(1, np.float32))
        assert te == later and terminated[i] == te and reward[i] == r
        _assert_obs(o, obs[i])
        assert o[0] == np.float32(0.45)


def test_acrobot_nips_dynamics_and_velocity_bounds():
    """book_or_nips="nips" against AcrobotEnv with that attribute; states with velocities at and
    beyond the bounds and angles beyond ±π exercise bound() and wrap()."""
    n = 12
    rng = np.random.default_rng(3)
    vec = AcrobotVectorEnv(num_envs=n, book_or_nips="nips")
    vec.reset(seed=0)
    envs = [gym.make("Acrobot-v1") for _ in range(n)]
    for i, env in enumerate(envs):
        env.reset(seed=i)
        env.unwrapped.book_or_nips = "nips"
        state = rng.uniform(-1, 1, 4) * [7.0, 7.0, 16.0, 32.0]
        env.unwrapped.state = state
        vec.state[:, i] = state
        vec._fresh[i] = False
    alive = np.ones(n, bool)  # Gymnasium's env goes on after termination; ours freezes
    for t in range(30):
        actions = rng.integers(0, 3, n)
        obs, reward, terminated, truncated, _ = vec.step(actions)
        if t == 0:  # the start velocities beyond the bounds were bounded
            assert np.any(np.abs(vec.state[2:]) == [[4 * np.pi], [9 * np.pi]])
        for i in np.flatnonzero(alive):
            o, r, te, tr, _ = envs[i].step(int(actions[i]))
            _assert_obs(o, obs[i], f"step {t}, env {i}")
            assert (r, te, tr) == (reward[i], terminated[i], truncated[i])
        alive &= ~terminated


def test_libm_squares_are_reproduced_and_are_not_x_times_x():
    """Gymnasium's numpy-scalar ``v ** 2`` is libm's pow: not always ``v * v``. The helper gets
    it right where the naive array square would not."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal(200_000) * 10
    reference = np.array([np.float64(v) ** 2 for v in x])
    assert np.array_equal(square_like_scalar(x), reference)
    assert not np.array_equal(x * x, reference)
    x32 = x.astype(np.float32)
    reference32 = np.array([np.float32(v) ** 2 for v in x32])
    assert np.array_equal(square_like_scalar(x32), reference32)
    assert not np.array_equal(x32 * x32, reference32)
    assert pow_squares_are_exact(num_probes=20000)


def test_trig_probes_hold_on_this_machine():
    assert trig_is_elementwise_exact(num_probes=20000)
    assert float32_trig_is_elementwise_exact(num_probes=20000)
    assert numpy_trig_equals_math(num_probes=20000)


NATIVE = {
    "Pendulum-v1": (PendulumVectorEnv, _uniform(2.0, np.float32)),
    "Acrobot-v1": (AcrobotVectorEnv, _discrete),
    "MountainCar-v0": (MountainCarVectorEnv, _discrete),
    "MountainCarContinuous-v0": (MountainCarContinuousVectorEnv, _uniform(1.0, np.float32)),
}


@pytest.mark.parametrize("env_id", list(NATIVE))
def test_start_observations_match_for_many_seeds(env_id):
    """3,000 start states: Acrobot's float32 start is observed with float32 cos/sin (differs from
    the float64 route for about 1 start in 500)."""
    cls, _ = NATIVE[env_id]
    seeds = list(range(3000))
    obs, _ = cls(num_envs=len(seeds)).reset(seed=seeds)
    env = gym.make(env_id)
    expected = np.array([env.reset(seed=s)[0] for s in seeds])
    assert expected.tobytes() == obs.tobytes()


@pytest.mark.parametrize("env_id", list(NATIVE))
def test_env_pool_picks_the_native_version_and_steps_as_the_list(env_id):
    cls, policy = NATIVE[env_id]
    assert EXACT_VECTOR_VERSIONS[env_id].endswith(f":{cls.__name__}")
    native = EnvPool.make(EnvConfig(env_id, max_episode_steps=40), 6)
    listed = EnvPool.make(EnvConfig(env_id, max_episode_steps=40, vectorization="sync"), 6)
    assert native.native and isinstance(native.vector, cls)
    assert native.vector.max_episode_steps == 40 and not listed.native
    traces = []
    for pool in (native, listed):
        rng, trace, active = np.random.default_rng(5), [], np.ones(6, bool)
        trace.append(pool.reset(np.arange(6), np.arange(6)).copy())
        for t in range(90):
            obs, reward, terminated, truncated = pool.step(policy(pool.obs, rng), active)
            trace += [obs.copy(), reward, terminated, truncated]
            done = np.flatnonzero(terminated | truncated)
            if done.size:
                trace.append(pool.reset(done, 100 * t + done).copy())
        traces.append(trace)
    assert len(traces[0]) > 4 * 90
    for a, b in zip(*traces, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("env_id", list(NATIVE))
def test_conventions_spaces_dtypes_and_seeding(env_id, recwarn):
    cls, policy = NATIVE[env_id]
    vec = native_vector_env(EnvConfig(env_id), 3)
    single = gym.make(env_id)
    assert isinstance(vec, cls)
    assert vec.metadata["autoreset_mode"] == gym.vector.AutoresetMode.DISABLED
    assert vec.max_episode_steps == gym.spec(env_id).max_episode_steps
    assert vec.single_observation_space == single.observation_space
    assert vec.single_action_space == single.action_space
    assert vec.observation_space == gym.vector.utils.batch_space(single.observation_space, 3)
    # Seeds as SyncVectorEnv: an int s means s, s+1, ...; None continues each sub-env's stream.
    sync = gym.make_vec(env_id, num_envs=3, vectorization_mode="sync")
    obs, info = vec.reset(seed=7)
    assert info == {} and obs.dtype == np.float32 and obs.flags.c_contiguous
    assert vec.observation_space.contains(obs)
    np.testing.assert_array_equal(obs, sync.reset(seed=7)[0])
    np.testing.assert_array_equal(vec.reset()[0], sync.reset()[0])
    # A masked reset touches only the masked sub-envs.
    rng = np.random.default_rng(0)
    vec.step(policy(obs, rng))
    before = vec.state.copy()
    mask = np.array([False, True, False])
    vec.reset(seed=[None, 8, None], options={"reset_mask": mask})
    np.testing.assert_array_equal(vec.state[:, ~mask], before[:, ~mask])
    assert list(vec.episode_steps) == [1, 0, 1]
    with pytest.raises(ValueError):
        vec.reset(options={"reset_mask": np.zeros(3, dtype=np.bool_)})
    with pytest.raises(ValueError):
        cls(num_envs=2, render_mode="human")
    assert len(recwarn) == 0


@pytest.mark.parametrize("env_id", list(NATIVE))
def test_finished_sub_envs_stay_frozen(env_id):
    cls, policy = NATIVE[env_id]
    vec = cls(num_envs=2, max_episode_steps=4)
    vec.reset(seed=0)
    rng = np.random.default_rng(1)
    for _ in range(4):
        obs, reward, terminated, truncated, _ = vec.step(policy(np.zeros((2, 6)), rng))
    assert truncated.all()
    final, final_state = obs.copy(), vec.state.copy()
    for _ in range(3):
        obs, reward, terminated2, truncated2, _ = vec.step(policy(np.zeros((2, 6)), rng))
        np.testing.assert_array_equal(obs, final)
        np.testing.assert_array_equal(vec.state, final_state)
        assert np.all(reward == 0.0) and truncated2.all()
        np.testing.assert_array_equal(terminated2, terminated)
    assert list(vec.episode_steps) == [4, 4]


# --------------------------------------------------------------------------- the generic path
# The overhead work on the generic path (list pool, rollout loop, controller step) must leave
# every result bit-identical; these pin the pieces it changed to their former definitions.


@pytest.mark.parametrize(
    ("env_id", "ctrl"),
    [
        ("Pendulum-v1", ControllerConfig("lstm", (6,))),
        ("CartPole-v1", ControllerConfig("gru", (4,))),
    ],
)
def test_vector_evaluator_sums_equal_the_serial_reference(env_id, ctrl):
    """Per-slot running sums (returns, lengths, observation sums) copied to their tasks equal
    the serial reference's per-task sums, with queueing, refills and compaction."""
    cfg = EnvConfig(env_id, max_episode_steps=70, vectorization="sync")
    spec = env_spec(cfg)
    controller = build_controller(ctrl, spec.obs_dim, spec.action_space, seed=0)
    rng = np.random.default_rng(0)
    params = controller.get_flat().numpy() + rng.standard_normal((7, controller.num_params))
    stats = RunningObsStats.empty(spec.obs_dim)
    sums = ObsSums.zeros(1, spec.obs_dim)
    sums.count[0], sums.total[:], sums.squares[:] = 4.0, 1.0, 3.0
    stats.merge(sums)
    seeds, norm = np.array([5, 6, 7]), stats.normalizer()
    ref = SerialEvaluator(cfg, controller).evaluate(params, seeds, norm, collect_obs=True)
    for max_envs in (4, 21, 64):
        out = VectorEvaluator(cfg, controller, max_envs).evaluate(params, seeds, norm, True)
        np.testing.assert_array_equal(out.returns, ref.returns)
        np.testing.assert_array_equal(out.lengths, ref.lengths)
        for name in ("count", "total", "squares", "nonfinite"):
            np.testing.assert_array_equal(getattr(out.obs_sums, name), getattr(ref.obs_sums, name))
    assert env_id != "CartPole-v1" or len(np.unique(ref.lengths)) > 1


def test_list_pool_steps_only_active_envs_and_reads_the_action_buffer_each_step():
    """The list backend steps the active slots with each row of the caller's (reused) action
    buffer, as ``envs[i].step(actions[i])`` would; inactive slots report 0 and no flags."""
    cfg = EnvConfig("Pendulum-v1", vectorization="sync")
    pool = EnvPool.make(cfg, 4, replayable=True)
    singles = [gym.make("Pendulum-v1") for _ in range(4)]
    pool.reset(np.arange(4), np.arange(4))
    for i, env in enumerate(singles):
        env.reset(seed=i)
    buffer, rng = np.zeros((4, 1), np.float32), np.random.default_rng(0)
    for t in range(12):
        if t < 8:  # the same array every step, written in place
            buffer[:] = rng.uniform(-2, 2, (4, 1))
            actions = buffer
        else:  # then a new array each step
            actions = rng.uniform(-2, 2, (4, 1)).astype(np.float32)
        active = np.array([True, t % 2 == 0, True, t < 5])
        obs, reward, terminated, truncated = pool.step(actions, active)
        for i, env in enumerate(singles):
            if active[i]:
                o, r, _, _, _ = env.step(actions[i])
                np.testing.assert_array_equal(obs[i], o)
                assert reward[i] == r
            else:
                assert reward[i] == 0.0 and not terminated[i] and not truncated[i]
    state = pool.state_dict()  # the replay log recorded the active slots' actions
    assert [len(entry[1]) for entry in state["replay"]] == [12, 6, 12, 5]
    discrete = EnvPool.make(EnvConfig("CartPole-v1", vectorization="sync"), 2)
    discrete.reset(np.arange(2), np.arange(2))
    assert discrete.step(np.array([1.0, 0.0]), np.ones(2, bool))[1].tolist() == [1.0, 1.0]


def test_controller_step_bits_equal_the_former_formulas():
    """Fused LSTM gate sigmoid, the 0-dim sigmoid constant and the cached Box head give the bits
    of ``0.5 * tanh(0.5 * x) + 0.5`` per gate and of the uncached head."""
    from evorl.controllers.functional import sigmoid

    def old_sigmoid(x):
        return 0.5 * torch.tanh(0.5 * x) + 0.5

    x = torch.randn(5000, 37) * 6
    assert torch.equal(sigmoid(x), old_sigmoid(x))
    assert torch.equal(sigmoid(x.double()), old_sigmoid(x.double()))
    box = gym.spaces.Box(np.array([-2.0, 0.5], np.float32), np.array([3.0, 4.0], np.float32))
    for forget in (True, False):
        cfg = ControllerConfig("lstm", (7,), forget_gate=forget)
        ctrl = build_controller(cfg, 3, box, seed=1)
        flat = ctrl.get_flat().repeat(33, 1) + torch.randn(33, ctrl.num_params)
        p = ctrl.population_params(flat)
        h, c = torch.randn(33, 7), torch.randn(33, 7)
        obs = torch.randn(33, 3) * 3
        action, (h1, c1) = ctrl.step(obs, (h, c), p)
        gates = torch.baddbmm(
            p["b0"].unsqueeze(1), torch.cat([obs, h], -1).unsqueeze(1), p["w_xh0"]
        )
        blocks = gates.squeeze(1).chunk(4 if forget else 3, dim=-1)
        if forget:
            i, f, g, o = blocks
            c_ref = old_sigmoid(f) * c + old_sigmoid(i) * torch.tanh(g)
        else:
            i, g, o = blocks
            c_ref = c + old_sigmoid(i) * torch.tanh(g)
        h_ref = old_sigmoid(o) * torch.tanh(c_ref)
        assert torch.equal(c1, c_ref) and torch.equal(h1, h_ref)
        out = torch.baddbmm(p["b_out"].unsqueeze(1), h_ref.unsqueeze(1), p["w_out"]).squeeze(1)
        for dtype in (torch.float32, torch.float64):
            low, high = ctrl.head.low.to(dtype), ctrl.head.high.to(dtype)
            expected = torch.clamp(
                0.5 * (high + low) + 0.5 * (high - low) * torch.tanh(out.to(dtype)), low, high
            ).to(torch.float32)
            assert torch.equal(ctrl.act(out.to(dtype)), expected)
        assert torch.equal(action, ctrl.act(out))
