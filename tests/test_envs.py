"""Registry-driven checks of every evorl env, plus the T-maze and Catch rules."""

from __future__ import annotations

import subprocess
import sys
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from evorl.config import EnvConfig
from evorl.env_factory import native_vector_env
from evorl.envs import ENV_IDS, register_envs
from evorl.envs.catch import CatchEnv
from evorl.envs.tmaze import EAST, NORTH, SOUTH, WEST, TMazeEnv

STOCHASTIC = {"evorl/CartPoleNoVel-v0", "evorl/TMaze-v0", "evorl/Catch-v0"}


def _rollout(env: gym.Env, seed: int, steps: int = 40) -> list:
    env.action_space.seed(seed)
    obs, _ = env.reset(seed=seed)
    out = [obs]
    for _ in range(steps):
        obs, r, term, trunc, _ = env.step(env.action_space.sample())
        out += [obs, r, term, trunc]
        if term or trunc:
            obs, _ = env.reset()
            out.append(obs)
    return out


def _same(a: list, b: list) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_check_env(env_id):
    env = gym.make(env_id)
    with warnings.catch_warnings():
        # Pole velocities are unbounded (like CartPole's); CartPoleNoVel is a wrapper by design.
        warnings.filterwarnings("ignore", message=".*Box observation space (max|min)imum value")
        warnings.filterwarnings("ignore", message=".*is different from the unwrapped version")
        if env_id == "evorl/CartPoleNoVel-v0":
            check_env(env, skip_render_check=True)  # Gymnasium's own pygame renderer
        else:
            check_env(env.unwrapped)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_seeding_is_reproducible(env_id):
    assert _same(_rollout(gym.make(env_id), 3), _rollout(gym.make(env_id), 3))
    if env_id in STOCHASTIC:
        firsts = [_rollout(gym.make(env_id), s, steps=0)[0] for s in range(6)]
        assert any(not np.array_equal(firsts[0], f) for f in firsts[1:])


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_render_gives_a_visible_frame(env_id):
    if env_id == "evorl/CartPoleNoVel-v0":
        pytest.skip("renders with Gymnasium's pygame code")
    env = gym.make(env_id, render_mode="rgb_array")
    env.reset(seed=0)
    env.step(env.action_space.sample())
    frame = env.render()
    assert frame.ndim == 3 and frame.shape[2] == 3 and frame.dtype == np.uint8
    packed = frame.astype(np.uint32) @ np.array([1 << 16, 1 << 8, 1], dtype=np.uint32)
    assert len(np.unique(packed)) >= 3  # background plus at least two drawn colours


@pytest.mark.parametrize(
    "env_id", [i for i in ENV_IDS if gym.spec(i).vector_entry_point is not None]
)
def test_make_vec_gives_the_native_env_with_matching_spaces(env_id):
    envs = gym.make_vec(env_id, num_envs=3)
    assert envs.metadata["autoreset_mode"] == gym.vector.AutoresetMode.DISABLED
    assert envs.single_observation_space == gym.make(env_id).observation_space
    assert envs.single_action_space == gym.make(env_id).action_space
    obs, _ = envs.reset(seed=0)
    assert envs.observation_space.contains(obs)
    obs, *_ = envs.step(envs.action_space.sample())
    assert obs.shape == envs.observation_space.shape
    assert type(native_vector_env(EnvConfig(env_id), 3)) is type(envs.unwrapped)


def test_register_envs_is_idempotent_and_envs_stay_independent():
    register_envs()
    register_envs()
    assert all(i in gym.registry for i in ENV_IDS)
    code = (
        "import sys, evorl.envs, evorl.envs.pole_vector, evorl.envs.tmaze, evorl.envs.catch, "
        "evorl.envs.wrappers, evorl.envs.cartpole_vector; "
        "bad = [m for m in sys.modules if m.startswith(('evorl.agents', 'scripts', 'pygame'))]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def _walk(env: TMazeEnv, actions: list[int]) -> tuple[list, float, bool]:
    seen, total, terminated = [], 0.0, False
    for a in actions:
        obs, r, terminated, truncated, _ = env.step(a)
        seen.append(obs)
        total += r
        if terminated or truncated:
            break
    return seen, total, terminated


@pytest.mark.parametrize("length", [1, 10, 100])
def test_tmaze_rules(length):
    env = TMazeEnv(corridor_length=length)
    for goal, turn, other in ((0, NORTH, SOUTH), (1, SOUTH, NORTH)):
        obs, info = env.reset(options={"goal": goal})
        assert info["goal"] == goal
        np.testing.assert_array_equal(obs, [0, 1, 1] if goal == 0 else [1, 1, 0])
        seen, total, term = _walk(env, [EAST] * length + [turn])
        assert term and total == 4.0
        np.testing.assert_array_equal(seen[length - 1], [0, 1, 0])  # at the junction
        if length > 1:
            np.testing.assert_array_equal(seen[0], [1, 0, 1])  # in the corridor
        env.reset(options={"goal": goal})
        _, total, term = _walk(env, [EAST] * length + [other])
        assert term and total == pytest.approx(-0.1)
    env.reset(options={"goal": 0})
    _, total, term = _walk(env, [WEST, NORTH, SOUTH])  # three bumps into walls
    assert not term and total == pytest.approx(-0.3) and env.position == 0
    env.reset(options={"goal": 1})
    obs, *_ = env.step(EAST)
    obs, *_ = env.step(WEST)  # the cue belongs to the start position
    np.testing.assert_array_equal(obs, [1, 1, 0])


def test_tmaze_truncates_and_draws_random_goals():
    env = TMazeEnv(corridor_length=5, max_steps=7)
    env.reset(seed=0)
    _, _, term = _walk(env, [WEST] * 10)
    assert not term and env._steps == 7
    goals = {env.reset(seed=s)[1]["goal"] for s in range(20)}
    assert goals == {0, 1}


def test_catch_rules():
    env = CatchEnv(drift=True)
    for seed in range(20):
        obs, _ = env.reset(seed=seed)
        assert obs.shape == (24, 24) and obs.sum() == 3 and obs[0].sum() == 1
        steps, term, total = 0, False, 0.0
        while not term:
            centre = env.paddle + (env.paddle_width - 1) / 2
            target = env.ball_col + env.ball_vx * (23 - env.ball_row)  # ignores bounces
            action = 1 if abs(target - centre) < 1 else (2 if target > centre else 0)
            obs, r, term, trunc, info = env.step(action)
            total += r
            steps += 1
            assert not trunc
        assert steps == 23 and total in (1.0, -1.0) and (total == 1.0) == info["caught"]
    straight = CatchEnv(drift=False)
    straight.reset(seed=1)
    col = straight.ball_col
    rewards = [straight.step(1)[1] for _ in range(23)]
    assert straight.ball_col == col and rewards[-1] in (1.0, -1.0) and sum(rewards[:-1]) == 0


def test_catch_tracking_beats_standing_still():
    def play(policy) -> float:
        env, total = CatchEnv(drift=False), 0.0
        for seed in range(50):
            env.reset(seed=seed)
            term = False
            while not term:
                _, r, term, _, _ = env.step(policy(env))
                total += r
        return total

    track = play(
        lambda e: (
            1 if e.paddle <= e.ball_col < e.paddle + 2 else (2 if e.ball_col > e.paddle else 0)
        )
    )
    stand = play(lambda e: 1)
    assert track == 50.0 and stand < 0


def test_catch_landing_column_is_where_the_ball_lands():
    env, rng, bounced = CatchEnv(drift=True), np.random.default_rng(0), 0
    for seed in range(60):
        env.reset(seed=seed)
        predictions, term = [env.landing_column()], False
        while not term:
            vx = env.ball_vx
            _, _, term, _, _ = env.step(int(rng.integers(3)))
            bounced += env.ball_vx != vx
            predictions.append(env.landing_column())
        assert set(predictions) == {env.ball_col}, seed
    assert bounced > 5  # the seeds include wall bounces


def test_catch_predicting_the_landing_column_catches_every_ball():
    env, caught = CatchEnv(drift=True), 0
    for seed in range(100):
        env.reset(seed=seed)
        term = False
        while not term:
            target = env.landing_column()
            inside = env.paddle <= target < env.paddle + env.paddle_width
            action = 1 if inside else (2 if target > env.paddle else 0)
            _, _, term, _, info = env.step(action)
        caught += info["caught"]
    assert caught == 100
