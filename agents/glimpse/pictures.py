"""Pictures of where the glimpse agent looked: a PNG per image, a GIF per Catch episode.

Both read the same way. Each glimpse is one box — the retina's finest patch, the pixels it sees
at full resolution — coloured by its step on one colour scale (purple first, yellow last),
numbered at its centre, and joined to the next glimpse by an arrow; ``scales=True`` adds the
coarser patches as dashed (PNG) or thin (GIF) squares. The PNG has a legend of the steps and the
title says whether the guess was right; the GIF has a caption bar with the step and where the
agent looks, a trail of its earlier glimpses, and ends on a held frame saying CAUGHT or MISSED.
PNGs are drawn with matplotlib, GIF frames with numpy and Pillow (:mod:`evorl.annotate`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from evorl.agents.glimpse.agent import GlimpseConfig
from evorl.agents.glimpse.sensor import patch_corners
from evorl.annotate import DARK, GREEN, RED, banner, caption
from evorl.envs.render import fill_rect, upscale

COLOURMAP = "plasma"
"""Glimpse colours by step (purple first, yellow last); the range keeps them visible on black."""
COLOUR_RANGE = (0.22, 0.95)


def step_colours(count: int) -> np.ndarray:
    """RGBA colours (count, 4) in [0, 1], first glimpse to last."""
    import matplotlib

    cmap = matplotlib.colormaps[COLOURMAP]
    return cmap(np.linspace(*COLOUR_RANGE, max(count, 2)))[:count]


def _squares(loc: np.ndarray, side: int, config: GlimpseConfig) -> list[tuple[int, int, int]]:
    """(top, left, width) in image pixels of each scale's patch around ``loc`` (2,), finest
    first."""
    out = []
    for i in range(config.scales):
        w = config.size * 2**i
        row, col = patch_corners(torch.as_tensor(loc, dtype=torch.float32)[None], side, side, w)[0]
        out.append((int(row), int(col), w))
    return out


def _centre(loc: np.ndarray, side: int) -> np.ndarray:
    """(x, y) pixel coordinates of a location in [-1, 1]² on a ``side``-pixel image."""
    return (np.asarray(loc, dtype=np.float64) + 1.0) * side / 2.0 - 0.5


def glimpse_png(
    image: np.ndarray,
    locations: np.ndarray,
    config: GlimpseConfig,
    path: str | Path,
    title: str = "",
    scales: bool = False,
    correct: bool | None = None,
) -> Path:
    """Draw the glimpses at ``locations`` (T, 2) on a square ``image`` (H, H) and save a PNG.

    Args:
        scales: Also draw each glimpse's coarser patches (dashed).
        correct: Colour the title green (right) or red (wrong).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Rectangle

    side = image.shape[0]
    colours = step_colours(len(locations))
    fig, ax = plt.subplots(figsize=(5.6, 4.2))
    ax.imshow(image, cmap="gray", vmin=0.0, vmax=1.0)
    centres = np.array([_centre(loc, side) for loc in locations])
    for t, (loc, colour) in enumerate(zip(locations, colours, strict=True)):
        for i, (top, left, w) in enumerate(
            _squares(loc, side, config)[: config.scales if scales else 1]
        ):
            ax.add_patch(
                Rectangle(
                    (left - 0.5, top - 0.5),
                    w,
                    w,
                    fill=False,
                    lw=1.8 if i == 0 else 0.9,
                    ls="-" if i == 0 else "--",
                    edgecolor=colour,
                )
            )
        if t + 1 < len(locations):
            ax.annotate(
                "",
                xy=centres[t + 1],
                xytext=centres[t],
                arrowprops={
                    "arrowstyle": "->",
                    "color": colour,
                    "lw": 1.4,
                    "shrinkA": 7,
                    "shrinkB": 7,
                },
            )
    for t, colour in enumerate(colours):
        ax.plot(*centres[t], "o", ms=10, color=colour, mec="white", mew=0.8)
        light = colour[:3] @ np.array([0.299, 0.587, 0.114]) > 0.6
        ax.text(*centres[t], str(t + 1), color="black" if light else "white", fontsize=7,
                ha="center", va="center", fontweight="bold")  # fmt: skip
    ax.set_xlim(-0.5, side - 0.5)
    ax.set_ylim(side - 0.5, -0.5)
    ax.set_xticks([])
    ax.set_yticks([])
    handles = [
        Line2D(
            [], [], marker="s", ls="", ms=9, mfc="none", mec=c, mew=1.8, label=f"glimpse {t + 1}"
        )
        for t, c in enumerate(colours)
    ]
    note = f"box: the {config.size}×{config.size} patch seen sharp"
    if scales and config.scales > 1:
        note += f";\ndashed: {config.scales - 1} coarser scale(s), ×2 each"
    handles.append(Line2D([], [], ls="", label=note))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8,
              frameon=False, handletextpad=0.4)  # fmt: skip
    colour = {True: "darkgreen", False: "firebrick"}.get(correct, "black")  # type: ignore[arg-type]
    ax.set_title(title, fontsize=10, color=colour)
    path = Path(path)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def _outline(frame: np.ndarray, top: int, left: int, width: int, colour: tuple, thick: int) -> None:
    """A square outline on an upscaled frame, in place (clipped to the frame)."""
    bottom, right = top + width, left + width
    fill_rect(frame, top, left, top + thick, right, colour)
    fill_rect(frame, bottom - thick, left, bottom, right, colour)
    fill_rect(frame, top, left, bottom, left + thick, colour)
    fill_rect(frame, top, right - thick, bottom, right, colour)


def catch_frames(
    frames: np.ndarray,
    locations: np.ndarray,
    config: GlimpseConfig,
    caught: bool | None = None,
    scale: int = 10,
    scales: bool = False,
    hold: int = 5,
) -> list[np.ndarray]:
    """The GIF's frames: each screen (H, H) upscaled, the step's glimpse box and the earlier
    glimpses' centres (a trail), a caption bar; then ``hold`` copies of the last frame saying
    CAUGHT or MISSED (when ``caught`` is known)."""
    side = frames.shape[1]
    colours = (step_colours(len(frames))[:, :3] * 255).astype(int)
    images = []
    for t, (screen, loc) in enumerate(zip(frames, locations, strict=True)):
        grey = (np.asarray(screen) * 255).astype(np.uint8)
        frame = upscale(np.repeat(grey[:, :, None], 3, axis=2), scale)
        for s in range(t):  # where it looked before: small squares in their step's colour
            x, y = _centre(locations[s], side) * scale + scale / 2
            fill_rect(frame, y - 2, x - 2, y + 3, x + 3, tuple(colours[s]))
        squares = _squares(loc, side, config)[: config.scales if scales else 1]
        for i, (top, left, w) in enumerate(squares):
            _outline(
                frame, top * scale, left * scale, w * scale, tuple(colours[t]), 3 if i == 0 else 1
            )
        col, row = np.round(_centre(loc, side)).astype(int)
        text = [
            (f"step {t + 1}/{len(frames)}", DARK),
            ("■", tuple(colours[t])),  # the box's colour, then where it is
            (f"looks at ({col}, {row})", DARK),
        ]
        images.append(caption(frame, text, height=22))
    if caught is not None and images:
        verdict = banner(images[-1], "CAUGHT" if caught else "MISSED", GREEN if caught else RED)
        images.extend([verdict] * hold)
    return images


def catch_gif(
    frames: np.ndarray,
    locations: np.ndarray,
    config: GlimpseConfig,
    path: str | Path,
    scale: int = 10,
    fps: int = 5,
    caught: bool | None = None,
    scales: bool = False,
) -> Path:
    """Write a GIF of one Catch episode: screens (T, H, H) with the glimpse at each step (T, 2),
    ending on a held frame that says CAUGHT or MISSED (``caught``)."""
    from evorl.playback import write_video

    images = catch_frames(frames, locations, config, caught, scale, scales, hold=fps)
    return write_video(images, Path(path), fps=fps)
