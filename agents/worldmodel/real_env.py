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
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from .config import load_wm_config
from .dream_env import OneEnv, per_env_seeds
from .models import advance, load_memory, load_vision
from .preprocess import encode_actions, make_real_env, to_frame
from .vae import to_tensor

REAL_ID = "worldmodel/Real-v0"
REAL_MAKE_ID = f"evorl.agents.worldmodel.real_env:{REAL_ID}"
"""The id for ``gymnasium.make`` and evorl configs (imports this module, which registers it)."""


class RealVectorEnv(VectorEnv):
    """``num_envs`` real envs whose frames go through V and M as one batch.

    Args:
        num_envs: Real envs stepped together.
        directory: A pipeline directory with ``config.yaml``, ``vae.pt`` and ``rnn.pt``.
        render_mode: ``None`` or ``"rgb_array"`` (the first env's frame as V sees it).
    """

    metadata: ClassVar[dict[str, Any]] = {
        "autoreset_mode": AutoresetMode.DISABLED,
        "render_modes": ["rgb_array"],
    }

    def __init__(
        self, num_envs: int = 1, directory: str = "", render_mode: str | None = None
    ) -> None:
        self.section = load_wm_config(str(Path(directory) / "config.yaml")).env
        self.vae = load_vision(directory)
        memory = load_memory(directory)
        self.rnn = memory.rnn
        self.envs = [make_real_env(self.section) for _ in range(num_envs)]
        self.render_mode = render_mode
        self.num_envs = num_envs
        z_dim, hidden = self.rnn.z_dim, self.rnn.hidden
        self.single_observation_space = gym.spaces.Box(
            -np.inf, np.inf, (z_dim + hidden,), np.float32
        )
        self.single_action_space = self.envs[0].action_space
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self._z = torch.zeros(num_envs, z_dim)
        self._h = torch.zeros(num_envs, hidden)
        self._state = self.rnn.initial_state(num_envs)
        self._live = np.zeros(num_envs, bool)
        self._frames = np.zeros((num_envs, 64, 64, 3), np.uint8)

    def reset(
        self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        mask = np.ones(self.num_envs, bool)
        if options and options.get("reset_mask") is not None:
            mask = np.asarray(options["reset_mask"], bool)
        seeds = per_env_seeds(seed, self.num_envs)
        rows = np.flatnonzero(mask)
        frames = [
            to_frame(self.envs[r].reset(seed=seeds[r])[0], self.section.crop_bottom) for r in rows
        ]
        index = torch.as_tensor(rows)
        self._z[index] = self._encode(frames)
        self._frames[rows] = frames
        self._h[index] = 0.0
        for s in self._state:
            s[:, index] = 0.0
        self._live[rows] = True
        return self._observation(), {}

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, ...]:
        rows = np.flatnonzero(self._live)
        reward = np.zeros(self.num_envs)
        terminated = np.zeros(self.num_envs, bool)
        truncated = np.zeros(self.num_envs, bool)
        frames = []
        for r in rows:
            obs, reward[r], terminated[r], truncated[r], _ = self.envs[r].step(actions[r])
            frames.append(to_frame(obs, self.section.crop_bottom))
        if len(rows):
            index = torch.as_tensor(rows)
            encoded = encode_actions(self.single_action_space, np.asarray(actions)[rows])
            state = tuple(s[:, index] for s in self._state)
            h, state, _ = advance(self.rnn, self._z[index], torch.from_numpy(encoded), state)
            self._h[index] = h
            for full, part in zip(self._state, state, strict=True):
                full[:, index] = part
            self._z[index] = self._encode(frames)
            self._frames[rows] = frames
        self._live &= ~(terminated | truncated)
        return self._observation(), reward, terminated, truncated, {}

    def render(self) -> np.ndarray | None:
        """The first env's 64 × 64 frame, as V sees it (``render_mode="rgb_array"``)."""
        return self._frames[0].copy() if self.render_mode == "rgb_array" else None

    def close_extras(self, **kwargs: Any) -> None:
        for env in self.envs:
            env.close()

    @torch.no_grad()
    def _encode(self, frames: list[np.ndarray]) -> torch.Tensor:
        return self.vae.encode(to_tensor(np.stack(frames)))[0]

    def _observation(self) -> np.ndarray:
        return torch.cat([self._z, self._h], dim=1).numpy().copy()


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
