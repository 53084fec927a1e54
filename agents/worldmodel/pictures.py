"""Pictures of a world model: V's reconstructions beside its inputs, and a dream beside reality.

* :func:`reconstructions` — a PNG with three labelled columns: collected frames, V's
  reconstructions of them (through μ), and where the two differ.
* :func:`dream_gif` — a GIF of three labelled panels per step: the real env, V's reconstruction
  of it, and a dream (M sampled at τ, decoded through V), both driven by the same controller,
  with a caption of the step and each side's return so far. When one episode ends before the
  other, its last frame stays, faded and marked with the step it ended at.
"""

from __future__ import annotations

from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import torch

from evorl.annotate import DARK, banner, caption, dim, panels
from evorl.controllers import Controller
from evorl.errors import ConfigError

from .dream_env import DreamEnv
from .models import load_vision
from .real_env import RealEnv
from .shards import read_shard, shard_paths
from .train import DATA
from .vae import to_frames, to_tensor

ZOOM = 2
"""Each 64 × 64 frame is drawn at twice its size."""
GAP = 2
"""Pixels between frames."""


def _zoom(frame: np.ndarray) -> np.ndarray:
    return np.kron(np.asarray(frame, np.uint8), np.ones((ZOOM, ZOOM, 1), np.uint8))


def _column(frames: list[np.ndarray]) -> np.ndarray:
    """Frames stacked top to bottom with white gaps."""
    gap = np.full((GAP, frames[0].shape[1], 3), 255, np.uint8)
    parts = [p for frame in frames for p in (frame, gap)][:-1]
    return np.concatenate(parts, axis=0)


def _difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|a - b| averaged over colour, doubled, as a grey frame (white = identical)."""
    diff = np.abs(a.astype(np.int16) - b.astype(np.int16)).mean(axis=-1) * 2
    grey = 255 - np.clip(diff, 0, 255).astype(np.uint8)
    return np.repeat(grey[:, :, None], 3, axis=2)


@torch.no_grad()
def reconstructions(directory: Path, path: Path, count: int = 6, seed: int = 0) -> Path:
    """Write a PNG of ``count`` collected frames (left column), V's reconstructions of them
    (middle) and their difference (right), each column labelled."""
    shards = shard_paths(directory / DATA)
    if not shards:
        raise ConfigError(f"no episodes in {directory / DATA}: run `evorl wm collect` first")
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(count):
        obs = read_shard(shards[rng.integers(len(shards))])["obs"]
        frames.append(obs[rng.integers(len(obs))])
    vae = load_vision(directory)
    recon = list(to_frames(vae.decode(vae.encode(to_tensor(np.stack(frames)))[0])))
    columns = [
        _column([_zoom(f) for f in frames]),
        _column([_zoom(r) for r in recon]),
        _column([_zoom(_difference(f, r)) for f, r in zip(frames, recon, strict=True)]),
    ]
    image = panels(["collected frame", "V's reconstruction", "difference (white: same)"], columns)
    path.parent.mkdir(parents=True, exist_ok=True)
    imageio.imwrite(path, image)
    return path


def _rollout(env, controller: Controller, weights, seed: int, steps: int) -> tuple[list, list]:
    """Frames (render) and rewards of one episode, cut after ``steps`` steps."""
    obs, _ = env.reset(seed=seed)
    state = controller.initial_state(1)
    frames, rewards, done = [env.render()], [], False
    while not done and len(frames) <= steps:
        action, state = controller.step(torch.from_numpy(obs[None]), state, weights)
        act = action.numpy()[0]
        obs, reward, terminated, truncated, _ = env.step(int(act) if act.ndim == 0 else act)
        rewards.append(float(reward))
        done = terminated or truncated
        frames.append(env.render())
    return frames, rewards


def _panel(frames: list[np.ndarray], t: int) -> np.ndarray:
    """Frame ``t``, or the last frame faded and marked when the episode ended before ``t``."""
    if t < len(frames):
        return _zoom(frames[t])
    return banner(dim(_zoom(frames[-1])), f"ended, step {len(frames) - 1}", DARK, size=12)


def dream_frames(
    real: list[np.ndarray],
    seen: list[np.ndarray],
    dream: list[np.ndarray],
    rewards: tuple[list[float], list[float]],
    temperature: float,
) -> list[np.ndarray]:
    """The GIF's frames: labelled real | V(real) | dream panels and a caption per step."""
    labels = ["real env", "V's reconstruction", f"dream, τ = {temperature:g}"]
    real_sums, dream_sums = (np.concatenate([[0.0], np.cumsum(r)]) for r in rewards)
    out = []
    for t in range(max(len(real), len(dream))):
        image = panels(labels, [_panel(real, t), _panel(seen, t), _panel(dream, t)])
        text = (
            f"step {t}   real return {real_sums[min(t, len(real_sums) - 1)]:.0f}   "
            f"dream return {dream_sums[min(t, len(dream_sums) - 1)]:.0f}"
        )
        out.append(caption(image, text))
    return out


@torch.no_grad()
def dream_gif(
    directory: Path,
    controller: Controller,
    params: np.ndarray,
    path: Path,
    temperature: float,
    seed: int = 0,
    steps: int = 300,
    done: str = "sample",
) -> tuple[Path, float, float]:
    """Write the real | V(real) | dream GIF (the dream ending episodes by ``done``, see
    :class:`~.dream_env.DreamVectorEnv`); returns the path and the real and dream returns."""
    root = str(directory.resolve())
    weights = controller.population_params(torch.as_tensor(params[None], dtype=torch.float32))
    real = RealEnv(root, render_mode="rgb_array")
    real_frames, real_rewards = _rollout(real, controller, weights, seed, steps)
    real.close()
    vae = load_vision(directory)
    seen = list(to_frames(vae.decode(vae.encode(to_tensor(np.stack(real_frames)))[0])))
    dream = DreamEnv(root, temperature, render_mode="rgb_array", done=done)
    dream_frames_, dream_rewards = _rollout(dream, controller, weights, seed, steps)
    frames = dream_frames(
        real_frames, seen, dream_frames_, (real_rewards, dream_rewards), temperature
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    imageio.mimsave(path, frames, duration=1000 / 30, loop=0)
    return path, float(sum(real_rewards)), float(sum(dream_rewards))
