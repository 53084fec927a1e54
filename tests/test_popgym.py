"""POPGym through evorl: every preset runs one generation of evolution and one PPO update.

Between them the presets cover every observation kind POPGym has (Discrete, MultiDiscrete,
Tuple, Box) and every action kind (Discrete, MultiDiscrete, Box); a test checks that they do.
Skipped where popgym is not installed (it is in the ``dev`` extra, so CI runs them).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from evorl.builder import build_trainer
from evorl.config import load_config, preset_names
from evorl.env_factory import env_spec
from evorl.gradient.config import load_gradient_config
from evorl.gradient.config import preset_names as gradient_preset_names

pytest.importorskip("popgym")

POPGYM = [n for n in preset_names() if n.startswith("popgym-")]


def test_evolution_and_ppo_have_the_same_popgym_tasks():
    assert len(POPGYM) >= 12
    assert [n for n in gradient_preset_names() if n.startswith("popgym-")] == POPGYM
    for name in POPGYM:  # one env convention per task, shared by both learners
        assert load_config(name).env == load_gradient_config(name).env


def test_previous_action_is_appended_where_popgym_says_the_observation_needs_it():
    from evorl.env_factory import make_env

    for name in POPGYM:
        env = load_config(name).env
        needs = make_env(env).unwrapped.obs_requires_prev_action
        assert env.previous_action == needs, name


def test_popgym_presets_cover_every_observation_and_action_kind():
    observed, acted = set(), set()
    for name in POPGYM:
        spec = env_spec(load_config(name).env)
        observed.add(type(spec.observation_space).__name__)
        acted.add(type(spec.action_space).__name__)
        flat = gym.spaces.flatdim(spec.observation_space)
        extra = (
            gym.spaces.flatdim(spec.action_space) if load_config(name).env.previous_action else 0
        )
        assert spec.obs_dim == flat + extra
    assert observed >= {"Discrete", "MultiDiscrete", "Tuple", "Box"}
    assert acted >= {"Discrete", "MultiDiscrete", "Box"}


@pytest.mark.parametrize("name", POPGYM)
def test_popgym_preset_runs_one_generation(name):
    config = load_config(
        name,
        [
            "--optimizer.popsize=4",
            "--controller.hidden=[4]",
            "--eval.test_every=1",
            "--eval.test_episodes=2",
            "--env.max_episode_steps=20",
            "--stop.env_steps=null",
            "--stop.generations=1",
        ],
    )
    trainer = build_trainer(config)
    try:
        state = trainer.run()
    finally:
        trainer.close()
    assert state.iteration == 1 and state.env_steps > 0
    assert np.isfinite(state.champion_score) and -1.0 <= state.champion_score <= 1.0


@pytest.mark.parametrize("name", POPGYM)
def test_popgym_preset_runs_one_ppo_update(name):
    config = load_gradient_config(
        name,
        [
            "controller.hidden=[4]",
            "ppo.num_envs=2",
            "ppo.steps=16",
            "ppo.bptt=8",
            "ppo.minibatches=2",
            "ppo.epochs=1",
            "env.max_episode_steps=10",
            "eval.test_every=1",
            "eval.test_episodes=2",
            "stop.env_steps=null",
            "stop.iterations=1",
        ],
    )
    trainer = build_trainer(config)
    try:
        state = trainer.run()
    finally:
        trainer.close()
    assert state.iteration == 1 and state.env_steps == 32
    assert np.isfinite(state.champion_score)
