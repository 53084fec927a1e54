"""Partial-observability wrappers do exactly what they say."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from evorl.envs.wrappers import DelayObservation, MaskObservation, ObservationNoise


def _trajectory(env: gym.Env, seed: int, steps: int) -> list[np.ndarray]:
    obs, _ = env.reset(seed=seed)
    out = [obs]
    for t in range(steps):
        obs, _, term, trunc, _ = env.step(t % 2)
        out.append(obs)
        if term or trunc:
            break
    return out


def test_mask_keeps_the_chosen_entries_and_updates_the_space():
    base = gym.make("CartPole-v1")
    env = MaskObservation(gym.make("CartPole-v1"), keep=[2, 0])
    assert env.observation_space.shape == (2,)
    np.testing.assert_array_equal(env.observation_space.high, base.observation_space.high[[2, 0]])
    full, masked = _trajectory(base, 3, 30), _trajectory(env, 3, 30)
    for f, m in zip(full, masked, strict=True):
        np.testing.assert_array_equal(m, f[[2, 0]])
        assert env.observation_space.contains(m)
    with pytest.raises(ValueError):
        MaskObservation(gym.make("CartPole-v1"), keep=[])


def test_delay_shifts_by_k_and_repeats_the_initial_observation():
    k = 3
    full = _trajectory(gym.make("CartPole-v1"), 5, 20)
    delayed = _trajectory(DelayObservation(gym.make("CartPole-v1"), k), 5, 20)
    assert len(full) == len(delayed)
    for t, obs in enumerate(delayed):
        np.testing.assert_array_equal(obs, full[max(t - k, 0)])
    identity = _trajectory(DelayObservation(gym.make("CartPole-v1"), 0), 5, 20)
    for a, b in zip(identity, full, strict=True):
        np.testing.assert_array_equal(a, b)


def test_noise_has_the_right_std_and_is_reproducible():
    std = np.array([0.0, 0.1, 0.5, 2.0])
    env = ObservationNoise(gym.make("CartPole-v1"), std)
    clean = _trajectory(gym.make("CartPole-v1"), 9, 10)
    noisy = _trajectory(env, 9, 10)
    assert np.array_equal(noisy[0][0], clean[0][0])  # std 0 leaves the entry alone
    assert not np.array_equal(noisy[0], clean[0])
    assert all(np.array_equal(a, b) for a, b in zip(_trajectory(env, 9, 10), noisy, strict=True))
    clean10 = _trajectory(gym.make("CartPole-v1"), 10, 10)
    noise10 = _trajectory(env, 10, 10)[0] - clean10[0]
    assert not np.allclose(noise10, noisy[0] - clean[0])  # another seed, other noise
    # The underlying env's stream is untouched: same start state as the clean env.
    env.reset(seed=9)
    np.testing.assert_array_equal(env.unwrapped.state.astype(np.float32), clean[0])
    # Empirical std over many observations of a frozen state.
    samples = np.array([env.observation(np.zeros(4, np.float32)) for _ in range(20000)])
    np.testing.assert_allclose(samples.std(axis=0), std, rtol=0.03, atol=1e-9)
    np.testing.assert_allclose(samples.mean(axis=0), 0.0, atol=0.05)
    assert samples.dtype == np.float32
    # Noisy entries become unbounded; noiseless ones keep their bounds.
    assert env.observation_space.high[0] == np.float32(4.8) and np.isinf(
        env.observation_space.high[2]
    )
