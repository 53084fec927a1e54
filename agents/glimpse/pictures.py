"""Pictures of where the glimpse agent looked: a PNG per image, a GIF per Catch episode.

Each glimpse is drawn as its k nested squares (the retina's scales), coloured from dark to light
in glimpse order, with the path of the glimpse centres on top. PNGs are drawn with matplotlib,
GIF frames with numpy (:mod:`evorl.envs.render`) and written with imageio.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from evorl.agents.glimpse.agent import GlimpseConfig
from evorl.agents.glimpse.sensor import patch_corners
from evorl.envs.render import fill_rect, upscale


def _squares(loc: np.ndarray, side: int, config: GlimpseConfig) -> list[tuple[int, int, int]]:
    """(top, left, width) in image pixels of each scale's patch around ``loc`` (2,)."""
    out = []
    for i in range(config.scales):
        w = config.size * 2**i
        row, col = patch_corners(torch.as_tensor(loc, dtype=torch.float32)[None], side, side, w)[0]
        out.append((int(row), int(col), w))
    return out


def glimpse_png(
    image: np.ndarray,
    locations: np.ndarray,
    config: GlimpseConfig,
    path: str | Path,
    title: str = "",
) -> Path:
    """Draw the glimpses at ``locations`` (T, 2) on a square ``image`` (H, H) and save a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    side = image.shape[0]
    colours = plt.cm.viridis(np.linspace(0.0, 0.9, len(locations)))
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.imshow(image, cmap="gray", vmin=0.0, vmax=1.0)
    centres = []
    for t, (loc, colour) in enumerate(zip(locations, colours, strict=True)):
        for top, left, w in _squares(loc, side, config):
            ax.add_patch(
                Rectangle((left - 0.5, top - 0.5), w, w, fill=False, lw=1.2, edgecolor=colour)
            )
        centre = (np.asarray(loc) + 1.0) * side / 2.0 - 0.5
        centres.append(centre)
        ax.annotate(str(t + 1), centre, color=colour, fontsize=8, ha="center", va="center")
    path_xy = np.array(centres)
    ax.plot(path_xy[:, 0], path_xy[:, 1], color="white", lw=0.8, alpha=0.7)
    ax.set_xlim(-0.5, side - 0.5)
    ax.set_ylim(side - 0.5, -0.5)
    ax.set_axis_off()
    ax.set_title(title, fontsize=9)
    path = Path(path)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def _outline(frame: np.ndarray, top: int, left: int, width: int, colour: tuple) -> None:
    """A one-pixel square outline on an upscaled frame, in place (clipped to the frame)."""
    bottom, right = top + width, left + width
    fill_rect(frame, top, left, top + 1, right, colour)
    fill_rect(frame, bottom - 1, left, bottom, right, colour)
    fill_rect(frame, top, left, bottom, left + 1, colour)
    fill_rect(frame, top, right - 1, bottom, right, colour)


def catch_gif(
    frames: np.ndarray,
    locations: np.ndarray,
    config: GlimpseConfig,
    path: str | Path,
    scale: int = 10,
    fps: int = 5,
) -> Path:
    """Write a GIF of one Catch episode: screens (T, H, H) with the glimpse at each step (T, 2)."""
    import imageio.v2 as imageio

    side = frames.shape[1]
    colours = [(255, 200, 0), (0, 200, 255), (200, 0, 255), (0, 255, 100)]
    images = []
    for screen, loc in zip(frames, locations, strict=True):
        grey = (np.asarray(screen) * 255).astype(np.uint8)
        frame = upscale(np.repeat(grey[:, :, None], 3, axis=2), scale)
        for i, (top, left, w) in enumerate(_squares(loc, side, config)):
            _outline(frame, top * scale, left * scale, w * scale, colours[i % len(colours)])
        images.append(frame)
    path = Path(path)
    imageio.mimsave(path, images, duration=1.0 / fps, loop=0)
    return path
