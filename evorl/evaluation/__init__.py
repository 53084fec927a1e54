"""Population evaluation: serial reference, batched (vectorised) and distributed evaluators."""

from __future__ import annotations

from evorl.config import ConfigError, RunConfig
from evorl.controllers import Controller
from evorl.evaluation.evaluators import (
    EvalResult,
    Evaluator,
    FunctionEvaluator,
    SerialEvaluator,
    VectorEvaluator,
    episode_tasks,
)
from evorl.evaluation.obs_norm import ObsNormalizer, ObsSums, RunningObsStats

__all__ = [
    "EvalResult",
    "Evaluator",
    "FunctionEvaluator",
    "ObsNormalizer",
    "ObsSums",
    "RunningObsStats",
    "SerialEvaluator",
    "VectorEvaluator",
    "episode_tasks",
    "make_evaluator",
]


def make_evaluator(config: RunConfig, controller: Controller) -> Evaluator:
    """The evaluator named by ``config.eval.evaluator``."""
    kind = config.eval.evaluator
    if kind == "serial":
        return SerialEvaluator(config.env, controller)
    if kind == "vector":
        return VectorEvaluator(config.env, controller, config.eval.max_envs, config.eval.device)
    try:
        from evorl.evaluation.ray_evaluator import RayEvaluator
    except ImportError as err:
        raise ConfigError(
            f"eval.evaluator=ray needs Ray: pip install 'evorl-toolkit[ray]' ({err})"
        ) from None
    return RayEvaluator(config, controller)
