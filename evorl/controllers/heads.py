"""Action heads: turn a controller's raw outputs into actions of a Gymnasium space.

The output layout of every space comes from :func:`evorl.spaces.action_components` (the one
place evorl reads spaces); the heads here are deterministic (evolution acts with them, and they
are the mode of the stochastic heads of :mod:`evorl.gradient.policy`):

* ``Discrete(n, start)``: ``start + argmax`` of the n outputs, int64 (B,);
* ``MultiDiscrete(nvec, start)``: an argmax per component over its ``nvec[i]`` outputs (the
  outputs are the components' logits side by side, as ``gymnasium.spaces.flatten`` lays out
  one-hots), int64 (B, k);
* ``MultiBinary(shape)``: 1 where the output is positive, int8 (B, *shape);
* ``Box(low, high, shape)``: ``prod(shape)`` outputs (row-major) mapped into the bounds (tanh or
  clip), float32 (B, *shape).

Heads hold no trainable parameters (Box bounds are non-persistent buffers), so they never
appear in the flat parameter vector.

Example:
    >>> import gymnasium as gym
    >>> head = make_head(gym.spaces.MultiDiscrete([2, 3]), "tanh")
    >>> head(torch.tensor([[0.1, 0.9, 2.0, 0.0, 1.0]])).tolist()
    [[1, 0]]
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch

from evorl.spaces import action_components


class CategoricalHead(torch.nn.Module):
    """``Discrete`` / ``MultiDiscrete``: an argmax per component, plus its ``start``."""

    def __init__(self, space: gym.spaces.Discrete | gym.spaces.MultiDiscrete) -> None:
        super().__init__()
        layout = action_components(space)
        self.out_dim = layout.size
        self.sizes = layout.sizes
        self.multi = isinstance(space, gym.spaces.MultiDiscrete)
        self.register_buffer("start", torch.tensor(layout.start), persistent=False)

    def forward(self, outputs: torch.Tensor) -> torch.Tensor:
        if not self.multi:
            return torch.argmax(outputs, dim=-1) + self.start[0]
        parts = torch.split(outputs, self.sizes, dim=-1)
        return torch.stack([torch.argmax(p, dim=-1) for p in parts], dim=-1) + self.start


class BinaryHead(torch.nn.Module):
    """``MultiBinary``: 1 where the output (a Bernoulli logit) is positive, int8."""

    def __init__(self, space: gym.spaces.MultiBinary) -> None:
        super().__init__()
        self.out_dim = action_components(space).size
        self.shape = tuple(space.shape)

    def forward(self, outputs: torch.Tensor) -> torch.Tensor:
        return (outputs > 0).to(torch.int8).reshape(*outputs.shape[:-1], *self.shape)


class BoxHead(torch.nn.Module):
    """``Box(low, high, shape)``: one output per entry mapped into the bounds, float32 of shape
    (B, *shape).

    ``mode="tanh"`` squashes with tanh and scales affinely onto [low, high]; ``mode="clip"`` clips
    the linear outputs. A final clamp guards the bounds against rounding in the affine map.
    """

    def __init__(self, space: gym.spaces.Box, mode: str) -> None:
        super().__init__()
        low = np.asarray(space.low, dtype=np.float64).reshape(-1)
        high = np.asarray(space.high, dtype=np.float64).reshape(-1)
        if mode == "tanh" and not (np.isfinite(low).all() and np.isfinite(high).all()):
            raise ValueError("continuous_action='tanh' needs finite Box bounds; use 'clip'")
        self.out_dim = action_components(space).size
        self.shape = tuple(space.shape)
        self.mode = mode
        self.register_buffer("low", torch.as_tensor(low, dtype=torch.float32), persistent=False)
        self.register_buffer("high", torch.as_tensor(high, dtype=torch.float32), persistent=False)
        self._cache: dict[tuple, tuple[torch.Tensor, ...]] = {}

    def squash(self, outputs: torch.Tensor) -> torch.Tensor:
        """The action before the final clamp, flat (..., out_dim)."""
        if self.mode != "tanh":
            return outputs
        _, _, mid, half = self._bounds(outputs)
        return mid + half * torch.tanh(outputs)

    def clamp(self, actions: torch.Tensor) -> torch.Tensor:
        """Flat actions (..., out_dim) clamped to the bounds and shaped as the space, float32."""
        low, high, _, _ = self._bounds(actions)
        clipped = torch.clamp(actions, low, high)
        if clipped.dtype != torch.float32:
            clipped = clipped.to(torch.float32)
        return clipped.reshape(*actions.shape[:-1], *self.shape)

    def forward(self, outputs: torch.Tensor) -> torch.Tensor:
        return self.clamp(self.squash(outputs))

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
    """The deterministic action head of ``space``.

    Raises:
        evorl.errors.ConfigError: A space evorl cannot produce (one line naming a wrapper).
    """
    kind = action_components(space).kind
    if kind == "categorical":
        return CategoricalHead(space)
    if kind == "bernoulli":
        return BinaryHead(space)
    return BoxHead(space, continuous_action)
