"""The trained parts of a pipeline directory, loaded once per process and shared by its envs."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

from .mdnrnn import MDNRNN, MDNOutput, State
from .train import RNN_FILE, VAE_FILE, load_rnn, load_vae
from .vae import ConvVAE


@dataclass(frozen=True)
class Memory:
    """M with what a dream needs besides it: the action space and where episodes start."""

    rnn: MDNRNN
    action_space: gym.spaces.Space
    initial_mu: np.ndarray
    """(N, z) μ of the collected episodes' first frames."""
    initial_logvar: np.ndarray
    """(N, z) log σ² of the same frames."""


def load_memory(directory: str | Path) -> Memory:
    """M of a pipeline directory (cached per process while ``rnn.pt`` is unchanged)."""
    path = Path(directory).resolve()
    return _memory(path, (path / RNN_FILE).stat().st_mtime_ns if (path / RNN_FILE).exists() else 0)


def load_vision(directory: str | Path) -> ConvVAE:
    """V of a pipeline directory (cached per process while ``vae.pt`` is unchanged)."""
    path = Path(directory).resolve()
    return _vision(path, (path / VAE_FILE).stat().st_mtime_ns if (path / VAE_FILE).exists() else 0)


@functools.lru_cache(maxsize=4)
def _memory(path: Path, _mtime: int) -> Memory:
    rnn, payload = load_rnn(path)
    initial = payload["initial"]
    return Memory(rnn, payload["action_space"], initial["mu"], initial["logvar"])


@functools.lru_cache(maxsize=4)
def _vision(path: Path, _mtime: int) -> ConvVAE:
    return load_vae(path)[0]


@torch.no_grad()
def advance(
    rnn: MDNRNN, z: torch.Tensor, actions: torch.Tensor, state: State
) -> tuple[torch.Tensor, State, MDNOutput]:
    """One step of M for a batch: (z_t, a_t, state) → h_{t+1} (B, hidden), state, predictions."""
    out, state = rnn.lstm(torch.cat([z, actions], dim=-1)[None], state)
    return out[0], state, rnn.predict(out[0])
