"""Run a trained controller: test episodes, and rendered videos/GIFs of it acting."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from evorl.config import ConfigError, RunConfig, from_dict
from evorl.controllers import Controller
from evorl.env_pool import EnvPool
from evorl.evaluation import RunningObsStats, VectorEvaluator
from evorl.rundir import BEST, CHECKPOINT, load_checkpoint


@dataclass
class Policy:
    """A trained controller ready to act: config, controller, parameters, observation stats."""

    config: RunConfig
    controller: Controller
    params: np.ndarray
    obs_stats: RunningObsStats | None

    def normalizer(self):
        return self.obs_stats.normalizer() if self.obs_stats is not None else None


def load_policy(run_dir: str | Path, which: str = "best") -> Policy:
    """The champion (``best``) or the optimizer's latest centre (``latest``) of a run directory.

    Checkpoints written before the centre was saved give their champion for ``latest``.
    """
    from evorl.experiment import build_controller_for

    path = Path(run_dir) / (BEST if which == "best" else CHECKPOINT)
    if which == "best" and not path.exists():
        path = Path(run_dir) / CHECKPOINT  # no test has run yet
    payload = load_checkpoint(path)
    config = from_dict(RunConfig, payload["config"])
    stats = payload.get("obs_stats")
    params = payload.get("center", payload["params"]) if which == "latest" else payload["params"]
    return Policy(
        config,
        build_controller_for(config),
        np.asarray(params),
        RunningObsStats.from_state_dict(stats) if stats is not None else None,
    )


def evaluate_policy(policy: Policy, episodes: int, seed: int) -> np.ndarray:
    """Returns of ``episodes`` episodes with reset seeds ``seed, seed+1, ...``."""
    evaluator = VectorEvaluator(policy.config.env, policy.controller, policy.config.eval.max_envs)
    try:
        seeds = np.arange(seed, seed + episodes)
        return evaluator.evaluate(policy.params[None], seeds, policy.normalizer()).returns[0]
    finally:
        evaluator.close()


def record_video(
    policy: Policy, path: str | Path, seed: int, episodes: int = 1, fps: int = 30
) -> float:
    """Render ``episodes`` episodes to a GIF or MP4; returns the mean return."""
    import imageio.v2 as imageio

    path = Path(path)
    if path.suffix.lower() not in (".gif", ".mp4"):
        raise ConfigError(f"video file must end in .gif or .mp4, got {path.name}")
    pool = EnvPool.make(policy.config.env, 1, render_mode="rgb_array")
    frames, returns = [], []
    weights = policy.controller.population_params(
        torch.as_tensor(policy.params[None], dtype=torch.float32)
    )
    norm = policy.normalizer()
    try:
        for k in range(episodes):
            obs = pool.reset(np.zeros(1, np.intp), np.array([seed + k]))
            state, done, total = policy.controller.initial_state(1), False, 0.0
            frames.append(pool.render())
            with torch.no_grad():
                while not done:
                    x = norm(obs) if norm is not None else obs
                    action, state = policy.controller.step(
                        torch.from_numpy(x.astype(np.float32)), state, weights
                    )
                    obs, r, term, trunc = pool.step(action.numpy(), np.ones(1, bool))
                    total += float(r[0])
                    done = bool(term[0] or trunc[0])
                    frames.append(pool.render())
            returns.append(total)
    finally:
        pool.close()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        if path.suffix.lower() == ".gif":
            imageio.mimsave(path, frames, duration=1000 / fps, loop=0)
        else:
            imageio.mimsave(path, frames, fps=fps)
    except (ImportError, ValueError, RuntimeError) as err:
        raise ConfigError(f"cannot write {path.name} ({err}); try a .gif file") from None
    return float(np.mean(returns))
