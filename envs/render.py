"""Headless numpy drawing for evorl's environments (no pygame, no display).

Frames are ``(height, width, 3)`` uint8 arrays, the ``render_mode="rgb_array"`` contract of
Gymnasium. Shapes are rasterised with distance tests on the pixel grid of a bounding box, which is
plenty fast for a few segments and boxes per frame.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

WHITE = (255, 255, 255)
BLACK = (0, 0, 0)
POLE_COLOURS = ((202, 152, 101), (40, 90, 220), (120, 180, 90))
AXLE = (129, 132, 203)


def blank(height: int, width: int, colour: tuple[int, int, int] = WHITE) -> np.ndarray:
    """A frame filled with one colour."""
    frame = np.empty((height, width, 3), dtype=np.uint8)
    frame[...] = colour
    return frame


def fill_rect(
    frame: np.ndarray, top: float, left: float, bottom: float, right: float, colour: tuple
) -> None:
    """Fills the pixels whose centres lie in the rectangle (clipped to the frame), in place."""
    h, w = frame.shape[:2]
    r0, r1 = max(round(top), 0), min(round(bottom), h)
    c0, c1 = max(round(left), 0), min(round(right), w)
    if r0 < r1 and c0 < c1:
        frame[r0:r1, c0:c1] = colour


def draw_segment(
    frame: np.ndarray,
    start: tuple[float, float],
    end: tuple[float, float],
    thickness: float,
    colour: tuple,
) -> None:
    """Draws a thick line segment between two ``(row, col)`` points, in place."""
    h, w = frame.shape[:2]
    pad = thickness / 2 + 1
    r0 = max(int(min(start[0], end[0]) - pad), 0)
    r1 = min(int(max(start[0], end[0]) + pad) + 1, h)
    c0 = max(int(min(start[1], end[1]) - pad), 0)
    c1 = min(int(max(start[1], end[1]) + pad) + 1, w)
    if r0 >= r1 or c0 >= c1:
        return
    rows, cols = np.mgrid[r0:r1, c0:c1].astype(np.float64) + 0.5
    d = np.subtract(end, start)
    length2 = float(d @ d) or 1.0
    t = np.clip(((rows - start[0]) * d[0] + (cols - start[1]) * d[1]) / length2, 0.0, 1.0)
    dist2 = (rows - start[0] - t * d[0]) ** 2 + (cols - start[1] - t * d[1]) ** 2
    frame[r0:r1, c0:c1][dist2 <= (thickness / 2) ** 2] = colour


def draw_cart_poles(
    x: float,
    thetas: Sequence[float],
    half_lengths: Sequence[float],
    track_half: float,
    width: int = 600,
    height: int = 400,
) -> np.ndarray:
    """Draws a cart with hinged poles on a track.

    Args:
        x: Cart position (m), 0 at the centre of the track.
        thetas: Pole angles (rad) from vertical, positive leaning towards +x (to the right).
        half_lengths: Half-lengths of the poles (m); drawn at full length ``2 * l``.
        track_half: Half-length of the track (m); its ends are marked.
        width: Frame width in pixels.
        height: Frame height in pixels.

    Returns:
        A ``(height, width, 3)`` uint8 frame.
    """
    frame = blank(height, width)
    scale = width / (2.0 * track_half * 1.25)  # pixels per metre, with a margin
    centre_col = width / 2.0
    track_row = height * 0.75
    draw_segment(frame, (track_row, 0), (track_row, width), 2, BLACK)
    for end in (-track_half, track_half):
        col = centre_col + end * scale
        fill_rect(frame, track_row - 15, col - 2, track_row + 15, col + 2, (200, 0, 0))
    cart_col = centre_col + float(x) * scale
    cart_w, cart_h = 50.0, 30.0
    fill_rect(
        frame, track_row - cart_h, cart_col - cart_w / 2, track_row, cart_col + cart_w / 2, BLACK
    )
    pivot = (track_row - cart_h, cart_col)
    draw_segment(frame, pivot, pivot, 12, AXLE)
    # Longest pole first, so that a short pole stays visible on top of it.
    order = sorted(range(len(thetas)), key=lambda k: -float(half_lengths[k]))
    for k in order:
        length = 2.0 * float(half_lengths[k]) * scale
        theta = float(thetas[k])
        tip = (pivot[0] - length * np.cos(theta), pivot[1] + length * np.sin(theta))
        draw_segment(frame, pivot, tip, 10.0 if k == 0 else 6.0, POLE_COLOURS[k % 3])
    return frame


def upscale(grid: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour upscaling of a 2-D array by an integer factor."""
    return np.repeat(np.repeat(grid, factor, axis=0), factor, axis=1)
