"""The glimpse sensor (retina) of Mnih, Heess, Graves & Kavukcuoglu, "Recurrent Models of Visual
Attention" (NIPS 2014), Section 3.

At a location ``l = (x, y)`` in [-1, 1]² the sensor cuts ``scales`` square patches centred on l,
the first ``size`` × ``size`` pixels wide and each next one twice as wide as the one before, and
shrinks every patch to ``size`` × ``size`` by averaging non-overlapping blocks of pixels (the
area rule of image resizing). Pixels outside the image read as zero. The sensor has no parameters
and no gradient with respect to l: the agent learns where to look by REINFORCE.

Coordinates: x runs along the columns (left -1, right +1), y along the rows (top -1, bottom +1);
the patch of width w centred on l starts at pixel ``round(c - w/2)`` with ``c = (l + 1) · W / 2``,
so l = 0 looks at the middle of the image and l = ±1 at its edges.

Example:
    >>> import torch
    >>> images = torch.rand(4, 60, 60)
    >>> glimpse(images, torch.zeros(4, 2), size=12, scales=3).shape
    torch.Size([4, 3, 12, 12])
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def patch_corners(loc: torch.Tensor, height: int, width: int, patch: int) -> torch.Tensor:
    """Top-left pixel (row, col) of the ``patch``-wide square centred on each location.

    Args:
        loc: Locations (B, 2) as (x, y) in [-1, 1].
        height: Image height in pixels.
        width: Image width in pixels.
        patch: Patch width in pixels.

    Returns:
        int64 (B, 2) as (row, col); may be negative or run past the image (zero padding).
    """
    col = (loc[:, 0] + 1.0) * (width / 2.0) - patch / 2.0
    row = (loc[:, 1] + 1.0) * (height / 2.0) - patch / 2.0
    return torch.stack([row, col], dim=1).add(0.5).floor().long()


def glimpse(images: torch.Tensor, loc: torch.Tensor, size: int, scales: int) -> torch.Tensor:
    """Multi-resolution patches of ``images`` around ``loc``.

    Every output cell is a box sum read from the image's summed-area table (Crow 1984) with four
    look-ups, whatever the scale; clamping the box corners to the image border sums only the
    pixels inside, which is exactly zero padding. The table is built in float64 so that
    differences of large partial sums keep the pixels exact.

    Args:
        images: Grey images (B, H, W).
        loc: Locations (B, 2) as (x, y), clamped to [-1, 1]; not differentiated.
        size: Side g of the first patch and of every output patch.
        scales: Number k of patches; patch i is ``g · 2^i`` pixels wide before shrinking.

    Returns:
        (B, k, g, g), patch i being the average over ``2^i × 2^i`` pixel blocks.
    """
    if images.dim() != 3 or loc.shape != (images.shape[0], 2):
        raise ValueError(
            f"need images (B, H, W) and loc (B, 2), got {tuple(images.shape)}, {tuple(loc.shape)}"
        )
    if size < 1 or scales < 1:
        raise ValueError(f"size and scales must be >= 1, got {size}, {scales}")
    batch, height, width = images.shape
    loc = loc.detach().clamp(-1.0, 1.0)
    # table[b, r, c] = sum of images[b, :r, :c]
    table = F.pad(images.detach().double().cumsum(1).cumsum(2), (1, 0, 1, 0)).flatten(1)
    lines = torch.arange(size + 1, device=images.device)
    patches = []
    for i in range(scales):
        block = 2**i
        corner = patch_corners(loc, height, width, size * block)
        rows = (corner[:, 0:1] + block * lines).clamp(0, height)  # (B, g+1) cell borders
        cols = (corner[:, 1:2] + block * lines).clamp(0, width)
        index = rows.unsqueeze(2) * (width + 1) + cols.unsqueeze(1)
        s = table.gather(1, index.flatten(1)).view(batch, size + 1, size + 1)
        sums = s[:, 1:, 1:] - s[:, :-1, 1:] - s[:, 1:, :-1] + s[:, :-1, :-1]
        patches.append(sums / block**2)
    return torch.stack(patches, dim=1).to(images.dtype)
