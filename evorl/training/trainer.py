"""The one training loop: step → log → test → champion → stop rules → checkpoint → hooks.

Every kind of training in evorl runs in this loop. What differs between kinds is the *learner*
it steps — evolution (ask → evaluate → tell), recurrent PPO or RPG, supervised fitting, an
agent's own — and the *tester* that decides the champion and when a run is solved (default: test
the learner's current policy on fixed test seeds; the pole benchmark long-tests candidates).
The trainer owns what they share: counters, the champion, the stopping rules, the metrics rows,
atomic checkpoints and exact resume (everything random derives from the run seed and the
iteration number, so a resumed run continues as the uninterrupted one would have).

Example:
    >>> from evorl.builder import build_trainer
    >>> from evorl.config import load_config
    >>> trainer = build_trainer(load_config("cartpole-novel", ["--stop.generations=2"]))
    >>> state = trainer.run()
    >>> state.iteration, state.stop_reason
    (2, 'generations')
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from evorl.logger import Logger

Hook = Callable[["Trainer", dict[str, Any]], None]
"""Called after every iteration with the trainer and the row it logged."""


@dataclass
class StepResult:
    """What one learner step reports to the trainer."""

    fitness: dict[str, float] = field(default_factory=dict)
    """Per-step fitness summary (``fitness/mean``, ``fitness/max``, ...), first in the row."""
    metrics: dict[str, Any] = field(default_factory=dict)
    """Everything else the learner logs (``opt/*``, ``loss/*``)."""
    timings: dict[str, float] = field(default_factory=dict)
    """Seconds spent in the step's parts (``time/eval``, ...), logged after the tests."""
    env_steps: int = 0
    """Environment steps (or sequence steps) consumed."""
    episodes: int = 0
    """Episodes (or sequences) completed."""
    best: float | None = None
    """This step's best fitness (for ``fitness/best``), if it has one."""
    candidate: np.ndarray | None = None
    """The step's best candidate (evolution), which a tester may also test."""
    extra: Any = None
    """Learner-specific detail for its testers (the evaluated population, say)."""
    stop: str = ""
    """A reason the learner cannot go on (e.g. ``diverged``), or empty."""


@dataclass
class TestResult:
    """What a tester reports: a metrics row and, when it scored a policy, its score."""

    row: dict[str, Any] = field(default_factory=dict)
    score: float | None = None
    """Score of ``params`` (the champion candidate), comparable across tests."""
    params: np.ndarray | None = None
    """The tested policy's flat parameters."""
    solved: bool = False
    stop: str = ""
    """A reason the run should stop now (e.g. ``early stopping``), or empty."""


class Learner(Protocol):
    """What the trainer steps (see the module docstring)."""

    unit: str
    """What one step is called in messages: ``generation``, ``update``, ``batch``."""

    def step(self, iteration: int) -> StepResult: ...

    def policy_params(self) -> np.ndarray:
        """The learner's current policy (search centre, current weights) as a flat vector."""
        ...

    def policy_file(self, params: np.ndarray, score: float) -> dict[str, Any]:
        """The policy file (:mod:`evorl.policy`) of ``params``."""
        ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


class Tester(Protocol):
    """Decides when to test, tests, and says whether the run is solved."""

    at_start: bool
    """Test once before the first step (a learning curve's starting point)."""

    def due(self, state: TrainState, budget_spent: bool) -> bool: ...

    def test(self, learner: Learner, step: StepResult | None, state: TrainState) -> TestResult: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class Budget:
    """Stopping rules; the run stops at the first one met."""

    target: float | None = None
    """A test score that counts as solved."""
    iterations: int | None = None
    episodes: int | None = None
    env_steps: int | None = None
    wall_time: float | None = None
    """Seconds of training, summed over resumed sessions."""
    stop_on_solve: bool = True

    def spent(self, state: TrainState) -> str:
        """The name of the first budget that is used up, or empty."""
        for name, value in (
            ("iterations", state.iteration),
            ("episodes", state.episodes),
            ("env_steps", state.env_steps),
            ("wall_time", state.elapsed),
        ):
            limit = getattr(self, name)
            if limit is not None and value >= limit:
                return name
        return ""


@dataclass
class TrainState:
    """Counters and results of a run; saved in every checkpoint."""

    iteration: int = 0
    env_steps: int = 0
    episodes: int = 0
    elapsed: float = 0.0
    best_fitness: float = -math.inf
    champion_score: float = -math.inf
    champion_iteration: int = -1
    solved: bool = False
    stop_reason: str = ""


@dataclass
class Trainer:
    """Runs one learner to a stopping rule; see the module docstring.

    Args:
        learner: What is trained.
        tester: When and how it is tested.
        budget: The stopping rules.
        checkpoint_every: Iterations between checkpoints (and one at the end).
        logger: Metrics rows (CSV/JSONL in ``run_dir``, and any extra writers).
        run_dir: Run directory, or None to keep everything in memory.
        kind: The run's kind (``evolution``, ``gradient``, ``fit``, ...), saved in checkpoints.
        config: The run's config as plain data, saved in checkpoints.
        stop_names: How budget names read in ``stop_reason`` (e.g. iterations → generations).
    """

    learner: Learner
    tester: Tester
    budget: Budget
    checkpoint_every: int = 10
    logger: Logger = field(default_factory=Logger)
    run_dir: Path | None = None
    kind: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    stop_names: dict[str, str] = field(default_factory=dict)
    hooks: list[Hook] = field(default_factory=list)
    state: TrainState = field(default_factory=TrainState)
    champion_file: dict[str, Any] | None = None
    """The champion's policy file, as it was when the champion was found (its statistics)."""
    stop_request: str = ""
    """Set by :meth:`request_stop` (a signal handler): the run stops after this iteration."""
    test_stop: str = ""
    """The last test's reason to stop (a tester's rule such as early stopping), or empty."""

    def __post_init__(self) -> None:
        if self.champion_file is None:
            self.champion_file = self.learner.policy_file(self.learner.policy_params(), -math.inf)

    @property
    def champion(self) -> np.ndarray:
        """The champion's flat parameters."""
        return self.champion_file["params"]

    # ------------------------------------------------------------------ loop

    def run(self) -> TrainState:
        """Train until a stopping rule fires (or :meth:`request_stop`); writes a final checkpoint.

        A run whose stopping rule has already fired (a resumed finished run) returns at once,
        without a new iteration or a checkpoint.
        """
        if self.finished():
            self.state.stop_reason = self.finished()
            return self.state
        if self.state.iteration == 0 and self.tester.at_start:
            row = self._record(self._test(None))
            for hook in self.hooks:
                hook(self, row)
        while not self.state.stop_reason:
            self.step()
            if self.stop_request and not self.state.stop_reason:
                self.state.stop_reason = self.stop_request
        self.checkpoint()
        return self.state

    def request_stop(self, reason: str = "interrupted") -> None:
        """Stop at the end of the current iteration (then checkpoint): safe from a signal
        handler, and the run resumes exactly from there."""
        self.stop_request = reason

    def finished(self) -> str:
        """The stopping rule that has already fired (a resumed run that is done), or empty."""
        return self._stop_reason()

    def step(self) -> dict[str, Any]:
        """One iteration; returns its metrics row."""
        start = time.perf_counter()
        st = self.state
        out = self.learner.step(st.iteration)
        st.iteration += 1
        st.env_steps += out.env_steps
        st.episodes += out.episodes
        row = dict(out.fitness)
        if out.best is not None:
            st.best_fitness = max(st.best_fitness, out.best)
            row["fitness/best"] = st.best_fitness
        row.update({"env/steps": st.env_steps, "env/evaluations": st.episodes, **out.metrics})
        if self.tester.due(st, bool(self.budget.spent(st))):
            row.update(self._test(out))
        elapsed = time.perf_counter() - start
        st.elapsed += elapsed
        row.update(out.timings)
        row.update(
            {
                "time/iteration": elapsed,
                "time/total": st.elapsed,
                "perf/steps_per_s": out.env_steps / elapsed,
            }
        )
        st.stop_reason = out.stop or self.test_stop or self._stop_reason()
        row = self._record(row)
        if st.iteration % self.checkpoint_every == 0 and not st.stop_reason:
            self.checkpoint()
        for hook in self.hooks:
            hook(self, row)
        return row

    def _record(self, row: dict[str, Any]) -> dict[str, Any]:
        self.logger.record_many(row)
        return self.logger.dump(self.state.iteration)

    def _test(self, out: StepResult | None) -> dict[str, Any]:
        st = self.state
        result = self.tester.test(self.learner, out, st)
        if result.score is not None and result.score > st.champion_score:
            st.champion_score, st.champion_iteration = float(result.score), st.iteration
            self.champion_file = self.learner.policy_file(result.params, st.champion_score)
            self._save_champion()
        if result.solved:
            st.solved = True
        self.test_stop = result.stop
        return result.row

    def _stop_reason(self) -> str:
        if self.state.solved and self.budget.stop_on_solve:
            return "solved"
        spent = self.budget.spent(self.state)
        return self.stop_names.get(spent, spent)

    # ------------------------------------------------------------------ persistence

    def _save_champion(self) -> None:
        if self.run_dir is None:
            return
        from evorl.rundir import BEST, save_checkpoint

        save_checkpoint(self.run_dir / BEST, {"policy": self.champion_file}, self.kind)

    def checkpoint(self) -> None:
        """Write the full training state (atomically) so the run can resume exactly."""
        if self.run_dir is None:
            return
        from evorl.rundir import CHECKPOINT, save_checkpoint

        latest = self.learner.policy_params()
        payload = {
            "config": self.config,
            "trainer": asdict(self.state),
            "learner": self.learner.state_dict(),
            "tester": self.tester.state_dict(),
            "champion": self.champion_file,
            "policy": self.learner.policy_file(latest, math.nan),
        }
        save_checkpoint(self.run_dir / CHECKPOINT, payload, self.kind)

    def restore(self, payload: dict[str, Any]) -> None:
        """Load a checkpoint's training state into this (freshly built) trainer."""
        self.state = TrainState(**payload["trainer"])
        self.state.stop_reason = ""
        self.learner.load_state_dict(payload["learner"])
        self.tester.load_state_dict(payload["tester"])
        self.champion_file = payload["champion"]
        self.logger.truncate(self.state.iteration)

    def close(self) -> None:
        """Release the learner's environments and workers; close the logger's writers."""
        self.learner.close()
        self.logger.close()
