"""The evolution learner: ask → evaluate → tell, with running observation statistics.

One step is one generation: the optimizer proposes a population, an evaluator (local, batched,
Ray, or any object with the :class:`~evorl.evaluation.Evaluator` interface) runs every individual
on the generation's episode seeds, non-finite fitness is repaired (documented below), the
optimizer is told, and the generation's observation sums are merged into the running statistics
(frozen while the generation ran). :meth:`EvolutionLearner.ask` and :meth:`EvolutionLearner.tell`
are the two halves of :meth:`~EvolutionLearner.step`, so a driver that batches several runs'
populations into one evaluation (the pole benchmark's lockstep) uses the same learner.

Example:
    >>> from evorl.builder import build_trainer
    >>> from evorl.config import load_config
    >>> learner = build_trainer(load_config("cartpole-novel")).learner
    >>> out = learner.step(0)
    >>> sorted(out.fitness)
    ['fitness/max', 'fitness/mean', 'fitness/min']
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from evorl import seeding
from evorl.errors import TrainingError
from evorl.evaluation import (
    EvalResult,
    Evaluator,
    FunctionEvaluator,
    ObsNormalizer,
    RunningObsStats,
)
from evorl.logger import Logger
from evorl.optimizers import Optimizer
from evorl.optimizers.seeded import SeededPopulation
from evorl.policy import policy_file
from evorl.training.trainer import Budget, Hook, StepResult, Trainer


@dataclass
class Asked:
    """One generation's proposal: candidates (P, D), the episode seeds, the frozen normaliser,
    and the candidates as the optimizer's seeds when it can describe them so (``seeded``)."""

    iteration: int
    candidates: np.ndarray
    seeds: np.ndarray
    normalizer: ObsNormalizer | None
    seeded: SeededPopulation | None = None

    @property
    def population(self) -> np.ndarray | SeededPopulation:
        """What the evaluator gets: the seeded description if there is one (a Ray evaluator
        then sends seeds, not rows; any other reads it as the matrix), else the matrix."""
        return self.seeded if self.seeded is not None else self.candidates


class EvolutionLearner:
    """An optimizer and an evaluator, stepped one generation at a time.

    Args:
        optimizer: The ask/tell search.
        evaluator: Runs a population on episode seeds.
        seed: The run seed (episode seeds derive from it and the generation).
        episodes: Episodes per individual per generation.
        obs_stats: Running observation statistics (None: no normalisation).
        policy_info: What the policy file records besides params and statistics (``env``,
            ``controller``, ``obs_dim``, ``action_space``); see :mod:`evorl.policy`.
    """

    unit = "generation"

    def __init__(
        self,
        optimizer: Optimizer,
        evaluator: Evaluator,
        seed: int,
        episodes: int = 1,
        obs_stats: RunningObsStats | None = None,
        policy_info: dict[str, Any] | None = None,
        obs_nonfinite: str = "skip",
    ) -> None:
        self.optimizer, self.evaluator = optimizer, evaluator
        self.seed, self.episodes = seed, episodes
        self.obs_stats = obs_stats
        self.policy_info = dict(policy_info or {})
        self.obs_nonfinite = obs_nonfinite
        self.nan_fitness = 0

    def normalizer(self) -> ObsNormalizer | None:
        """The frozen normaliser of the next generation (None without statistics)."""
        return self.obs_stats.normalizer() if self.obs_stats is not None else None

    # ------------------------------------------------------------------ one generation
    def ask(self, iteration: int) -> Asked:
        """The population of generation ``iteration`` (0-based) and its episode seeds."""
        seeds = seeding.episode_seeds(
            self.seed, seeding.STREAM_TRAIN_EPISODES, iteration, self.episodes
        )
        candidates = self.optimizer.ask()
        seeded = self.optimizer.seeded_population()
        return Asked(iteration, candidates, seeds, self.normalizer(), seeded)

    def tell(self, asked: Asked, result: EvalResult) -> StepResult:
        """Tell the optimizer the evaluated population; merge the observation sums."""
        fitness = self._repair(result.fitness, asked.iteration)
        metrics = self.optimizer.tell(asked.candidates, fitness)
        if self.obs_stats is not None and result.obs_sums is not None:
            metrics.update(merge_obs(self.obs_stats, result.obs_sums, self.obs_nonfinite))
        best = int(np.argmax(fitness))
        return StepResult(
            fitness={
                "fitness/mean": float(np.mean(fitness)),
                "fitness/max": float(fitness[best]),
                "fitness/min": float(np.min(fitness)),
            },
            metrics=metrics,
            timings=dict(result.timings),
            env_steps=result.env_steps,
            episodes=result.returns.size,
            best=float(fitness[best]),
            candidate=asked.candidates[best],
            extra=(asked, result, fitness),
        )

    def step(self, iteration: int) -> StepResult:
        asked = self.ask(iteration)
        result = self.evaluator.evaluate(
            asked.population, asked.seeds, asked.normalizer, collect_obs=self.obs_stats is not None
        )
        return self.tell(asked, result)

    def _repair(self, fitness: np.ndarray, iteration: int) -> np.ndarray:
        """Documented NaN recovery: a non-finite fitness ranks below the generation's worst."""
        bad = ~np.isfinite(fitness)
        if not bad.any():
            return fitness
        if bad.all():
            raise TrainingError(
                f"every fitness value of generation {iteration + 1} is NaN/inf; check the "
                "env's rewards (the last checkpoint is intact)"
            )
        self.nan_fitness += int(bad.sum())
        good = fitness[~bad]
        repaired = fitness.copy()
        repaired[bad] = good.min() - max(1.0, float(np.ptp(good)))
        return repaired

    # ------------------------------------------------------------------ the trainer's view
    def policy_params(self) -> np.ndarray:
        return np.asarray(self.optimizer.center, dtype=np.float64)

    def policy_file(self, params: np.ndarray, score: float) -> dict[str, Any]:
        return policy_file(self.policy_info, params, self.obs_stats, score)

    def state_dict(self) -> dict[str, Any]:
        return {
            "optimizer": self.optimizer.state_dict(),
            "obs_stats": self.obs_stats.state_dict() if self.obs_stats is not None else None,
            "nan_fitness": self.nan_fitness,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        if state["obs_stats"] is not None:
            self.obs_stats = RunningObsStats.from_state_dict(state["obs_stats"])
        self.nan_fitness = int(state["nan_fitness"])

    def close(self) -> None:
        self.evaluator.close()


def merge_obs(stats: RunningObsStats, sums: Any, nonfinite: str) -> dict[str, float]:
    """Merge observation sums into the statistics; observations with NaN/inf entries were left
    out of the sums: report their count (``obs/nonfinite``), or stop (``nonfinite="stop"``)."""
    stats.merge(sums)
    bad = int(sums.nonfinite.sum())
    if bad and nonfinite == "stop":
        raise TrainingError(
            f"{bad} observations with NaN/inf entries (eval.obs_nonfinite=skip would leave them "
            "out of the statistics and go on); the last checkpoint is intact"
        )
    return {"obs/nonfinite": float(bad)} if bad else {}


def search(
    optimizer: Optimizer,
    fitness: Callable[[np.ndarray, np.ndarray], np.ndarray],
    budget: Budget,
    hooks: Sequence[Hook] = (),
    seed: int = 0,
    logger: Logger | None = None,
    episodes: int = 1,
    evaluator: Evaluator | None = None,
) -> Trainer:
    """Run an ask/tell search of a plain function (see
    :class:`~evorl.evaluation.FunctionEvaluator`) to its budget in the training loop: no envs,
    no tests, no run directory; returns the finished trainer (``trainer.learner.optimizer``).
    ``fitness`` gets the generation's ``episodes`` episode seeds (from ``seed``); an
    ``evaluator`` (e.g. a :class:`~evorl.evaluation.RayEvaluator` whose workers compute the
    same fitness) replaces the in-process one.

    Example:
        >>> from evorl.optimizers import make_optimizer
        >>> opt = make_optimizer("snes", np.zeros(3), sigma=0.5, seed=1)
        >>> trainer = search(opt, lambda x, _: -np.sum((x - 1) ** 2, 1), Budget(iterations=200))
        >>> bool(np.allclose(trainer.learner.optimizer.center, 1.0, atol=0.05))
        True
    """
    from evorl.training.testers import NoTester

    evaluator = evaluator if evaluator is not None else FunctionEvaluator(fitness)
    learner = EvolutionLearner(optimizer, evaluator, seed, episodes)
    trainer = Trainer(
        learner,
        NoTester(),
        budget,
        checkpoint_every=budget.iterations or 10**9,
        logger=logger or Logger(),
        hooks=list(hooks),
    )
    try:
        trainer.run()
    finally:
        trainer.logger.close()
    return trainer
