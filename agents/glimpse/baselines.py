"""Feed-forward baselines that see the whole image (Mnih et al. 2014, Table 1 and 2).

* :class:`FCNet`: two hidden ReLU layers of 256 units on the flattened image.
* :class:`ConvNet`: a small convolutional net in the spirit of the paper's baseline — 10×10
  filters with stride 5, then 3×3 filters, then a 256-unit layer — which keeps its cost near the
  glimpse agent's on a 60×60 canvas.
"""

from __future__ import annotations

import torch
from torch import nn


def _seeded(seed: int | None, build):
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        return build()


class FCNet(nn.Module):
    """Fully connected classifier of (B, H, W) images."""

    def __init__(self, side: int, classes: int = 10, hidden: int = 256, seed: int | None = None):
        super().__init__()
        self.net = _seeded(
            seed,
            lambda: nn.Sequential(
                nn.Flatten(),
                nn.Linear(side * side, hidden),
                nn.ReLU(),
                nn.Linear(hidden, hidden),
                nn.ReLU(),
                nn.Linear(hidden, classes),
            ),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)


class ConvNet(nn.Module):
    """Small convolutional classifier of (B, H, W) images (H, W >= 13)."""

    def __init__(self, side: int, classes: int = 10, seed: int | None = None):
        super().__init__()
        stride = 5 if side >= 40 else 2
        conv_side = (side - 10) // stride + 1 - 2

        def build() -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(1, 16, 10, stride=stride),
                nn.ReLU(),
                nn.Conv2d(16, 32, 3),
                nn.ReLU(),
                nn.Flatten(),
                nn.Linear(32 * conv_side * conv_side, 256),
                nn.ReLU(),
                nn.Linear(256, classes),
            )

        self.net = _seeded(seed, build)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images.unsqueeze(1))
