"""Evaluators: batched paths equal the serial reference bit for bit; statistics; stepping."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from evorl.config import ControllerConfig, EnvConfig
from evorl.controllers import build_controller
from evorl.env_factory import SyncPool, env_spaces, make_pool
from evorl.evaluation import RunningObsStats, SerialEvaluator, VectorEvaluator
from evorl.evaluation.obs_norm import ObsSums
from evorl.evaluation.rollout import run_episodes


def population(env_cfg: EnvConfig, ctrl: ControllerConfig, size: int, scale: float, seed: int = 0):
    obs_dim, space = env_spaces(env_cfg)
    controller = build_controller(ctrl, obs_dim, space, seed=seed)
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


def test_native_cartpole_pool_is_used_and_matches_sync():
    cfg = EnvConfig("CartPole-v1", observe=(0, 2))
    assert type(make_pool(cfg, 4)).__name__ == "VectorPool"
    assert type(make_pool(EnvConfig("CartPole-v1", vectorization="sync"), 4)).__name__ == "SyncPool"


def test_observation_normalisation_matches_serial_and_statistics_are_exact():
    env_cfg = EnvConfig("CartPole-v1")
    controller, params = population(env_cfg, ControllerConfig("lstm", (4,)), 6, 1.0)
    seeds = np.array([3, 4])
    stats = RunningObsStats.empty(4)
    stats.merge(ObsSums(np.array([10.0]), np.full((1, 4), 2.0), np.full((1, 4), 1.0)))
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
    from evorl.env_factory import make_env

    envs = [CountSteps(make_env(env_cfg)) for _ in range(3)]
    pool = SyncPool(envs)
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
        SyncPool([make_env(env_cfg)]),
        torch.as_tensor(params[4:5], dtype=torch.float32),
        np.array([0]),
        np.array([8]),
    )
    assert alone.returns[0] == out.returns[-1]
