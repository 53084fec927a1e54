"""Videos of trained policies: GIF and MP4 frames read back; MuJoCo renders headless or says
in one line what to install."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys

import imageio.v3 as iio
import numpy as np
import pytest

import evorl.playback as playback
from evorl.commands import main
from evorl.errors import ConfigError
from evorl.playback import headless_mujoco, record_video, write_video
from evorl.policy import load_policy

TINY = [
    "--controller.hidden=[3]", "--optimizer.popsize=4", "--eval.episodes=1",
    "--eval.test_every=1", "--eval.test_episodes=1", "--stop.generations=1",
    "--stop.wall_time=null", "--stop.target=null",
]  # fmt: skip

needs_ffmpeg = pytest.mark.skipif(
    playback.importlib.util.find_spec("imageio_ffmpeg") is None, reason="needs the video extra"
)


@pytest.fixture(scope="module")
def cartpole_run(tmp_path_factory):
    path = tmp_path_factory.mktemp("video") / "run"
    assert main(["evolve", "cartpole-novel", "--run-dir", str(path), "--quiet", *TINY]) == 0
    return path


def gif_durations(path) -> list[int]:
    """Each GIF frame's display time in ms (Pillow merges identical consecutive frames)."""
    from PIL import Image, ImageSequence

    with Image.open(path) as image:
        return [frame.info["duration"] for frame in ImageSequence.Iterator(image)]


@needs_ffmpeg
def test_mp4_frames_read_back(cartpole_run, tmp_path):
    """One frame per step plus the first: CartPole pays 1 per step, so return + 1 frames."""
    path = tmp_path / "episode.mp4"
    score = record_video(load_policy(cartpole_run), path, seed=10_000)
    frames = iio.imread(path, index=None)
    assert frames.shape == (int(score) + 1, 400, 600, 3)
    assert frames.std() > 0  # a picture, not a blank


def test_gif_frames_read_back(cartpole_run, tmp_path):
    """The same frames as a GIF: identical neighbours are merged into one longer frame, so the
    frames' display times add up to the episode's (GIF times are whole centiseconds)."""
    path = tmp_path / "episode.gif"
    score = record_video(load_policy(cartpole_run), path, seed=10_000, fps=25)
    frames = iio.imread(path, index=None)
    steps = int(score) + 1
    assert frames.shape[1:3] == (400, 600) and 2 <= len(frames) <= steps
    assert sum(gif_durations(path)) == steps * 40
    assert all(np.any(a != b) for a, b in itertools.pairwise(frames))


@needs_ffmpeg
def test_eval_command_writes_an_mp4(cartpole_run, tmp_path, capsys):
    path = tmp_path / "cartpole.mp4"
    assert main(["eval", str(cartpole_run), "--episodes", "1", "--video", str(path)]) == 0
    assert f"video: {path}" in capsys.readouterr().out
    assert iio.imread(path, index=None).shape[1:] == (400, 600, 3)


@needs_ffmpeg
def test_odd_frame_sizes_are_padded_for_mp4_and_kept_for_gif(tmp_path):
    frames = [np.full((33, 47, 3), 20 * i, np.uint8) for i in range(5)]
    mp4 = iio.imread(write_video(frames, tmp_path / "odd.mp4", fps=10), index=None)
    gif = iio.imread(write_video(frames, tmp_path / "odd.gif", fps=10), index=None)
    assert mp4.shape == (5, 34, 48, 3)
    assert gif.shape[:3] == (5, 33, 47)
    assert np.abs(mp4[4, :33, :47].astype(int) - 80).max() <= 3  # lossy, but the same frame


def test_missing_ffmpeg_and_bad_suffix_are_config_errors(cartpole_run, monkeypatch, capsys):
    assert main(["eval", str(cartpole_run), "--episodes", "1", "--video", "x.avi"]) == 2
    assert "must end in .gif or .mp4" in capsys.readouterr().err
    real = playback.importlib.util.find_spec
    monkeypatch.setattr(
        playback.importlib.util,
        "find_spec",
        lambda name: None if name == "imageio_ffmpeg" else real(name),
    )
    assert main(["eval", str(cartpole_run), "--episodes", "1", "--video", "x.mp4"]) == 2
    err = capsys.readouterr().err
    assert "evorl-toolkit[video]" in err and err.count("\n") == 1


def test_only_mujoco_envs_choose_a_backend(monkeypatch):
    monkeypatch.delenv("MUJOCO_GL", raising=False)
    assert headless_mujoco("CartPole-v1") is None
    assert "MUJOCO_GL" not in os.environ


def test_no_working_backend_says_what_to_install(monkeypatch):
    monkeypatch.delenv("MUJOCO_GL", raising=False)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.setattr(playback, "_chosen", {})
    tried = []
    monkeypatch.setattr(playback, "_backend_works", lambda name: tried.append(name) and False)
    with pytest.raises(ConfigError, match=r"apt-get install libegl1.*libosmesa6") as err:
        headless_mujoco("InvertedPendulum-v5")
    assert tried == ["egl", "osmesa"] and "\n" not in str(err.value)
    assert "MUJOCO_GL" not in os.environ


def test_a_users_backend_that_fails_is_a_config_error(monkeypatch):
    monkeypatch.setenv("MUJOCO_GL", "osmesa")
    monkeypatch.setattr(playback, "_chosen", {})
    monkeypatch.setattr(playback, "_backend_works", lambda name: False)
    with pytest.raises(ConfigError, match=r"MUJOCO_GL=osmesa.*unset MUJOCO_GL"):
        headless_mujoco("Hopper-v5")


@pytest.mark.mujoco
@pytest.mark.slow
@needs_ffmpeg
def test_mujoco_video_renders_headless(tmp_path):
    """``evorl eval --video`` on a MuJoCo run with no MUJOCO_GL and no display: a backend that
    works here is found (EGL on our machines), or the command says in one line what to install
    — never MuJoCo's FatalError."""
    pytest.importorskip("mujoco")
    run = tmp_path / "ip"
    assert main(["evolve", "inverted-pendulum", "--run-dir", str(run), "--quiet", *TINY]) == 0
    env = {k: v for k, v in os.environ.items() if k not in ("MUJOCO_GL", "DISPLAY")}
    video = tmp_path / "ip.mp4"
    done = subprocess.run(
        [sys.executable, "-m", "evorl", "eval", str(run), "--episodes", "1", "--video", str(video)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "Traceback" not in done.stderr and "FatalError" not in done.stderr
    if done.returncode == 2:  # no OpenGL here: one line that says what to install
        assert "apt-get install" in done.stderr and done.stderr.count("\n") == 1
        pytest.skip("no headless OpenGL on this machine")
    assert done.returncode == 0, done.stderr
    frames = iio.imread(video, index=None)
    assert frames.shape[1:] == (480, 480, 3) and len(frames) >= 2
    assert frames.std() > 0
