"""Words on pictures: labelled panels, caption bars and banners on RGB frames (Pillow).

The videos and pictures evorl writes (an agent's glimpses on Catch, a world model's dream beside
reality) are read by people, so every panel says what it shows and every episode says how it
ended. Frames are ``(height, width, 3)`` uint8 arrays; each function returns a new one.

Example:
    >>> import numpy as np
    >>> a, b = np.zeros((64, 64, 3), np.uint8), np.full((64, 64, 3), 255, np.uint8)
    >>> panels(["real", "dream"], [a, b]).shape
    (84, 130, 3)
    >>> caption(a, "step 3").shape
    (84, 64, 3)
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

import numpy as np

WHITE = (255, 255, 255)
DARK = (30, 30, 30)
GREEN = (40, 170, 60)
RED = (210, 40, 40)
GAP = 2
"""Pixels between panels."""


@functools.cache
def font(size: int = 13):
    """DejaVu Sans at ``size`` pixels (shipped with matplotlib, so Greek letters like τ draw),
    else Pillow's default font."""
    from PIL import ImageFont

    try:
        import matplotlib

        path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
        return ImageFont.truetype(str(path), size)
    except (ImportError, OSError):
        pass
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, ValueError, OSError):  # an old Pillow or no FreeType
        return ImageFont.load_default()


def _text_bar(width: int, texts: Sequence[tuple[str, tuple]], height: int, size: int):
    """A white bar of ``height`` with ``texts`` [(text, colour)] laid left to right."""
    from PIL import Image, ImageDraw

    bar = Image.new("RGB", (width, height), WHITE)
    draw = ImageDraw.Draw(bar)
    x, face = 4, font(size)
    for text, colour in texts:
        top = (height - (face.getbbox("Ag")[3] - face.getbbox("Ag")[1])) // 2 - 2
        draw.text((x, top), text, fill=colour, font=face)
        x += int(draw.textlength(text, font=face)) + 10
    return np.asarray(bar)


def caption(
    frame: np.ndarray,
    text: str | Sequence[tuple[str, tuple]],
    *,
    height: int = 20,
    size: int = 13,
    above: bool = False,
) -> np.ndarray:
    """``frame`` with a bar of text below it (or ``above``); ``text`` may be a list of
    (text, colour) pieces."""
    pieces = [(text, DARK)] if isinstance(text, str) else list(text)
    bar = _text_bar(frame.shape[1], pieces, height, size)
    parts = [bar, frame] if above else [frame, bar]
    return np.concatenate(parts, axis=0)


def centred_label(width: int, text: str, *, height: int = 20, size: int = 13) -> np.ndarray:
    """A white bar of ``width`` with ``text`` centred (a column heading)."""
    from PIL import Image, ImageDraw

    bar = Image.new("RGB", (width, height), WHITE)
    draw = ImageDraw.Draw(bar)
    face = font(size)
    while draw.textlength(text, font=face) > width - 4 and size > 7:
        size -= 1
        face = font(size)
    x = (width - draw.textlength(text, font=face)) / 2
    draw.text((x, 2), text, fill=DARK, font=face)
    return np.asarray(bar)


def panels(
    labels: Sequence[str], frames: Sequence[np.ndarray], *, height: int = 20, size: int = 13
) -> np.ndarray:
    """Frames of equal height side by side, white gaps between, each under its label."""
    columns = [
        np.concatenate([centred_label(f.shape[1], label, height=height, size=size), f], axis=0)
        for label, f in zip(labels, frames, strict=True)
    ]
    gap = np.full((columns[0].shape[0], GAP, 3), 255, np.uint8)
    parts = [p for column in columns for p in (column, gap)][:-1]
    return np.concatenate(parts, axis=1)


def banner(frame: np.ndarray, text: str, colour: tuple, *, size: int = 16) -> np.ndarray:
    """``frame`` with ``text`` in a ``colour`` box across its middle (an episode's outcome)."""
    from PIL import Image, ImageDraw

    image = Image.fromarray(np.ascontiguousarray(frame))
    draw = ImageDraw.Draw(image)
    face = font(size)
    width = draw.textlength(text, font=face)
    h, w = frame.shape[:2]
    box = (max(0, (w - width) / 2 - 6), h / 2 - size * 0.8, min(w, (w + width) / 2 + 6))
    draw.rectangle((box[0], box[1], box[2], h / 2 + size * 0.8), fill=colour)
    draw.text(((w - width) / 2, h / 2 - size * 0.62), text, fill=WHITE, font=face)
    return np.asarray(image)


def dim(frame: np.ndarray, amount: float = 0.5) -> np.ndarray:
    """``frame`` faded toward white (a frozen frame after its episode ended)."""
    return (frame * (1 - amount) + 255 * amount).astype(np.uint8)
