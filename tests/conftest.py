"""Shared fixtures: small configs and a temporary run folder."""

from __future__ import annotations

import pytest

from evorl.config import load_config


@pytest.fixture
def tiny_config(tmp_path):
    """A seconds-long CartPole-without-velocities run writing under tmp_path."""

    def make(*overrides: str):
        base = [
            f"--out={tmp_path / 'runs'}",
            "--controller.hidden=[4]",
            "--optimizer.popsize=6",
            "--eval.episodes=2",
            "--eval.test_every=2",
            "--eval.test_episodes=3",
            "--stop.generations=4",
            "--stop.wall_time=null",
            "--stop.target=null",
        ]
        return load_config("cartpole-novel", base + list(overrides))

    return make
