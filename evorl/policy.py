"""The policy file: one trained controller, readable without the run that made it.

Every learner writes its policies in one form, a plain dict::

    {"env": EnvConfig as data (None for a supervised task), "controller": ControllerConfig as
     data, "obs_dim": int, "action_space": gymnasium space, "params": float64 (D,),
     "obs_stats": RunningObsStats.state_dict() or None, "score": float}

``best.pt`` holds the champion's (``{"policy": ...}``) and ``checkpoint.pt`` the champion's and the
learner's latest. ``evorl eval``, videos and ``--init-from`` read them through :func:`load_policy`,
whatever kind of training (evolution, PPO, RPG, supervised) produced them.

Example:
    >>> policy = load_policy("runs/cartpole-novel-20261121-120000")  # doctest: +SKIP
    >>> policy.controller().num_params  # doctest: +SKIP
    1314
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from evorl.config import ControllerConfig, EnvConfig, from_dict, to_dict
from evorl.errors import ConfigError
from evorl.evaluation.obs_norm import ObsNormalizer, RunningObsStats


@dataclass
class Policy:
    """A trained controller ready to act: its env, architecture, parameters and statistics."""

    env: EnvConfig | None
    controller_config: ControllerConfig
    obs_dim: int
    action_space: gym.Space
    params: np.ndarray
    obs_stats: RunningObsStats | None
    score: float

    def controller(self):
        """A fresh controller of this architecture (its own parameters are not ``params``)."""
        from evorl.controllers import build_controller

        return build_controller(self.controller_config, self.obs_dim, self.action_space, seed=1)

    def normalizer(self) -> ObsNormalizer | None:
        return self.obs_stats.normalizer() if self.obs_stats is not None else None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Policy:
        env = None if data["env"] is None else from_dict(EnvConfig, data["env"], "env")
        stats = data["obs_stats"]
        return cls(
            env,
            from_dict(ControllerConfig, data["controller"], "controller"),
            int(data["obs_dim"]),
            data["action_space"],
            np.asarray(data["params"], dtype=np.float64),
            RunningObsStats.from_state_dict(stats) if stats is not None else None,
            float(data["score"]),
        )


def policy_info(
    env: EnvConfig | None, controller: ControllerConfig, obs_dim: int, action_space: gym.Space
) -> dict[str, Any]:
    """The fields of a policy file that describe the controller (all but params and stats)."""
    return {
        "env": None if env is None else to_dict(env),
        "controller": to_dict(controller),
        "obs_dim": int(obs_dim),
        "action_space": action_space,
    }


def policy_file(
    info: dict[str, Any], params: np.ndarray, obs_stats: RunningObsStats | None, score: float
) -> dict[str, Any]:
    """A policy file: ``info`` (:func:`policy_info`), the parameters and statistics, the score."""
    return {
        **info,
        "params": np.asarray(params, dtype=np.float64).copy(),
        "obs_stats": obs_stats.state_dict() if obs_stats is not None else None,
        "score": float(score),
    }


def load_policy(run_dir: str | Path, which: str = "best") -> Policy:
    """The champion (``best``) or the learner's latest policy (``latest``) of a run directory.

    A run that has not been tested yet has no ``best.pt``; its checkpoint's champion is used.
    """
    from evorl.rundir import BEST, CHECKPOINT, load_checkpoint

    run_dir = Path(run_dir)
    if which == "best" and (run_dir / BEST).exists():
        payload = load_checkpoint(run_dir / BEST)
        key = "policy"
    else:
        payload = load_checkpoint(run_dir / CHECKPOINT)
        key = "policy" if which == "latest" else "champion"
    if key not in payload:
        raise ConfigError(f"{run_dir}: its checkpoint holds no policy (not an evorl run?)")
    return Policy.from_dict(payload[key])
