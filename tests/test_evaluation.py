"""Evaluators: batched paths equal the serial reference bit for bit; statistics; stepping."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from evorl.config import ControllerConfig, EnvConfig, WrapperConfig
from evorl.controllers import build_controller
from evorl.env_factory import env_spec, make_env
from evorl.env_pool import EnvPool, make_pool
from evorl.errors import ConfigError
from evorl.evaluation import RunningObsStats, SerialEvaluator, VectorEvaluator
from evorl.evaluation.obs_norm import ObsSums
from evorl.evaluation.rollout import run_episodes


def population(env_cfg: EnvConfig, ctrl: ControllerConfig, size: int, scale: float, seed: int = 0):
    spec = env_spec(env_cfg)
    controller = build_controller(ctrl, spec.obs_dim, spec.action_space, seed=seed)
    rng = np.random.default_rng(seed)
    x0 = controller.get_flat().numpy().astype(np.float64)
    return controller, x0 + scale * rng.standard_normal((size, controller.num_params))


CASES = [
    # (env config, controller, population scale) — scales chosen so episode lengths vary widely
    (EnvConfig("CartPole-v1", observe=(0, 2)), ControllerConfig("lstm", (5,)), 1.0),
    (EnvConfig("CartPole-v1"), ControllerConfig("gru", (4,)), 0.5),
    (EnvConfig("Pendulum-v1", max_episode_steps=60), ControllerConfig("elman", (6,)), 0.5),
    (EnvConfig("Acrobot-v1", max_episode_steps=80), ControllerConfig("mlp", (8,)), 1.0),
]


@pytest.mark.parametrize(("env_cfg", "ctrl", "scale"), CASES)
def test_vector_evaluator_equals_serial_reference(env_cfg, ctrl, scale):
    controller, params = population(env_cfg, ctrl, size=9, scale=scale)
    seeds = np.array([11, 12, 13])
    reference = SerialEvaluator(env_cfg, controller).evaluate(params, seeds)
    assert len(np.unique(reference.lengths)) > 1 or env_cfg.id != "CartPole-v1"
    for vectorization in ("auto", "sync"):
        cfg = EnvConfig(**{**env_cfg.__dict__, "vectorization": vectorization})
        for max_envs in (1, 5, 64):  # queueing, partial and full batches
            result = VectorEvaluator(cfg, controller, max_envs).evaluate(params, seeds)
            np.testing.assert_array_equal(result.returns, reference.returns)
            np.testing.assert_array_equal(result.lengths, reference.lengths)
    assert result.fitness.shape == (9,)
    np.testing.assert_allclose(result.fitness, reference.returns.mean(axis=1))


def _drive(pool: EnvPool, steps: int, seed: int) -> list[np.ndarray]:
    """Random actions from a fixed generator, finished slots reset with new seeds."""
    rng, n = np.random.default_rng(seed), pool.num_envs
    trace = [pool.reset(np.arange(n), np.arange(100, 100 + n)).copy()]
    for t in range(steps):
        actions = rng.integers(0, 2, n)
        obs, reward, terminated, truncated = pool.step(actions, np.ones(n, bool))
        trace += [obs.copy(), reward, terminated, truncated]
        done = np.flatnonzero(terminated | truncated)
        if done.size:
            trace.append(pool.reset(done, 1000 * t + done).copy())
    return trace


@pytest.mark.parametrize(
    "cfg",
    [
        EnvConfig("Pendulum-v1", max_episode_steps=7, vectorization="sync"),
        # a user's wrapper: the pool steps the envs as they are, wrappers and all
        EnvConfig(
            "Pendulum-v1",
            max_episode_steps=7,
            vectorization="sync",
            wrappers=(WrapperConfig("TransformReward", {"func": abs}),),
        ),
    ],
)
def test_a_list_pool_steps_as_gym_make_envs_truncation_included(cfg):
    """The list backend steps the env under gym.make's wrappers and keeps TimeLimit itself:
    the same observations, rewards and flags as gym.make's envs stepped here, through three
    episodes of some slots and one of the others."""
    pool, rng = make_pool(cfg, 3), np.random.default_rng(5)
    reference = [gym.make("Pendulum-v1", max_episode_steps=7) for _ in range(3)]
    if cfg.wrappers:
        reference = [gym.wrappers.TransformReward(env, abs) for env in reference]
    obs = pool.reset(np.arange(3), np.arange(3)).copy()
    for slot, env in enumerate(reference):
        np.testing.assert_array_equal(obs[slot], env.reset(seed=slot)[0])
    active, truncations = np.array([True, True, False]), 0
    for t in range(18):
        actions = rng.uniform(-2, 2, (3, 1)).astype(np.float32)
        obs, reward, terminated, truncated = pool.step(actions, active)
        for slot in np.flatnonzero(active):
            o, r, term, trunc, _ = reference[slot].step(actions[slot])
            np.testing.assert_array_equal(obs[slot], o)
            assert (reward[slot], terminated[slot], truncated[slot]) == (r, term, trunc)
        assert not truncated[~active].any() and not reward[~active].any()
        for slot in np.flatnonzero(truncated):
            truncations += 1
            pool.reset(np.array([slot]), np.array([100 + t]))
            reference[slot].reset(seed=100 + t)
        active[2] = t >= 9  # slot 2 starts late: its step count is its own
    assert truncations == 5  # slots 0 and 1 after 7 and 14 steps, slot 2 after its 7th
    if cfg.wrappers:
        assert (reward[active] >= 0).all()


def test_native_cartpole_pool_is_found_and_steps_as_the_list_of_envs():
    from evorl.envs.cartpole_vector import CartPoleVectorEnv

    cfg = EnvConfig("CartPole-v1", observe=(0, 2))
    native, listed = (
        make_pool(cfg, 5),
        make_pool(EnvConfig("CartPole-v1", observe=(0, 2), vectorization="sync"), 5),
    )
    assert native.native and isinstance(native.vector, CartPoleVectorEnv)
    assert not listed.native and len(listed.envs) == 5
    for a, b in zip(_drive(native, 60, 0), _drive(listed, 60, 0), strict=True):
        np.testing.assert_array_equal(a, b)


class _SelfResetting(gym.vector.SyncVectorEnv):
    """A vector env that resets itself (Gymnasium's default): evorl cannot use it natively."""

    def __init__(self, num_envs: int = 1, **kwargs):
        super().__init__([lambda: gym.make("CartPole-v1") for _ in range(num_envs)])


class _Disabled(_SelfResetting):
    def __init__(self, num_envs: int = 1, **kwargs):
        gym.vector.SyncVectorEnv.__init__(
            self,
            [lambda: gym.make("CartPole-v1") for _ in range(num_envs)],
            autoreset_mode=gym.vector.AutoresetMode.DISABLED,
        )


def test_a_users_vector_env_is_found_through_its_vector_entry_point():
    """A registered ``vector_entry_point`` with autoreset disabled plugs in, no injection; one
    that resets itself is passed over (auto) or refused in one line (native)."""
    for env_id, creator in [
        ("test/Disabled-v0", _Disabled),
        ("test/SelfResetting-v0", _SelfResetting),
    ]:
        if env_id not in gym.registry:
            gym.register(
                env_id,
                "gymnasium.envs.classic_control:CartPoleEnv",
                vector_entry_point=creator,
                max_episode_steps=500,
            )
    pool = make_pool(EnvConfig("test/Disabled-v0"), 3)
    assert isinstance(pool.vector, _Disabled)
    assert not make_pool(EnvConfig("test/SelfResetting-v0"), 3).native
    with pytest.raises(ConfigError, match="no native vectorised version"):
        make_pool(EnvConfig("test/SelfResetting-v0", vectorization="native"), 3)


def test_observation_normalisation_matches_serial_and_statistics_are_exact():
    env_cfg = EnvConfig("CartPole-v1")
    controller, params = population(env_cfg, ControllerConfig("lstm", (4,)), 6, 1.0)
    seeds = np.array([3, 4])
    stats = RunningObsStats.empty(4)
    stats.merge(
        ObsSums(np.array([10.0]), np.full((1, 4), 2.0), np.full((1, 4), 1.0), np.zeros(1, int))
    )
    norm = stats.normalizer()
    ref = SerialEvaluator(env_cfg, controller).evaluate(params, seeds, norm, collect_obs=True)
    out = VectorEvaluator(env_cfg, controller, 4).evaluate(params, seeds, norm, collect_obs=True)
    np.testing.assert_array_equal(out.returns, ref.returns)
    np.testing.assert_array_equal(out.obs_sums.total, ref.obs_sums.total)
    np.testing.assert_array_equal(out.obs_sums.count, out.lengths.reshape(-1))


def test_running_stats_equal_numpy_over_all_observations():
    rng = np.random.default_rng(0)
    batches = [rng.normal(3.0, 2.0, size=(n, 3)) for n in (5, 40, 17)]
    stats = RunningObsStats.empty(3)
    for batch in batches:
        halves = np.array_split(batch, 2)
        stats.merge(
            ObsSums(
                np.array([len(h) for h in halves], float),
                np.stack([h.sum(0) for h in halves]),
                np.stack([(h * h).sum(0) for h in halves]),
                np.zeros(len(halves), int),
            )
        )
    everything = np.concatenate(batches)
    np.testing.assert_allclose(stats.mean, everything.mean(0), rtol=1e-12)
    np.testing.assert_allclose(stats.std, np.sqrt(everything.var(0) + 1e-8), rtol=1e-10)
    norm = stats.normalizer()
    np.testing.assert_allclose(
        norm(everything[:2]),
        np.clip((everything[:2] - everything.mean(0)) / np.sqrt(everything.var(0) + 1e-8), -5, 5),
    )


class CountSteps(gym.Wrapper):
    def __init__(self, env):
        super().__init__(env)
        self.steps = 0

    def step(self, action):
        self.steps += 1
        return self.env.step(action)


def test_finished_episodes_stop_stepping_and_states_reset_per_episode():
    env_cfg = EnvConfig("CartPole-v1", observe=(0, 2))
    controller, params = population(env_cfg, ControllerConfig("lstm", (4,)), 5, 1.0)
    envs = [CountSteps(make_env(env_cfg)) for _ in range(3)]
    pool = EnvPool(envs, observe=env_cfg.observe)
    individual = np.repeat(np.arange(5), 2)
    seeds = np.tile([7, 8], 5)
    out = run_episodes(
        controller, pool, torch.as_tensor(params, dtype=torch.float32), individual, seeds
    )
    # every env step belongs to exactly one episode: no finished env was stepped
    assert sum(e.steps for e in envs) == out.lengths.sum()
    # an episode run alone (fresh state) equals the same episode run after others in a slot
    alone = run_episodes(
        controller,
        EnvPool([make_env(env_cfg)], observe=env_cfg.observe),
        torch.as_tensor(params[4:5], dtype=torch.float32),
        np.array([0]),
        np.array([8]),
    )
    assert alone.returns[0] == out.returns[-1]


class BrokenSensor(gym.Wrapper):
    """Every 5th observation NaN or inf; logs what it returns, episode by episode."""

    def __init__(self, env):
        super().__init__(env)
        self.episodes: list[list[np.ndarray]] = []
        self.count = 0

    def _obs(self, obs):
        self.count += 1
        if self.count % 5 == 0:
            obs = obs.copy()
            obs[self.count % len(obs)] = np.nan if self.count % 10 else np.inf
        self.episodes[-1].append(np.asarray(obs, np.float64))
        return obs

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        self.episodes.append([])
        return self._obs(obs), info

    def step(self, action):
        obs, *rest = self.env.step(action)
        return (self._obs(obs), *rest)


def test_rollout_observation_sums_leave_out_nonfinite_observations():
    """Per task: the sums of the finite observations the controller saw (every observation of
    the episode but the one after its end), as a loop over the wrapper's log computes them."""
    env_cfg = EnvConfig("CartPole-v1")
    controller, params = population(env_cfg, ControllerConfig("lstm", (4,)), 4, 1.0)
    envs = [BrokenSensor(make_env(env_cfg)) for _ in range(3)]
    individual, seeds = np.repeat(np.arange(4), 2), np.arange(8) + 30
    out = run_episodes(
        controller,
        EnvPool(envs, observe=None),
        torch.as_tensor(params, dtype=torch.float32),
        individual,
        seeds,
        collect_obs=True,
    )
    seen = [ep[: len(ep) - 1] for env in envs for ep in env.episodes]
    assert sorted(len(ep) for ep in seen) == sorted(out.lengths.tolist())
    sums = out.obs_sums
    assert sums.nonfinite.sum() > 0
    for task in range(len(seeds)):  # match each task to its logged episode by its length/sum
        steps = out.lengths[task]
        candidates = []
        for ep in seen:
            finite = [o for o in ep if np.isfinite(o).all()]
            if len(ep) == steps and len(finite) == sums.count[task]:
                total = np.sum(finite, axis=0)
                candidates.append((np.abs(total - sums.total[task]).max(), finite, ep))
        error, finite, ep = min(candidates, key=lambda c: c[0])
        assert error < 1e-9
        assert sums.nonfinite[task] == len(ep) - len(finite)
        np.testing.assert_allclose(sums.squares[task], np.sum(np.square(finite), axis=0))
