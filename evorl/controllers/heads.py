"""Action heads: turn a controller's raw outputs into actions of a Gymnasium space.

Heads hold no trainable parameters (Box bounds are non-persistent buffers), so they never
appear in the flat parameter vector.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch


class DiscreteHead(torch.nn.Module):
    """``Discrete(n, start)``: action ``start + argmax`` of the n outputs, int64 of shape (B,)."""

    def __init__(self, space: gym.spaces.Discrete) -> None:
        super().__init__()
        self.out_dim = int(space.n)
        self.start = int(space.start)

    def forward(self, outputs: torch.Tensor) -> torch.Tensor:
        return torch.argmax(outputs, dim=-1) + self.start


class BoxHead(torch.nn.Module):
    """``Box(low, high, shape=(k,))``: k outputs mapped into the bounds, float32 of shape (B, k).

    ``mode="tanh"`` squashes with tanh and scales affinely onto [low, high]; ``mode="clip"`` clips
    the linear outputs. A final clamp guards the bounds against rounding in the affine map.
    """

    def __init__(self, space: gym.spaces.Box, mode: str) -> None:
        super().__init__()
        if len(space.shape) != 1:
            raise ValueError(f"Box action spaces must be 1-D (k,), got shape {space.shape}")
        low = np.asarray(space.low, dtype=np.float64)
        high = np.asarray(space.high, dtype=np.float64)
        if mode == "tanh" and not (np.isfinite(low).all() and np.isfinite(high).all()):
            raise ValueError("continuous_action='tanh' needs finite Box bounds; use 'clip'")
        self.out_dim = int(space.shape[0])
        self.mode = mode
        self.register_buffer("low", torch.as_tensor(low, dtype=torch.float32), persistent=False)
        self.register_buffer("high", torch.as_tensor(high, dtype=torch.float32), persistent=False)
        self._cache: dict[tuple, tuple[torch.Tensor, ...]] = {}

    def forward(self, outputs: torch.Tensor) -> torch.Tensor:
        low, high, mid, half = self._bounds(outputs)
        if self.mode == "tanh":
            outputs = mid + half * torch.tanh(outputs)
        outputs = torch.clamp(outputs, low, high)
        return outputs if outputs.dtype == torch.float32 else outputs.to(torch.float32)

    def _bounds(self, outputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``low, high`` and the tanh map's ``mid, half`` in the outputs' dtype and device,
        computed once per dtype and device (a population step is a few small operations)."""
        key = (outputs.dtype, outputs.device, self.low.device)
        cached = self._cache.get(key)
        if cached is None:
            low = self.low.to(device=outputs.device, dtype=outputs.dtype)
            high = self.high.to(device=outputs.device, dtype=outputs.dtype)
            cached = (low, high, 0.5 * (high + low), 0.5 * (high - low))
            self._cache[key] = cached
        return cached


def make_head(space: gym.spaces.Space, continuous_action: str) -> torch.nn.Module:
    """Build the action head for ``space``; raises ValueError for unsupported spaces."""
    if isinstance(space, gym.spaces.Discrete):
        return DiscreteHead(space)
    if isinstance(space, gym.spaces.Box):
        return BoxHead(space, continuous_action)
    raise ValueError(f"unsupported action space {space!r}; expected Discrete or 1-D Box")
