"""Play a trained policy (:mod:`evorl.policy`): test episodes, and videos/GIFs of it acting.

Example:
    >>> policy = load_policy("runs/cartpole-novel-20261121-120000")  # doctest: +SKIP
    >>> evaluate_policy(policy, episodes=20, seed=10_000).mean()  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from evorl.config import ConfigError
from evorl.env_pool import EnvPool
from evorl.evaluation import VectorEvaluator
from evorl.policy import Policy, load_policy

__all__ = ["Policy", "evaluate_policy", "load_policy", "record_video"]


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
    """Render ``episodes`` episodes to a GIF or MP4; returns the mean return."""
    import imageio.v2 as imageio

    path = Path(path)
    if path.suffix.lower() not in (".gif", ".mp4"):
        raise ConfigError(f"video file must end in .gif or .mp4, got {path.name}")
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
            frames.append(pool.render())
            with torch.no_grad():
                while not done:
                    x = norm(obs) if norm is not None else obs
                    action, state = controller.step(
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
