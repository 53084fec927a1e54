"""The evolution loop: ask → evaluate → tell → log → test → checkpoint, until a stopping rule.

The trainer owns no policy of its own: it is handed the controller, evaluator, optimizer and
logger (composition, as in EvoTorch's Problem/SearchAlgorithm/Logger split) and only sequences
them. Everything random derives from the run seed and the generation number, so a run resumed from
a checkpoint continues exactly as the uninterrupted run would have.

Example:
    >>> trainer = build_trainer(load_config("cartpole-novel"), run_dir=None)
    >>> state = trainer.run()
    >>> state.solved
    True
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from evorl import seeding
from evorl.config import RunConfig, to_dict
from evorl.controllers import Controller
from evorl.errors import TrainingError
from evorl.evaluation import Evaluator, RunningObsStats
from evorl.logger import Logger
from evorl.optimizers import Optimizer
from evorl.rundir import BEST, CHECKPOINT, save_checkpoint

Hook = Callable[["Trainer", dict[str, Any]], None]


@dataclass
class TrainState:
    """Counters and results of a run; saved in every checkpoint."""

    generation: int = 0
    evaluations: int = 0
    env_steps: int = 0
    elapsed: float = 0.0
    best_fitness: float = -math.inf
    champion_score: float = -math.inf
    champion_generation: int = -1
    nan_fitness: int = 0
    solved: bool = False
    stop_reason: str = ""


@dataclass
class Trainer:
    """Sequences one evolution run; see the module docstring."""

    config: RunConfig
    controller: Controller
    evaluator: Evaluator
    optimizer: Optimizer
    logger: Logger
    run_dir: Path | None = None
    hooks: list[Hook] = field(default_factory=list)
    state: TrainState = field(default_factory=TrainState)
    obs_stats: RunningObsStats | None = None
    champion: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.config.eval.obs_norm and self.obs_stats is None:
            self.obs_stats = RunningObsStats.empty(
                self.controller.obs_dim, self.config.eval.obs_clip
            )
        if self.champion is None:
            self.champion = np.asarray(self.optimizer.center, dtype=np.float64).copy()

    # ------------------------------------------------------------------ loop

    def run(self) -> TrainState:
        """Train until a stopping rule fires; writes a final checkpoint."""
        while not self.state.stop_reason:
            self.step()
        self.checkpoint()
        return self.state

    def step(self) -> dict[str, Any]:
        """One generation; returns its metrics row."""
        start = time.perf_counter()
        cfg, st = self.config, self.state
        seeds = seeding.episode_seeds(
            cfg.seed, seeding.STREAM_TRAIN_EPISODES, st.generation, cfg.eval.episodes
        )
        candidates = self.optimizer.ask()
        normalizer = self.obs_stats.normalizer() if self.obs_stats is not None else None
        result = self.evaluator.evaluate(
            candidates, seeds, normalizer, collect_obs=self.obs_stats is not None
        )
        fitness = self._repair(result.fitness)
        metrics = self.optimizer.tell(candidates, fitness)
        if self.obs_stats is not None and result.obs_sums is not None:
            self.obs_stats.merge(result.obs_sums)

        st.generation += 1
        st.evaluations += result.returns.size
        st.env_steps += result.env_steps
        best = int(np.argmax(fitness))
        st.best_fitness = max(st.best_fitness, float(fitness[best]))
        row = {
            "fitness/mean": float(np.mean(fitness)),
            "fitness/max": float(fitness[best]),
            "fitness/min": float(np.min(fitness)),
            "fitness/best": st.best_fitness,
            "env/steps": st.env_steps,
            "env/evaluations": st.evaluations,
            **metrics,
        }
        if self._test_due():
            row.update(self._test(candidates[best], float(fitness[best])))
        elapsed = time.perf_counter() - start
        st.elapsed += elapsed
        row.update(result.timings)
        row.update(
            {
                "time/generation": elapsed,
                "time/total": st.elapsed,
                "perf/steps_per_s": result.env_steps / elapsed,
            }
        )
        self.logger.record_many(row)
        row = self.logger.dump(st.generation)
        st.stop_reason = self._stop_reason()
        if st.generation % cfg.checkpoint_every == 0 and not st.stop_reason:
            self.checkpoint()
        for hook in self.hooks:
            hook(self, row)
        return row

    # ------------------------------------------------------------------ parts

    def _repair(self, fitness: np.ndarray) -> np.ndarray:
        """Documented NaN recovery: a non-finite fitness ranks below the generation's worst."""
        bad = ~np.isfinite(fitness)
        if not bad.any():
            return fitness
        if bad.all():
            raise TrainingError(
                f"every fitness value of generation {self.state.generation + 1} is NaN/inf; "
                "check the env's rewards (the last checkpoint is intact)"
            )
        self.state.nan_fitness += int(bad.sum())
        good = fitness[~bad]
        repaired = fitness.copy()
        repaired[bad] = good.min() - max(1.0, float(np.ptp(good)))
        return repaired

    def _test_due(self) -> bool:
        every = self.config.eval.test_every
        return every > 0 and (self.state.generation % every == 0 or self._budget_spent())

    def _test(self, best_candidate: np.ndarray, best_fitness: float) -> dict[str, float]:
        """Test the optimizer's centre (and the generation's best if it looks solved)."""
        cfg = self.config
        seeds = seeding.episode_seeds(
            cfg.seed, seeding.STREAM_TEST_EPISODES, self.state.generation, cfg.eval.test_episodes
        )
        center = np.asarray(self.optimizer.center, dtype=np.float64)
        contenders = [center]
        if cfg.stop.target is not None and best_fitness >= cfg.stop.target:
            contenders.append(np.asarray(best_candidate, dtype=np.float64))
        normalizer = self.obs_stats.normalizer() if self.obs_stats is not None else None
        scores = self.evaluator.evaluate(np.stack(contenders), seeds, normalizer).fitness
        pick = int(np.argmax(scores))
        row = {"test/center": float(scores[0]), "test/score": float(scores[pick])}
        if scores[pick] > self.state.champion_score:
            self.state.champion_score = float(scores[pick])
            self.state.champion_generation = self.state.generation
            self.champion = contenders[pick].copy()
            self._save_champion()
        if cfg.stop.target is not None and scores[pick] >= cfg.stop.target:
            self.state.solved = True
        return row

    def _budget_spent(self) -> bool:
        stop, st = self.config.stop, self.state
        return (
            (stop.generations is not None and st.generation >= stop.generations)
            or (stop.evaluations is not None and st.evaluations >= stop.evaluations)
            or (stop.wall_time is not None and st.elapsed >= stop.wall_time)
        )

    def _stop_reason(self) -> str:
        if self.state.solved:
            return "solved"
        stop, st = self.config.stop, self.state
        if stop.generations is not None and st.generation >= stop.generations:
            return "generations"
        if stop.evaluations is not None and st.evaluations >= stop.evaluations:
            return "evaluations"
        if stop.wall_time is not None and st.elapsed >= stop.wall_time:
            return "wall_time"
        return ""

    # ------------------------------------------------------------------ persistence

    def _save_champion(self) -> None:
        if self.run_dir is None:
            return
        save_checkpoint(self.run_dir / BEST, self.policy_payload(self.champion))

    def policy_payload(self, params: np.ndarray) -> dict[str, Any]:
        """What `evorl eval` needs: config, parameters, observation statistics."""
        return {
            "config": to_dict(self.config),
            "params": np.asarray(params, dtype=np.float64).copy(),
            "obs_stats": self.obs_stats.state_dict() if self.obs_stats is not None else None,
            "generation": self.state.generation,
            "score": self.state.champion_score,
        }

    def checkpoint(self) -> None:
        """Write the full training state (atomically) so the run can resume exactly."""
        if self.run_dir is None:
            return
        payload = self.policy_payload(self.champion)
        payload.update(
            {
                "state": asdict(self.state),
                "optimizer": self.optimizer.state_dict(),
                "optimizer_name": self.optimizer.name,
                "center": np.asarray(self.optimizer.center, dtype=np.float64).copy(),
            }
        )
        save_checkpoint(self.run_dir / CHECKPOINT, payload)

    def restore(self, payload: dict[str, Any]) -> None:
        """Load a checkpoint's training state into this (freshly built) trainer."""
        self.state = TrainState(**payload["state"])
        self.state.stop_reason = ""
        self.optimizer.load_state_dict(payload["optimizer"])
        if payload["obs_stats"] is not None:
            self.obs_stats = RunningObsStats.from_state_dict(payload["obs_stats"])
        self.champion = np.asarray(payload["params"], dtype=np.float64).copy()
        self.logger.truncate(self.state.generation)
