"""The real environment as V and M see it: 64 × 64 × 3 frames and actions as vectors."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from PIL import Image

from evorl.config import EnvConfig
from evorl.env_factory import make_env

from .config import EnvSection


def make_real_env(section: EnvSection, render_mode: str | None = None) -> gym.Env:
    """The configured real env (pixel observations)."""
    config = EnvConfig(
        section.id, dict(section.kwargs), max_episode_steps=section.max_episode_steps
    )
    return make_env(config, render_mode=render_mode)


def to_frame(obs: np.ndarray, crop_bottom: int = 0) -> np.ndarray:
    """An env's RGB observation as a uint8 (64, 64, 3) frame (bottom rows cropped, resized)."""
    obs = np.asarray(obs, dtype=np.uint8)
    if crop_bottom:
        obs = obs[:-crop_bottom]
    if obs.shape[:2] != (64, 64):
        obs = np.asarray(Image.fromarray(obs).resize((64, 64), Image.BILINEAR))
    return obs


def action_dim(space: gym.spaces.Space) -> int:
    """Size of M's action input: n for Discrete(n) (one-hot), k for Box(k)."""
    if isinstance(space, gym.spaces.Discrete):
        return int(space.n)
    if isinstance(space, gym.spaces.Box) and len(space.shape) == 1:
        return int(space.shape[0])
    raise ValueError(f"world models need a Discrete or 1-D Box action space, got {space}")


def encode_actions(space: gym.spaces.Space, actions: np.ndarray) -> np.ndarray:
    """Actions (N,) or (N, k) as M's float32 inputs (N, action_dim)."""
    if isinstance(space, gym.spaces.Discrete):
        index = np.asarray(actions, dtype=np.int64).reshape(-1) - int(space.start)
        return np.eye(int(space.n), dtype=np.float32)[index]
    return np.asarray(actions, dtype=np.float32).reshape(len(actions), -1)
