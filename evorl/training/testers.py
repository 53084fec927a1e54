"""The default tester: the learner's policy on fixed test seeds, every few iterations.

:class:`PolicyTester` runs the learner's current policy (evolution: the search centre; gradient
training: the deterministic controller) for ``episodes`` test episodes whose reset seeds come from
the run seed and the iteration (:data:`evorl.seeding.STREAM_TEST_EPISODES`), so the same test is
repeated exactly on resume. With ``compare_best`` (evolution) the generation's best individual is
tested beside the centre once its training fitness reaches the target, and the better of the two
becomes the champion candidate. The run is solved when the test score reaches ``target``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from evorl import seeding
from evorl.evaluation import Evaluator, ObsNormalizer
from evorl.training.trainer import Learner, StepResult, TestResult, TrainState


class PolicyTester:
    """Tests ``learner.policy_params()`` with ``evaluator``; see the module docstring.

    Args:
        evaluator: Runs test episodes (the learner's own, or one for a test env).
        every: Test every this many iterations (0: never), and when a budget is spent.
        episodes: Test episodes per test.
        seed: The run seed.
        target: Test score that counts as solved (None: never solved).
        compare_best: Also test the step's best candidate when its fitness reaches ``target``;
            rows then report ``test/center`` and ``test/score`` (else ``test/score``,
            ``test/min``).
        normalizer: Gives the learner's frozen observation normaliser, if it has one.
    """

    at_start = False

    def __init__(
        self,
        evaluator: Evaluator,
        every: int,
        episodes: int,
        seed: int,
        target: float | None = None,
        compare_best: bool = False,
        normalizer: Any = None,
    ) -> None:
        self.evaluator = evaluator
        self.every, self.episodes, self.seed = every, episodes, seed
        self.target, self.compare_best = target, compare_best
        self.normalizer = normalizer or (lambda: None)

    def due(self, state: TrainState, budget_spent: bool) -> bool:
        return self.every > 0 and (state.iteration % self.every == 0 or budget_spent)

    def test(self, learner: Learner, step: StepResult | None, state: TrainState) -> TestResult:
        seeds = seeding.episode_seeds(
            self.seed, seeding.STREAM_TEST_EPISODES, state.iteration, self.episodes
        )
        contenders = [np.asarray(learner.policy_params(), dtype=np.float64)]
        looks_solved = self.target is not None and step is not None and step.best is not None
        if self.compare_best and looks_solved and step.best >= self.target:
            contenders.append(np.asarray(step.candidate, dtype=np.float64))
        norm: ObsNormalizer | None = self.normalizer()
        returns = self.evaluator.evaluate(np.stack(contenders), seeds, norm).returns
        scores = returns.mean(axis=1)
        pick = int(np.argmax(scores))
        if self.compare_best:
            row = {"test/center": float(scores[0]), "test/score": float(scores[pick])}
        else:
            row = {"test/score": float(scores[pick]), "test/min": float(returns[pick].min())}
        solved = self.target is not None and bool(scores[pick] >= self.target)
        return TestResult(row, float(scores[pick]), contenders[pick], solved)

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


class NoTester:
    """Never tests (runs whose learner scores itself, e.g. a search with its own final check)."""

    at_start = False

    def due(self, state: TrainState, budget_spent: bool) -> bool:
        return False

    def test(self, learner: Learner, step: StepResult | None, state: TrainState) -> TestResult:
        return TestResult()

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass
