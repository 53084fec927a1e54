"""The dream: M wrapped as a Gymnasium environment, so any evorl optimizer can train inside it.

Observations are ``[z_t, h_t]`` (the controller's inputs in Ha & Schmidhuber 2018); an episode
starts from the V-encoding of a collected episode's first frame (z drawn from N(μ, σ²)) and a zero
LSTM state. A step feeds ``[z_t, a_t]`` to M, samples z_{t+1} from its mixture at temperature τ,
takes the reward from the reward head, and ends the episode by the done head: with its
probability (``done="sample"``), or once that probability passes 0.5 (``done="threshold"``, Ha &
Schmidhuber's own Doom code, whose M weights deaths 10x in its loss; see ``rnn.done_pos_weight``).
It truncates the episode after ``max_steps``. No real environment runs.

Two forms, registered under Gymnasium ids (the module prefix makes ``gymnasium.make`` import it,
also on Ray workers)::

    gym.make("evorl.agents.worldmodel.dream_env:worldmodel/Dream-v0", directory=DIR, temperature=1)

* :class:`DreamVectorEnv` steps many dreams as one batch through M (autoreset disabled, per-env
  seeds and ``reset_mask``, evorl's vector conventions) — what the local evaluator uses.
* :class:`DreamEnv` is one dream (``check_env``, Ray's per-env pools, videos).

Each dream draws its randomness from a generator seeded by its reset seed alone, so an episode is
the same whichever batch it runs in (up to float rounding of the batched LSTM).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch

from .config import DONE_RULES
from .latent_env import LatentVectorEnv, OneEnv
from .mdnrnn import sample_mixture
from .models import load_memory, load_vision
from .vae import to_frames

DREAM_ID = "worldmodel/Dream-v0"
DREAM_MAKE_ID = f"evorl.agents.worldmodel.dream_env:{DREAM_ID}"
"""The id for ``gymnasium.make`` and evorl configs (imports this module, which registers it)."""
NOISE_CHUNK = 64
"""Steps of noise a dream draws from its generator at once (drawing per step is slow)."""


class DreamVectorEnv(LatentVectorEnv):
    """``num_envs`` dreams stepped as one batch; see the module docstring.

    Args:
        num_envs: Dreams stepped together.
        directory: A pipeline directory with a trained ``rnn.pt`` (and ``vae.pt`` to render).
        temperature: τ of M's sampling.
        max_steps: Time limit of a dream episode (truncation).
        done: ``"sample"`` (end with the done head's probability) or ``"threshold"`` (end
            when it is above 0.5).
        render_mode: ``None`` or ``"rgb_array"`` (z decoded through V, first dream).
    """

    def __init__(
        self,
        num_envs: int = 1,
        directory: str = "",
        temperature: float = 1.0,
        max_steps: int = 1000,
        render_mode: str | None = None,
        done: str = "sample",
    ) -> None:
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        if done not in DONE_RULES:
            raise ValueError(f"done must be one of {', '.join(DONE_RULES)}, got {done!r}")
        memory = load_memory(directory)
        self._init_latent(memory.rnn, memory.action_space, num_envs, render_mode)
        self.directory = directory
        self.memory = memory
        self.temperature = float(temperature)
        self.max_steps = int(max_steps)
        self.done = done
        self._t = np.zeros(num_envs, np.int64)
        self._rngs = [np.random.default_rng(0) for _ in range(num_envs)]
        self._noise = np.zeros((num_envs, NOISE_CHUNK, 2 * self.rnn.z_dim + 1), np.float32)
        self._cursor = np.full(num_envs, NOISE_CHUNK)

    def reset(
        self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        rows, seeds = self._reset_rows(seed, options)
        z0 = np.zeros((len(rows), self.rnn.z_dim), np.float32)
        for i, row in enumerate(rows):
            rng = np.random.default_rng(seeds[row])
            self._rngs[row] = rng
            start = rng.integers(len(self.memory.initial_mu))
            std = np.exp(0.5 * self.memory.initial_logvar[start])
            z0[i] = self.memory.initial_mu[start] + std * rng.standard_normal(self.rnn.z_dim)
        self._z[torch.as_tensor(rows)] = torch.from_numpy(z0)
        self._t[rows] = 0
        self._cursor[rows] = NOISE_CHUNK
        return self._observation(), {}

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, ...]:
        """Step every live dream; finished ones wait (unchanged, reward 0) for their reset."""
        actions, rows, refused = self._take(actions)
        reward = np.zeros(self.num_envs)
        terminated = np.zeros(self.num_envs, bool)
        truncated = np.zeros(self.num_envs, bool)
        self._refuse(refused, reward, terminated)
        if len(rows):
            pred = self._advance(rows, actions)
            noise = torch.from_numpy(self._draw(rows))
            z_dim = self.rnn.z_dim
            self._z[torch.as_tensor(rows)] = sample_mixture(
                pred.logits, pred.mu, pred.log_sigma, self.temperature,
                noise[:, :z_dim], noise[:, z_dim:-1],
            )  # fmt: skip
            if self.done == "threshold":  # p > 0.5; the noise is drawn all the same
                terminated[rows] = (pred.done_logit > 0).numpy()
            else:
                terminated[rows] = (noise[:, -1] < torch.sigmoid(pred.done_logit)).numpy()
            reward[rows] = pred.reward.numpy()
            self._t[rows] += 1
            truncated[rows] = (self._t[rows] >= self.max_steps) & ~terminated[rows]
        self._live &= ~(terminated | truncated)
        return self._observation(), reward, terminated, truncated, {}

    def render(self) -> np.ndarray | None:
        """The first dream's z decoded through V (``render_mode="rgb_array"``)."""
        if self.render_mode != "rgb_array":
            return None
        with torch.no_grad():
            return to_frames(load_vision(self.directory).decode(self._z[:1]))[0]

    def _draw(self, rows: np.ndarray) -> np.ndarray:
        """This step's noise of dreams ``rows``: U[0,1) (z_dim), N(0,1) (z_dim), U[0,1) (done)."""
        z_dim = self.rnn.z_dim
        for row in rows[self._cursor[rows] >= NOISE_CHUNK]:
            rng = self._rngs[row]
            self._noise[row, :, :z_dim] = rng.random((NOISE_CHUNK, z_dim))
            self._noise[row, :, z_dim:-1] = rng.standard_normal((NOISE_CHUNK, z_dim))
            self._noise[row, :, -1] = rng.random(NOISE_CHUNK)
            self._cursor[row] = 0
        out = self._noise[rows, self._cursor[rows]]
        self._cursor[rows] += 1
        return out


class DreamEnv(OneEnv):
    """One dream (a :class:`DreamVectorEnv` of one); arguments as there."""

    def __init__(
        self,
        directory: str = "",
        temperature: float = 1.0,
        max_steps: int = 1000,
        render_mode: str | None = None,
        done: str = "sample",
    ) -> None:
        self.vec = DreamVectorEnv(1, directory, temperature, max_steps, render_mode, done)
        self.observation_space = self.vec.single_observation_space
        self.action_space = self.vec.single_action_space
        self.render_mode = render_mode


if DREAM_ID not in gym.registry:
    gym.register(
        id=DREAM_ID,
        entry_point="evorl.agents.worldmodel.dream_env:DreamEnv",
        vector_entry_point="evorl.agents.worldmodel.dream_env:DreamVectorEnv",
    )
