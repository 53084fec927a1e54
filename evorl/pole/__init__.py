"""The solve-and-count protocol of the pole-balancing benchmarks ("evaluations to solve").

Gomez, Schmidhuber & Miikkulainen, "Accelerated Neural Evolution through Cooperatively Coevolved
Synapses", JMLR 9, 2008 (Section 6), after Wieland (1991), Gruau, Whitley & Pyeatt (1996) and
Stanley & Miikkulainen's NEAT (2002). As implemented here:

* **Evaluations** are training episodes: every individual of every generation plays
  ``eval.episodes`` (1) episode of at most 1,000 steps. A run's count is the trainer's
  ``env/evaluations`` at the end of the generation in which the solution was evaluated: whole
  generations, as a batched ask/tell optimizer spends them. The count up to the solving
  individual in population order (NEAT's count) is kept too (``evaluations_serial``).
* **Candidates** get the long test: ``test_steps`` = 100,000 steps from the standard start
  state with the plain balance reward. Long tests and the generalisation test are not counted
  as evaluations. Which individuals are candidates (``candidates``): ``"balanced"``, every
  individual whose training episode lasted the full 1,000 steps (the Markov tasks, where the
  literature's evaluations themselves ran up to 100,000 steps, so any individual could be the
  solution); ``"champion"``, only the generation's fittest, if it balanced the 1,000 steps (the
  non-Markov double pole with Gruau's damping fitness, as in NEAT and ESP: the damping fitness
  picks the champion, the 100,000-step test decides).
* **Solved** when a candidate balances all ``test_steps`` (the first in population order if
  several do). Its **generalisation** score (the 625 start states of Gruau et al. balanced for
  1,000 steps, :func:`evorl.envs.pole_vector.generalization_score`) is measured and reported;
  it is required only when ``min_generalization`` > 0.

Two drivers give the same per-run results bit for bit (tested):

* :class:`~evorl.pole.tester.PoleTester` is the tester of one evolution run (what ``evorl evolve
  dpnv`` uses, through ``eval.pole_protocol``): after each generation it long-tests that
  generation's candidates; the first that passes solves the run.
* :func:`~evorl.pole.lockstep.run_lockstep` runs many seeds at once for a benchmark, all
  populations in one batch and all long tests in another.

Modules: :mod:`~evorl.pole.longtest` (the tests of a controller), :mod:`~evorl.pole.tester`,
:mod:`~evorl.pole.lockstep`; ``scripts/bench_pole.py`` prints the table.

``eval.pole_test_steps`` shortens the long test for a quick look (10,000 steps in the example
below, a few seconds; counts measured so are not the literature's).

Example:
    >>> from evorl.builder import build_trainer
    >>> from evorl.config import load_config
    >>> quick = ["--seed=3", "--eval.pole_test_steps=10000"]
    >>> trainer = build_trainer(load_config("single-pole", quick))
    >>> state = trainer.run()
    >>> state.solved, trainer.tester.solution.evaluations > 0
    (True, True)
"""

from evorl.pole.lockstep import RunResult, run_lockstep
from evorl.pole.longtest import (
    TEST_STEPS,
    TRAINING_STEPS,
    LongTest,
    balance_steps,
    generalization,
    pole_vector_env,
)
from evorl.pole.tester import PoleProtocol, PoleTester, Solution, candidate_rows

__all__ = [
    "TEST_STEPS",
    "TRAINING_STEPS",
    "LongTest",
    "PoleProtocol",
    "PoleTester",
    "RunResult",
    "Solution",
    "balance_steps",
    "candidate_rows",
    "generalization",
    "pole_vector_env",
    "run_lockstep",
]
