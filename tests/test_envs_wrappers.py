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


# --------------------------------------------------------------------------- env.wrappers

WRAPPERS_YAML = """
name: wrapped
env:
  id: CartPole-v1
  wrappers:
    - {name: mask, kwargs: {keep: [0, 2]}}
    - {name: noise, kwargs: {std: 0.1}}
    - {name: delay, kwargs: {k: 2}}
    - {name: TimeAwareObservation}
    - {name: "evorl.envs.wrappers:DelayObservation", kwargs: {k: 1}}
stop: {generations: 1}
"""


def _python_chain() -> gym.Env:
    env = MaskObservation(gym.make("CartPole-v1"), keep=[0, 2])
    env = DelayObservation(ObservationNoise(env, std=0.1), k=2)
    return DelayObservation(gym.wrappers.TimeAwareObservation(env), k=1)


def _chain(env: gym.Env) -> list[str]:
    names = []
    while isinstance(env, gym.Wrapper):
        names.append(type(env).__name__)
        env = env.env
    return names


def _steps(env: gym.Env, seed: int) -> list:
    obs, _ = env.reset(seed=seed)
    out = [obs]
    for t in range(40):
        obs, reward, term, trunc, _ = env.step((t // 3) % 2)
        out += [obs, reward, term, trunc]
        if term or trunc:
            break
    return out


def test_yaml_wrapper_list_equals_the_same_wrappers_built_in_python(tmp_path):
    from evorl.config import load_config
    from evorl.env_factory import make_env
    from evorl.env_pool import EnvPool

    path = tmp_path / "wrapped.yaml"
    path.write_text(WRAPPERS_YAML)
    cfg = load_config(str(path)).env
    assert [w.name for w in cfg.wrappers][:3] == ["mask", "noise", "delay"]
    env, reference = make_env(cfg), _python_chain()
    assert _chain(env) == _chain(reference)
    assert env.observation_space == reference.observation_space
    for seed in (0, 7):
        ours, theirs = _steps(env, seed), _steps(reference, seed)
        assert len(ours) == len(theirs)
        for a, b in zip(ours, theirs, strict=True):
            np.testing.assert_array_equal(a, b)
    # CartPole-v1 has a native vector version; wrappers wrap single envs, so the pool is a list
    pool = EnvPool.make(cfg, num_envs=2)
    assert not pool.native and pool.observation_dim == 3
    pool.close()


@pytest.mark.parametrize(
    ("wrappers", "match"),
    [
        ([{"name": "nosuch"}], r"env.wrappers\[0\]: unknown wrapper 'nosuch'"),
        ([{"name": "mask"}], r"env.wrappers\[0\] \(mask\): .*keep"),
        ([{"name": "delay", "kwargs": {"k": -1}}], r"env.wrappers\[0\] \(delay\): k must be"),
        ([{"name": "no_such_module_x:W"}], r"env.wrappers\[0\]: cannot import no_such_module_x"),
        ([{"name": "gymnasium.wrappers.vector:NormalizeObservation"}], "wraps vector envs"),
        (
            [{"name": "TimeAwareObservation", "kwargz": {}}],
            "unknown config key 'env.wrappers.kwargz'",
        ),
        (["mask"], "env.wrappers: expected a mapping"),
    ],
)
def test_bad_wrappers_fail_in_one_line(wrappers, match):
    from evorl.config import EnvConfig, from_dict
    from evorl.env_factory import make_env
    from evorl.errors import ConfigError

    with pytest.raises(ConfigError, match=match) as err:
        make_env(from_dict(EnvConfig, {"id": "CartPole-v1", "wrappers": wrappers}, "env"))
    assert "\n" not in str(err.value)


def test_wrappers_refuse_a_native_vector_env():
    from evorl.config import EnvConfig, WrapperConfig
    from evorl.errors import ConfigError

    with pytest.raises(ConfigError, match="wrap single envs"):
        EnvConfig("CartPole-v1", wrappers=(WrapperConfig("delay", {"k": 1}),),
                  vectorization="native")  # fmt: skip
