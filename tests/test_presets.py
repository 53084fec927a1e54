"""Every built-in preset builds its env, controller and optimizer and runs a generation."""

from __future__ import annotations

import pytest

from evorl.builder import build_trainer
from evorl.config import load_config, preset_names


@pytest.mark.parametrize("name", [n for n in preset_names() if not n.startswith("popgym-")])
def test_preset_runs_one_tiny_generation(name):
    """(The POPGym presets run in tests/test_popgym.py.)"""
    overrides = [
        "--optimizer.popsize=4",
        "--eval.episodes=1",
        "--eval.test_every=1",
        "--eval.test_episodes=1",
        "--env.max_episode_steps=20",
        "--stop.generations=1",
    ]
    if load_config(name).eval.pole_protocol:  # its 100,000-step tests: test_pole_benchmark.py
        overrides.append("--eval.pole_protocol=null")
    config = load_config(name, overrides)
    trainer = build_trainer(config)
    try:
        state = trainer.run()
    finally:
        trainer.close()
    assert state.iteration == 1
    assert state.env_steps > 0
