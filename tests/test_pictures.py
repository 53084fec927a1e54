"""Pictures a person reads: glimpse paths, the Catch GIF's outcome, the world model's labelled
panels and frozen last frames (their code paths, and what they must show)."""

from __future__ import annotations

import imageio.v3 as iio
import numpy as np
import pytest

from evorl.agents.glimpse.agent import GlimpseConfig
from evorl.agents.glimpse.pictures import catch_frames, catch_gif, glimpse_png, step_colours
from evorl.annotate import GREEN, RED, banner, caption, panels


def colour_present(image: np.ndarray, rgb, tol: int = 12) -> bool:
    return bool((np.abs(image[..., :3].astype(int) - np.asarray(rgb)).max(-1) <= tol).any())


def test_annotations_have_the_promised_sizes():
    frame = np.zeros((40, 50, 3), np.uint8)
    assert caption(frame, "step 1").shape == (60, 50, 3)
    assert caption(frame, [("a", (0, 0, 0)), ("b", RED)], above=True).shape == (60, 50, 3)
    assert panels(["x", "y", "z"], [frame] * 3).shape == (60, 154, 3)
    marked = banner(frame, "CAUGHT", GREEN)
    assert colour_present(marked, GREEN) and colour_present(marked, (255, 255, 255))


@pytest.mark.parametrize("scales", [False, True])
def test_glimpse_png_draws_each_step_in_its_colour(tmp_path, scales):
    config = GlimpseConfig(size=8, scales=3, glimpses=4)
    image = np.zeros((60, 60), np.float32)
    image[20:40, 25:35] = 1.0
    locations = np.array([[-0.5, -0.5], [0.0, 0.0], [0.3, 0.1], [0.5, 0.5]])
    path = glimpse_png(image, locations, config, tmp_path / "d.png", "label 1, guess 1", scales)
    png = iio.imread(path)
    for colour in step_colours(4):  # every step's colour is in the picture (boxes, legend)
        assert colour_present(png, (colour[:3] * 255).round().astype(int))


def test_catch_gif_ends_on_the_outcome(tmp_path):
    config = GlimpseConfig(size=6, scales=3, glimpses=1)
    frames = np.zeros((5, 24, 24), np.float32)
    frames[:, 23, 10:13] = 1.0  # the paddle
    locations = np.linspace(-0.5, 0.5, 10).reshape(5, 2)
    caught = catch_frames(frames, locations, config, caught=True, hold=3)
    missed = catch_frames(frames, locations, config, caught=False, hold=3)
    assert len(caught) == 5 + 3 and caught[0].shape == (240 + 22, 240, 3)
    assert colour_present(caught[-1], GREEN) and not colour_present(caught[4], GREEN)
    assert colour_present(missed[-1], RED)
    first, last = (tuple((c[:3] * 255).astype(int)) for c in step_colours(5)[[0, 4]])
    assert colour_present(caught[0], first) and colour_present(caught[4], last)
    gif = iio.imread(catch_gif(frames, locations, config, tmp_path / "e.gif", caught=False))
    assert gif.shape[1:3] == (262, 240)


def test_dream_frames_label_the_panels_and_freeze_an_ended_episode():
    from evorl.agents.worldmodel.pictures import dream_frames

    rng = np.random.default_rng(0)
    real = [rng.integers(0, 255, (64, 64, 3), dtype=np.uint8) for _ in range(6)]
    dream = [np.full((64, 64, 3), 200, np.uint8), np.full((64, 64, 3), 90, np.uint8)]
    out = dream_frames(real, real, dream, ([1.0] * 5, [1.0]), temperature=1.15)
    assert len(out) == 6  # the longer episode
    header, body = 20, 128
    assert out[0].shape == (header + body + 20, 3 * body + 4, 3)
    right = slice(2 * body + 4, 3 * body + 4)
    ended = out[5][header : header + body, right]
    assert ended.mean() > 90  # the last dream frame, faded, not black
    np.testing.assert_array_equal(out[1][header : header + body, right], 90)
    assert (out[0][:header] < 128).any()  # the column labels are drawn


def test_reconstructions_png_has_three_labelled_columns(tmp_path, monkeypatch):
    import torch

    import evorl.agents.worldmodel.pictures as pictures

    frames = np.random.default_rng(1).integers(0, 255, (10, 64, 64, 3), dtype=np.uint8)

    class Identity:
        def encode(self, x):
            return x, None

        def decode(self, z):
            return z

    monkeypatch.setattr(pictures, "shard_paths", lambda folder: ["one"])
    monkeypatch.setattr(pictures, "read_shard", lambda path: {"obs": frames})
    monkeypatch.setattr(pictures, "load_vision", lambda directory: Identity())
    monkeypatch.setattr(pictures, "to_tensor", lambda x: torch.from_numpy(x))
    monkeypatch.setattr(pictures, "to_frames", lambda x: x.numpy())
    png = iio.imread(pictures.reconstructions(tmp_path, tmp_path / "r.png", count=3))
    assert png.shape[:2] == (20 + 3 * 128 + 2 * 2, 3 * 128 + 2 * 2)
    np.testing.assert_array_equal(png[20:148, 130:258], png[20:148, :128])  # a perfect V
    assert (png[20:148, 260:] == 255).all()  # so the difference column is white
