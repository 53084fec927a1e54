"""What the dream and the real view share: vector envs whose observations are M's ``[z_t, h_t]``.

:class:`LatentVectorEnv` holds the bookkeeping both keep per env (z, M's hidden output h and
LSTM state, which envs are live), resets rows of it and steps M's LSTM on the live rows;
:class:`OneEnv` makes either a single Gymnasium env. evorl's vector conventions apply: autoreset
disabled, per-env seeds (:func:`per_env_seeds`) and ``options["reset_mask"]``.

Both guard what they are given (:meth:`LatentVectorEnv._take`): a Box action is clipped to the
space's bounds, and a row whose action has a NaN or infinite entry (or a Discrete action out of
range) is not stepped: its episode ends there, terminated, with a NaN reward, which evorl's
evolution ranks below the generation's worst (``nan_fitness``). Box2D and M would otherwise take
the NaN and carry on with a state no frame can show.
"""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from .mdnrnn import MDNRNN, MDNOutput
from .models import advance
from .preprocess import encode_actions


class LatentVectorEnv(VectorEnv):
    """``num_envs`` envs seen as M's ``[z_t, h_t]``; subclasses set z and step the world."""

    metadata: ClassVar[dict[str, Any]] = {
        "autoreset_mode": AutoresetMode.DISABLED,
        "render_modes": ["rgb_array"],
    }

    def _init_latent(
        self, rnn: MDNRNN, action_space: gym.Space, num_envs: int, render_mode: str | None
    ) -> None:
        self.rnn = rnn
        self.num_envs = num_envs
        self.render_mode = render_mode
        z_dim, hidden = rnn.z_dim, rnn.hidden
        self.single_observation_space = gym.spaces.Box(
            -np.inf, np.inf, (z_dim + hidden,), np.float32
        )
        self.single_action_space = action_space
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self._z = torch.zeros(num_envs, z_dim)
        self._h = torch.zeros(num_envs, hidden)
        self._state = rnn.initial_state(num_envs)
        self._live = np.zeros(num_envs, bool)

    def _reset_rows(
        self, seed: int | list[int | None] | None, options: dict[str, Any] | None
    ) -> tuple[np.ndarray, list[int | None]]:
        """The rows to reset (``options["reset_mask"]``, else all), made live with h and M's
        state zeroed, and every env's seed; the subclass sets their z."""
        mask = np.ones(self.num_envs, bool)
        if options and options.get("reset_mask") is not None:
            mask = np.asarray(options["reset_mask"], bool)
        seeds = per_env_seeds(seed, self.num_envs)
        rows = np.flatnonzero(mask)
        index = torch.as_tensor(rows)
        self._h[index] = 0.0
        for s in self._state:
            s[:, index] = 0.0
        self._live[rows] = True
        return rows, seeds

    def end(self, rows: np.ndarray) -> None:
        """Stop stepping ``rows`` (an episode cut short by the caller) until they are reset."""
        self._live[rows] = False

    def _take(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(actions, rows, refused)``: the actions as the env takes them (Box: clipped to the
        bounds), the live rows that step, and the live rows whose action cannot be taken (NaN
        or infinite entries, a Discrete index out of range); see the module docstring."""
        space = self.single_action_space
        live = np.flatnonzero(self._live)
        actions = np.asarray(actions)
        if isinstance(space, gym.spaces.Box):
            flat = actions.reshape(self.num_envs, -1)
            valid = np.isfinite(flat).all(axis=1)
            if (
                not valid.all()
                or (flat < space.low.reshape(-1)).any()
                or (flat > space.high.reshape(-1)).any()
            ):
                actions = np.clip(actions, space.low, space.high).astype(space.dtype)
        elif isinstance(space, gym.spaces.Discrete):
            index = actions.reshape(self.num_envs)
            valid = (index >= space.start) & (index < space.start + space.n)
        else:
            valid = np.ones(self.num_envs, bool)
        return actions, live[valid[live]], live[~valid[live]]

    def _refuse(self, rows: np.ndarray, reward: np.ndarray, terminated: np.ndarray) -> None:
        """End the episodes of ``rows`` (actions refused by :meth:`_take`) with a NaN reward."""
        reward[rows] = np.nan
        terminated[rows] = True

    def _advance(self, rows: np.ndarray, actions: np.ndarray) -> MDNOutput:
        """M's LSTM consumes ``[z_t, a_t]`` on ``rows`` (non-empty), updating h and its state;
        returns M's prediction of z_{t+1}, reward and done."""
        index = torch.as_tensor(rows)
        encoded = encode_actions(self.single_action_space, np.asarray(actions)[rows])
        state = tuple(s[:, index] for s in self._state)
        h, state, pred = advance(self.rnn, self._z[index], torch.from_numpy(encoded), state)
        self._h[index] = h
        for full, part in zip(self._state, state, strict=True):
            full[:, index] = part
        return pred

    def _observation(self) -> np.ndarray:
        return torch.cat([self._z, self._h], dim=1).numpy().copy()


class OneEnv(gym.Env):
    """A Gymnasium env made of a vector env of one (``self.vec``): the dream's and the real
    view's single-env forms."""

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": 30}
    vec: VectorEnv

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        inner_seed = seed if seed is not None else int(self.np_random.integers(2**31 - 1))
        obs, info = self.vec.reset(seed=[inner_seed])
        return obs[0], info

    def step(self, action) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.vec.step(np.asarray([action]))
        return obs[0], float(reward[0]), bool(terminated[0]), bool(truncated[0]), info

    def render(self) -> np.ndarray | None:
        return self.vec.render()

    def close(self) -> None:
        self.vec.close()


def per_env_seeds(seed: int | list[int | None] | None, num_envs: int) -> list[int | None]:
    """Gymnasium's convention: an int seeds env i with seed + i; a list seeds env by env."""
    if seed is None:
        return [None] * num_envs
    if isinstance(seed, int | np.integer):
        return [int(seed) + i for i in range(num_envs)]
    if len(seed) != num_envs:
        raise ValueError(f"need {num_envs} seeds, got {len(seed)}")
    return list(seed)
