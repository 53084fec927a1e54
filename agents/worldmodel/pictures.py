"""Pictures of a world model: V's reconstructions beside its inputs, and a dream beside reality.

* :func:`reconstructions` — a PNG: collected frames on the top row, V's reconstructions (through
  μ) below.
* :func:`dream_gif` — a GIF of three panels per step: the real env, V's reconstruction of it, and
  a dream (M sampled at τ, decoded through V), both driven by the same controller.
"""

from __future__ import annotations

from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import torch

from evorl.controllers import Controller
from evorl.errors import ConfigError

from .dream_env import DreamEnv
from .models import load_vision
from .real_env import RealEnv
from .shards import read_shard, shard_paths
from .train import DATA
from .vae import to_frames, to_tensor

GAP = 2
"""Pixels between panels."""


def _row(frames: list[np.ndarray]) -> np.ndarray:
    """Frames side by side with a white gap."""
    gap = np.full((frames[0].shape[0], GAP, 3), 255, np.uint8)
    parts = [p for frame in frames for p in (frame, gap)][:-1]
    return np.concatenate(parts, axis=1)


@torch.no_grad()
def reconstructions(directory: Path, path: Path, count: int = 8, seed: int = 0) -> Path:
    """Write a PNG of ``count`` collected frames (top) and their reconstructions (bottom)."""
    shards = shard_paths(directory / DATA)
    if not shards:
        raise ConfigError(f"no episodes in {directory / DATA}: run `evorl wm collect` first")
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(count):
        obs = read_shard(shards[rng.integers(len(shards))])["obs"]
        frames.append(obs[rng.integers(len(obs))])
    vae = load_vision(directory)
    recon = to_frames(vae.decode(vae.encode(to_tensor(np.stack(frames)))[0]))
    gap = np.full((GAP, _row(frames).shape[1], 3), 255, np.uint8)
    image = np.concatenate([_row(frames), gap, _row(list(recon))])
    path.parent.mkdir(parents=True, exist_ok=True)
    imageio.imwrite(path, np.kron(image, np.ones((2, 2, 1), np.uint8)))
    return path


def _rollout(env, controller: Controller, weights, seed: int, steps: int) -> tuple[list, float]:
    """Frames (render) and return of one episode, cut after ``steps`` steps."""
    obs, _ = env.reset(seed=seed)
    state = controller.initial_state(1)
    frames, total, done = [env.render()], 0.0, False
    while not done and len(frames) <= steps:
        action, state = controller.step(torch.from_numpy(obs[None]), state, weights)
        act = action.numpy()[0]
        obs, reward, terminated, truncated, _ = env.step(int(act) if act.ndim == 0 else act)
        total += reward
        done = terminated or truncated
        frames.append(env.render())
    return frames, total


@torch.no_grad()
def dream_gif(
    directory: Path,
    controller: Controller,
    params: np.ndarray,
    path: Path,
    temperature: float,
    seed: int = 0,
    steps: int = 300,
) -> tuple[Path, float, float]:
    """Write the real | V(real) | dream GIF; returns the path and the real and dream returns."""
    root = str(directory.resolve())
    weights = controller.population_params(torch.as_tensor(params[None], dtype=torch.float32))
    real = RealEnv(root, render_mode="rgb_array")
    real_frames, real_return = _rollout(real, controller, weights, seed, steps)
    real.close()
    vae = load_vision(directory)
    seen = to_frames(vae.decode(vae.encode(to_tensor(np.stack(real_frames)))[0]))
    dream = DreamEnv(root, temperature, render_mode="rgb_array")
    dream_frames, dream_return = _rollout(dream, controller, weights, seed, steps)
    length = max(len(real_frames), len(dream_frames))
    blank = np.zeros_like(seen[0])
    frames = []
    for t in range(length):
        panels = [
            real_frames[t] if t < len(real_frames) else blank,
            seen[t] if t < len(seen) else blank,
            dream_frames[t] if t < len(dream_frames) else blank,
        ]
        frames.append(np.kron(_row(panels), np.ones((2, 2, 1), np.uint8)))
    path.parent.mkdir(parents=True, exist_ok=True)
    imageio.mimsave(path, frames, duration=1000 / 30, loop=0)
    return path, real_return, dream_return
