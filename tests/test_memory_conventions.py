"""Memory-task conventions: test episodes start from a fresh recurrent state (and a cleared
previous action and reward), in evolution's and in gradient training's tests alike.

The tests run their test episodes back to back in one env slot (``max_envs: 1``), where a
carried-over state would show, and compare them with the textbook loop that starts every
episode from ``initial_state`` (:class:`~evorl.evaluation.SerialEvaluator`). Each test also
proves it can fail: with the state reset switched off, the scores differ.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from evorl import seeding
from evorl.builder import build_trainer, controller_for
from evorl.config import load_config
from evorl.controllers import Controller
from evorl.evaluation import SerialEvaluator
from evorl.gradient.config import load_gradient_config

ENV = [
    "env.id=evorl/TMaze-v0",
    "env.kwargs={corridor_length: 4}",
    "env.observe=null",
    "env.previous_action=true",
    "env.previous_reward=true",
]


def _evolution():
    return load_config(
        "cartpole-novel",
        [f"--{o}" for o in ENV]
        + ["--eval.max_envs=1", "--eval.test_episodes=8", "--stop.generations=1"],
    )


def _gradient():
    return load_gradient_config(
        "tmaze-10", [*ENV, "eval.max_envs=1", "eval.test_episodes=8", "stop.iterations=1"]
    )


def _scores(config) -> tuple[float, float]:
    """The tester's score, and the reference: every episode from a fresh state, one by one."""
    trainer = build_trainer(config)
    learner = trainer.learner
    params = 3.0 * learner.policy_params()  # a controller whose actions depend on its state
    learner.policy_params = lambda: params
    try:
        tested = trainer.tester.test(learner, None, trainer.state).score
    finally:
        trainer.close()
    controller, _ = controller_for(config.env, config.controller, config.seed)
    seeds = seeding.episode_seeds(
        config.seed, seeding.STREAM_TEST_EPISODES, 0, trainer.tester.episodes
    )
    reference = SerialEvaluator(config.env, controller)
    try:
        alone = reference.evaluate(params[None], seeds, learner.normalizer()).returns.mean()
    finally:
        reference.close()
    return float(tested), float(alone)


@pytest.mark.parametrize("make_config", [_evolution, _gradient], ids=["evolution", "gradient"])
def test_test_episodes_start_from_a_fresh_recurrent_state(make_config, monkeypatch):
    tested, alone = _scores(make_config())
    assert tested == alone
    # the same comparison catches a tester whose episodes carry the state over
    monkeypatch.setattr(Controller, "reset_state", lambda self, state, mask: state)
    carried, alone_again = _scores(make_config())
    assert alone_again == alone and carried != alone


def test_training_rollouts_reset_state_and_previous_action_at_episode_starts():
    """PPO's collector: at every episode start the state is zero and the row's previous
    action and reward are zeros."""
    from evorl.env_pool import EnvPool
    from evorl.gradient.learner import build_policy
    from evorl.gradient.rollouts import collect_steps, start_carry

    config = _gradient()
    policy, spec = build_policy(config)
    envs = EnvPool.make(config.env, num_envs=3, replayable=True)
    carry = start_carry(policy, envs, np.array([1, 2, 3]))
    rollout = collect_steps(
        policy, envs, carry, 40, torch.Generator().manual_seed(0), np.random.default_rng(0)
    )
    envs.close()
    start = rollout.episode_start
    assert start[1:].any(), "no episode ended inside the rollout"
    extra = spec.obs_dim - spec.observation.obs_dim
    assert torch.all(rollout.obs[start][:, -extra:] == 0)
    assert torch.all(rollout.obs[1:][~start[1:]][:, -extra:].abs().sum(-1) > 0)
    for s in rollout.states:
        assert torch.all(s[start] == 0)
