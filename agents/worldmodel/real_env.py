"""The real environment seen through V and M: the controller's view when it acts for real.

Each step the real env's frame is encoded by V (z = μ, no sampling noise) and M's LSTM consumes
``[z_t, a_t]``; observations are ``[z_t, h_t]`` exactly as in the dream, so a controller evolved in
the dream transfers unchanged. Rewards and episode ends are the real env's.

Registered like the dream::

    gym.make("evorl.agents.worldmodel.real_env:worldmodel/Real-v0", directory=...)

:class:`RealVectorEnv` keeps many real envs and runs V and M on all their frames as one batch
(finished envs are not stepped until reset); :class:`RealEnv` is one of them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from .config import load_wm_config
from .latent_env import LatentVectorEnv, OneEnv
from .models import load_memory, load_vision
from .preprocess import make_real_env, to_frame
from .vae import to_tensor

REAL_ID = "worldmodel/Real-v0"
REAL_MAKE_ID = f"evorl.agents.worldmodel.real_env:{REAL_ID}"
"""The id for ``gymnasium.make`` and evorl configs (imports this module, which registers it)."""


class RealVectorEnv(LatentVectorEnv):
    """``num_envs`` real envs whose frames go through V and M as one batch.

    Args:
        num_envs: Real envs stepped together.
        directory: A pipeline directory with ``config.yaml``, ``vae.pt`` and ``rnn.pt``.
        render_mode: ``None`` or ``"rgb_array"`` (the first env's frame as V sees it).
    """

    def __init__(
        self, num_envs: int = 1, directory: str = "", render_mode: str | None = None
    ) -> None:
        self.section = load_wm_config(str(Path(directory) / "config.yaml")).env
        self.vae = load_vision(directory)
        self.envs = [make_real_env(self.section) for _ in range(num_envs)]
        rnn = load_memory(directory).rnn
        self._init_latent(rnn, self.envs[0].action_space, num_envs, render_mode)
        self._frames = np.zeros((num_envs, 64, 64, 3), np.uint8)

    def reset(
        self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        rows, seeds = self._reset_rows(seed, options)
        frames = [
            to_frame(self.envs[r].reset(seed=seeds[r])[0], self.section.crop_bottom) for r in rows
        ]
        self._z[torch.as_tensor(rows)] = self._encode(frames)
        self._frames[rows] = frames
        return self._observation(), {}

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, ...]:
        actions, rows, refused = self._take(actions)
        reward = np.zeros(self.num_envs)
        terminated = np.zeros(self.num_envs, bool)
        truncated = np.zeros(self.num_envs, bool)
        self._refuse(refused, reward, terminated)
        frames = []
        for r in rows:
            obs, reward[r], terminated[r], truncated[r], _ = self.envs[r].step(actions[r])
            frames.append(to_frame(obs, self.section.crop_bottom))
        if len(rows):
            self._advance(rows, actions)
            self._z[torch.as_tensor(rows)] = self._encode(frames)
            self._frames[rows] = frames
        self._live &= ~(terminated | truncated)
        return self._observation(), reward, terminated, truncated, {}

    @property
    def frames(self) -> np.ndarray:
        """(num_envs, 64, 64, 3) uint8: each env's latest frame, as V sees it (a view)."""
        return self._frames

    def render(self) -> np.ndarray | None:
        """The first env's 64 × 64 frame, as V sees it (``render_mode="rgb_array"``)."""
        return self._frames[0].copy() if self.render_mode == "rgb_array" else None

    def close_extras(self, **kwargs: Any) -> None:
        for env in self.envs:
            env.close()

    @torch.no_grad()
    def _encode(self, frames: list[np.ndarray]) -> torch.Tensor:
        return self.vae.encode(to_tensor(np.stack(frames)))[0]


class RealEnv(OneEnv):
    """One real env seen through V and M (a :class:`RealVectorEnv` of one)."""

    def __init__(self, directory: str = "", render_mode: str | None = None) -> None:
        self.vec = RealVectorEnv(1, directory, render_mode)
        self.observation_space = self.vec.single_observation_space
        self.action_space = self.vec.single_action_space
        self.render_mode = render_mode


if REAL_ID not in gym.registry:
    gym.register(
        id=REAL_ID,
        entry_point="evorl.agents.worldmodel.real_env:RealEnv",
        vector_entry_point="evorl.agents.worldmodel.real_env:RealVectorEnv",
    )
