"""Shared fixtures (tests and doctests): one torch thread, small configs."""

from __future__ import annotations

import pytest
import torch

from evorl.config import load_config


@pytest.fixture(autouse=True)
def one_torch_thread():
    """One torch thread per test: the nets here are tiny, and on a 2-core machine shared with
    other work torch's default thread pool makes them many times slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


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
