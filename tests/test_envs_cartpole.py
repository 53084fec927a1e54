"""The native vectorised CartPole reproduces Gymnasium's CartPole-v1 bit for bit."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from evorl.config import EnvConfig
from evorl.env_factory import native_vector_env
from evorl.envs.cartpole_vector import CartPoleVectorEnv, trig_is_elementwise_exact
from evorl.envs.vector import env_seeds


def _run_against_gymnasium(
    vec: gym.vector.VectorEnv, env_id: str, seeds: list[int], steps: int, policy
) -> tuple[int, int]:
    """Steps ``vec`` and one ``gym.make(env_id)`` per seed with the same actions, resetting
    finished sub-envs (with fresh seeds) through ``reset_mask``; asserts that observations,
    rewards and flags are identical. Returns (steps compared, episodes truncated)."""
    n = len(seeds)
    singles = [gym.make(env_id) for _ in range(n)]
    obs, _ = vec.reset(seed=seeds)
    for i, env in enumerate(singles):
        assert np.array_equal(env.reset(seed=seeds[i])[0], obs[i])
    next_seed = max(seeds) + 1
    truncations = 0
    for _ in range(steps):
        actions = policy(obs)
        obs, rew, term, trunc, _ = vec.step(actions)
        for i, env in enumerate(singles):
            o, r, te, tr, _ = env.step(int(actions[i]))
            assert np.array_equal(o, obs[i]), (i, o, obs[i])
            assert (r, te, tr) == (rew[i], term[i], trunc[i])
        truncations += int(trunc.sum())
        done = term | trunc
        if done.any():
            new: list[int | None] = [None] * n
            fresh = {}
            for i in np.flatnonzero(done):
                new[i] = next_seed
                fresh[i] = singles[i].reset(seed=next_seed)[0]
                next_seed += 1
            obs, _ = vec.reset(seed=new, options={"reset_mask": done})
            for i, o in fresh.items():
                assert np.array_equal(obs[i], o)
    return n * steps, truncations


def test_trig_is_bit_exact_between_arrays_and_scalars():
    assert trig_is_elementwise_exact(num_probes=20000)


def test_matches_gymnasium_cartpole_v1_bit_for_bit():
    """Random actions: many short episodes ending in termination, each reset from a new seed."""
    rng = np.random.default_rng(0)
    vec = CartPoleVectorEnv(num_envs=32)
    compared, _ = _run_against_gymnasium(
        vec, "CartPole-v1", list(range(32)), 700, lambda obs: rng.integers(0, 2, len(obs))
    )
    assert compared == 32 * 700


def test_matches_gymnasium_until_truncation():
    """A balancing controller keeps episodes alive up to the 500-step time limit."""
    vec = CartPoleVectorEnv(num_envs=8)
    _, truncations = _run_against_gymnasium(
        vec,
        "CartPole-v1",
        list(range(100, 108)),
        520,
        lambda obs: (obs[:, 2] + 0.5 * obs[:, 3] > 0).astype(np.int64),
    )
    assert truncations > 0


def test_cartpolenovel_vector_equals_single_env_slices():
    rng = np.random.default_rng(1)
    vec = native_vector_env(EnvConfig("evorl/CartPoleNoVel-v0"), 6)
    assert vec.single_observation_space.shape == (2,)
    _run_against_gymnasium(
        vec, "evorl/CartPoleNoVel-v0", [5, 6, 7, 8, 9, 10], 300, lambda o: rng.integers(0, 2, 6)
    )


def test_make_vec_uses_the_native_class():
    envs = gym.make_vec("evorl/CartPoleNoVel-v0", num_envs=3)
    assert isinstance(envs.unwrapped, CartPoleVectorEnv)
    assert envs.unwrapped.max_episode_steps == 500


def test_seed_conventions_follow_syncvectorenv():
    assert env_seeds(None, 3) == [None, None, None]
    assert env_seeds(7, 3) == [7, 8, 9]
    assert env_seeds([1, None, 3], 3) == [1, None, 3]
    with pytest.raises(ValueError):
        env_seeds([1, 2], 3)
    vec = CartPoleVectorEnv(num_envs=3)
    sync = gym.make_vec("CartPole-v1", num_envs=3, vectorization_mode="sync")
    assert np.array_equal(vec.reset(seed=7)[0], sync.reset(seed=7)[0])
    # None continues each sub-env's own stream, like Env.reset(seed=None).
    assert np.array_equal(vec.reset()[0], sync.reset()[0])


def test_reset_mask_only_touches_masked_envs():
    vec = CartPoleVectorEnv(num_envs=4)
    obs0, _ = vec.reset(seed=[1, 2, 3, 4])
    vec.step(np.ones(4, dtype=np.int64))
    before = vec.state.copy()
    mask = np.array([False, True, False, True])
    obs, _ = vec.reset(seed=[None, 2, None, 4], options={"reset_mask": mask})
    assert np.array_equal(obs[mask], obs0[mask])
    assert np.array_equal(vec.state[:, ~mask], before[:, ~mask])
    assert list(vec.episode_steps) == [1, 0, 1, 0]
    with pytest.raises(ValueError):
        vec.reset(options={"reset_mask": np.zeros(4, dtype=np.bool_)})
    with pytest.raises(TypeError):
        vec.reset(options={"reset_mask": [True] * 4})


def test_finished_envs_stay_frozen_without_warnings(recwarn):
    vec = CartPoleVectorEnv(num_envs=2, max_episode_steps=5)
    vec.reset(seed=0)
    push = np.array([1, 1])
    for _ in range(5):
        obs, rew, term, trunc, _ = vec.step(push)
    assert trunc.all() and np.all(rew == 1.0)
    final = obs.copy()
    for _ in range(3):
        obs, rew, term2, trunc2, _ = vec.step(push)
        assert np.array_equal(obs, final) and np.all(rew == 0.0)
        assert np.array_equal(term2, term) and trunc2.all()
    assert list(vec.episode_steps) == [5, 5]
    assert len(recwarn) == 0


def test_metadata_spaces_and_render():
    vec = CartPoleVectorEnv(num_envs=3, render_mode="rgb_array")
    assert vec.metadata["autoreset_mode"] == gym.vector.AutoresetMode.DISABLED
    obs, _ = vec.reset(seed=0)
    assert obs.dtype == np.float32 and obs.shape == (3, 4) and obs.flags.c_contiguous
    assert vec.observation_space.contains(obs)
    frames = vec.render()
    assert len(frames) == 3 and frames[0].shape == (400, 600, 3) and frames[0].dtype == np.uint8
    assert (frames[0] != 255).any()
    assert native_vector_env(EnvConfig("evorl/TMaze-v0"), 2) is None
