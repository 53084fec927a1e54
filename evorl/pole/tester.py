"""The pole benchmark's tester: every generation's candidates get the long balance test.

The solve-and-count protocol of the pole-balancing benchmarks ("evaluations to solve"), as
:mod:`evorl.pole` describes it. :class:`PoleTester` is the tester an evolution run uses with
``eval.pole_protocol`` set: after each generation it long-tests that generation's candidates
(every individual whose training episode balanced the whole episode, or only the generation's
fittest), and the first that passes (and generalises enough, if required) solves the run.

Example:
    >>> trainer = build_trainer(load_config("dpnv", ["--seed=3"]))  # doctest: +SKIP
    >>> trainer.run().solved, trainer.tester.solution.evaluations  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from evorl.config import ConfigError, EnvConfig, RunConfig
from evorl.controllers import Controller
from evorl.evaluation.obs_norm import ObsNormalizer
from evorl.pole.longtest import (
    TEST_STEPS,
    TRAINING_STEPS,
    balance_steps,
    generalization,
    pole_vector_env,
)
from evorl.training import Learner, StepResult, TestResult, TrainState


@dataclass(frozen=True)
class PoleProtocol:
    """Settings of the solve-and-count protocol (see the module docstring)."""

    test_steps: int = TEST_STEPS
    """Steps a candidate must balance to count as a solution."""
    candidates: Literal["balanced", "champion"] = "balanced"
    """Which individuals are tested: every one that balanced its whole training episode, or only
    the generation's fittest (if it did)."""
    min_generalization: int = 0
    """Generalisation score (of 625) a solution must also reach; 0: measured, not required."""
    generalization: bool = True
    """Measure the solution's generalisation score."""

    def __post_init__(self) -> None:
        if self.test_steps < 1:
            raise ConfigError("pole protocol: test_steps must be >= 1")
        if self.candidates not in ("balanced", "champion"):
            raise ConfigError("pole protocol: candidates must be 'balanced' or 'champion'")
        if not 0 <= self.min_generalization <= 625:
            raise ConfigError("pole protocol: min_generalization must be in [0, 625]")


@dataclass
class Solution:
    """The first solution of a run."""

    generation: int
    """Generation (1-based) in which it was evaluated."""
    evaluations: int
    """Training episodes through the end of that generation (the benchmark's count)."""
    evaluations_serial: int
    """Training episodes up to and including the solution's own (NEAT's count)."""
    index: int
    """Row of the solution in that generation's population."""
    params: np.ndarray
    """Its flat parameters."""
    generalization: int | None
    """Start states of 625 balanced for 1,000 steps, if measured."""
    tested: int
    """Candidates given the long test up to that generation (this one included)."""


def candidate_rows(lengths: np.ndarray, fitness: np.ndarray, limit: int, mode: str) -> np.ndarray:
    """Population rows to test: every one whose episodes all lasted ``limit`` steps, or only the
    fittest if it did (``mode="champion"``); ascending."""
    full = (np.asarray(lengths) >= limit).all(axis=1)
    if mode == "champion":
        best = int(np.argmax(fitness))
        return np.array([best] if full[best] else [], dtype=np.int64)
    return np.flatnonzero(full)


def _accept(
    protocol: PoleProtocol,
    controller: Controller,
    params: np.ndarray,
    env_cfg: EnvConfig,
    normalizer: ObsNormalizer | None,
) -> tuple[bool, int | None]:
    """Whether a candidate that passed the long test is a solution, and its score."""
    if not (protocol.generalization or protocol.min_generalization):
        return True, None
    score = generalization(controller, params, env_cfg, normalizer)
    return score >= protocol.min_generalization, score


class PoleTester:
    """Long-tests each generation's candidates; the first that passes solves the run.

    Args:
        controller: The run's controller (population mode).
        env_cfg: The run's env config (an ``evorl/*Pole*`` id).
        protocol: The settings.

    Attributes:
        tested: Candidates given the long test so far.
        solution: The run's first solution, once found.
    """

    at_start = False

    def __init__(self, controller: Controller, env_cfg: EnvConfig, protocol: PoleProtocol) -> None:
        pole_vector_env(env_cfg, 1, 1)  # fails early on other envs
        self.controller, self.env_cfg, self.protocol = controller, env_cfg, protocol
        self.limit = env_cfg.max_episode_steps or TRAINING_STEPS
        self.tested = 0
        self.solution: Solution | None = None

    @classmethod
    def for_run(cls, config: RunConfig, controller: Controller) -> PoleTester:
        """The tester of a run with ``eval.pole_protocol`` set.

        Raises:
            ConfigError: The run also tests its centre (``eval.test_every`` > 0), or its env is
                not a pole-balancing env.
        """
        ev = config.eval
        if ev.test_every:
            raise ConfigError(
                "the pole protocol replaces the trainer's tests: set eval.test_every=0"
            )
        protocol = PoleProtocol(
            candidates=ev.pole_protocol or "balanced",
            min_generalization=ev.pole_min_generalization,
            test_steps=ev.pole_test_steps,
        )
        return cls(controller, config.env, protocol)

    def due(self, state: TrainState, budget_spent: bool) -> bool:
        return self.solution is None

    def test(self, learner: Learner, step: StepResult | None, state: TrainState) -> TestResult:
        asked, result, _ = step.extra
        params, protocol = np.asarray(asked.candidates), self.protocol
        rows = candidate_rows(result.lengths, result.fitness, self.limit, protocol.candidates)
        if rows.size == 0:
            return TestResult()
        self.tested += rows.size
        norm = asked.normalizer
        steps = balance_steps(
            self.controller, params[rows], self.env_cfg, protocol.test_steps, norm
        )
        for row in rows[steps >= protocol.test_steps]:
            ok, score = _accept(protocol, self.controller, params[row], self.env_cfg, norm)
            if not ok:
                continue
            before = state.episodes - result.returns.size
            self.solution = Solution(
                generation=state.iteration,
                evaluations=state.episodes,
                evaluations_serial=before + (int(row) + 1) * result.returns.shape[1],
                index=int(row),
                params=params[row].copy(),
                generalization=score,
                tested=self.tested,
            )
            return TestResult({}, float(protocol.test_steps), params[row].copy(), solved=True)
        return TestResult()

    def state_dict(self) -> dict[str, Any]:
        return {
            "tested": self.tested,
            "solution": None if self.solution is None else asdict(self.solution),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.tested = int(state["tested"])
        found = state["solution"]
        self.solution = None if found is None else Solution(**found)
