"""Play a trained policy (:mod:`evorl.policy`): test episodes, and videos/GIFs of it acting.

Example:
    >>> policy = load_policy("runs/cartpole-novel-20261121-120000")  # doctest: +SKIP
    >>> evaluate_policy(policy, episodes=20, seed=10_000).mean()  # doctest: +SKIP
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from evorl.config import ConfigError
from evorl.env_pool import EnvPool
from evorl.evaluation import VectorEvaluator
from evorl.policy import Policy, load_policy

__all__ = [
    "Policy",
    "evaluate_policy",
    "headless_mujoco",
    "load_policy",
    "record_video",
    "write_video",
]


def evaluate_policy(policy: Policy, episodes: int, seed: int) -> np.ndarray:
    """Returns of ``episodes`` episodes with reset seeds ``seed, seed+1, ...``."""
    evaluator = VectorEvaluator(policy.env, policy.controller())
    try:
        seeds = np.arange(seed, seed + episodes)
        return evaluator.evaluate(policy.params[None], seeds, policy.normalizer()).returns[0]
    finally:
        evaluator.close()


def record_video(
    policy: Policy, path: str | Path, seed: int, episodes: int = 1, fps: int = 30
) -> float:
    """Render ``episodes`` episodes to a GIF or MP4; returns the mean return.

    MP4 needs the ``video`` extra (imageio-ffmpeg); MuJoCo envs render headless through the
    first OpenGL backend that works here (:func:`headless_mujoco`).
    """
    path = Path(path)
    check_video_path(path)
    if policy.env is not None:
        headless_mujoco(policy.env.id)
    pool = EnvPool.make(policy.env, 1, render_mode="rgb_array")
    controller = policy.controller()
    frames, returns = [], []
    weights = controller.population_params(
        torch.as_tensor(policy.params[None], dtype=torch.float32)
    )
    norm = policy.normalizer()
    try:
        for k in range(episodes):
            obs = pool.reset(np.zeros(1, np.intp), np.array([seed + k]))
            state, done, total = controller.initial_state(1), False, 0.0
            frames.append(_render(pool))
            with torch.no_grad():
                while not done:
                    x = norm(obs) if norm is not None else obs
                    action, state = controller.step(
                        torch.from_numpy(x.astype(np.float32)), state, weights
                    )
                    obs, r, term, trunc = pool.step(action.numpy(), np.ones(1, bool))
                    total += float(r[0])
                    done = bool(term[0] or trunc[0])
                    frames.append(_render(pool))
            returns.append(total)
    finally:
        pool.close()
    write_video(frames, path, fps)
    return float(np.mean(returns))


def check_video_path(path: Path) -> None:
    """Raise :class:`ConfigError` for a file type we cannot write, before anything runs."""
    suffix = path.suffix.lower()
    if suffix not in (".gif", ".mp4"):
        raise ConfigError(f"video file must end in .gif or .mp4, got {path.name}")
    if suffix == ".mp4" and importlib.util.find_spec("imageio_ffmpeg") is None:
        raise ConfigError(
            "MP4 videos need imageio-ffmpeg: pip install 'evorl-toolkit[video]' "
            "-c constraints.txt (or write a .gif)"
        )


def write_video(frames: list[np.ndarray], path: str | Path, fps: int = 30) -> Path:
    """Write RGB frames (H, W, 3) as a looping GIF (Pillow) or an H.264 MP4 (imageio-ffmpeg).

    MP4 frames are padded to even sizes (H.264's 4:2:0 colour needs them) rather than rescaled.
    """
    import imageio.v2 as imageio

    path = Path(path)
    check_video_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        if path.suffix.lower() == ".gif":
            imageio.mimsave(path, frames, duration=1000 / fps, loop=0)
        else:
            even = [_pad_even(np.asarray(f)) for f in frames]
            imageio.mimsave(path, even, fps=fps, codec="libx264", macro_block_size=2)
    except (ImportError, ValueError, RuntimeError, OSError) as err:
        raise ConfigError(f"cannot write {path.name} ({err})") from None
    return path


def _pad_even(frame: np.ndarray) -> np.ndarray:
    h, w = frame.shape[:2]
    return np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")


# ---------------------------------------------------------------------------------- MuJoCo

GL_BACKENDS = ("egl", "osmesa")
"""Headless OpenGL backends tried for MuJoCo, in order (then ``glfw`` when there is a display)."""

GL_HINT = (
    "cannot render MuJoCo here: {tried} cannot open an OpenGL context. Install EGL "
    "(Debian/Ubuntu: apt-get install libegl1; with an NVIDIA GPU, its driver's EGL) or OSMesa "
    "(apt-get install libosmesa6){advice}"
)


def _gl_error(tried: str, user_set: bool) -> ConfigError:
    advice = (
        ", or unset MUJOCO_GL to let evorl try egl, then osmesa"
        if user_set
        else ", or set MUJOCO_GL to a backend that works"
    )
    return ConfigError(GL_HINT.format(tried=tried, advice=advice))


_PROBE = (
    "import mujoco; m = mujoco.MjModel.from_xml_string('<mujoco/>'); "
    "mujoco.Renderer(m, 16, 16).close()"
)
_chosen: dict[str, str] = {}


def is_mujoco_env(env_id: str) -> bool:
    """Whether the registered env ``env_id`` is a Gymnasium MuJoCo env (by its entry point)."""
    import gymnasium as gym

    try:
        entry = gym.spec(env_id).entry_point
    except gym.error.Error:
        return False
    module = entry if isinstance(entry, str) else getattr(entry, "__module__", "")
    return "mujoco" in str(module)


def headless_mujoco(env_id: str) -> str | None:
    """Choose MuJoCo's OpenGL backend before MuJoCo loads it: the user's ``MUJOCO_GL`` if set
    (and it works), else the first of EGL, OSMesa (and GLFW when there is a display) that can
    open a context here. Each is tried in a subprocess, so a failing one leaves this process
    clean. Returns the backend (None for an env that is not MuJoCo).

    Raises:
        ConfigError: No backend works; the message says what to install.
    """
    if not is_mujoco_env(env_id):
        return None
    user = os.environ.get("MUJOCO_GL")
    if user:
        if _chosen.get("user") != user:
            if not _backend_works(user):
                raise _gl_error(f"MUJOCO_GL={user}", user_set=True)
            _chosen["user"] = user
        return user
    if "backend" not in _chosen:
        candidates = GL_BACKENDS + (("glfw",) if os.environ.get("DISPLAY") else ())
        working = next((name for name in candidates if _backend_works(name)), None)
        if working is None:
            raise _gl_error(" nor ".join(candidates), user_set=False)
        _chosen["backend"] = working
    os.environ["MUJOCO_GL"] = _chosen["backend"]
    if _chosen["backend"] in GL_BACKENDS:
        os.environ.setdefault("PYOPENGL_PLATFORM", _chosen["backend"])
    return _chosen["backend"]


def _backend_works(name: str) -> bool:
    env = {k: v for k, v in os.environ.items() if k != "PYOPENGL_PLATFORM"}
    env["MUJOCO_GL"] = name
    try:
        done = subprocess.run(
            [sys.executable, "-c", _PROBE], env=env, capture_output=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def _render(pool: EnvPool) -> np.ndarray:
    """The pool's frame; an OpenGL failure (MuJoCo's FatalError) becomes one line."""
    try:
        return pool.render()
    except Exception as err:  # mujoco.FatalError, or gymnasium's RuntimeError about OpenGL
        if type(err).__name__ == "FatalError" or "OpenGL" in str(err):
            backend = os.environ.get("MUJOCO_GL", "")
            raise _gl_error(f"MUJOCO_GL={backend or '(unset)'}", bool(backend)) from None
        raise
