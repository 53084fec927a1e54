"""Feed-forward baselines that see the whole image (Mnih et al. 2014, Table 1 and 2).

* :class:`FCNet`: two hidden ReLU layers of 256 units on the flattened image.
* :class:`PaperConvNet`: the paper's convolutional baseline (Sec. 4.1): one layer of 8 filters of
  10×10 with stride 5, a 256-unit ReLU layer, softmax output.
* :class:`ConvNet`: a stronger convnet of ours — 16 filters of 10×10 with stride 5, then 32 of
  3×3, then 256 units — kept beside it so the benchmark shows what a second conv layer buys.
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
    """Convolutional classifier of (B, H, W) images (H, W >= 13): the conv layers of ``LAYERS``
    (filters, kernel, stride; stride None: 5 on canvases of 40 pixels or more, else 2), each
    with ReLU, then 256 ReLU units and the class logits."""

    LAYERS: tuple[tuple[int, int, int | None], ...] = ((16, 10, None), (32, 3, 1))

    def __init__(self, side: int, classes: int = 10, seed: int | None = None):
        super().__init__()

        def build() -> nn.Sequential:
            layers: list[nn.Module] = []
            channels, size = 1, side
            for filters, kernel, stride in self.LAYERS:
                stride = stride or (5 if side >= 40 else 2)
                layers += [nn.Conv2d(channels, filters, kernel, stride=stride), nn.ReLU()]
                channels, size = filters, (size - kernel) // stride + 1
            return nn.Sequential(
                *layers,
                nn.Flatten(),
                nn.Linear(channels * size * size, 256),
                nn.ReLU(),
                nn.Linear(256, classes),
            )

        self.net = _seeded(seed, build)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images.unsqueeze(1))


class PaperConvNet(ConvNet):
    """Mnih et al.'s convnet baseline: one layer of 8 filters of 10×10, stride 5 (H, W >= 10)."""

    LAYERS = ((8, 10, None),)
