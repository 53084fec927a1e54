"""The one training loop and what it steps: learners, testers, stopping rules.

* :mod:`~evorl.training.trainer` — :class:`Trainer` (step → log → test → champion → stop rules →
  checkpoint → hooks), the :class:`Learner` and :class:`Tester` protocols, :class:`Budget`.
* :mod:`~evorl.training.evolution` — :class:`EvolutionLearner` (ask → evaluate → tell).
* :mod:`~evorl.training.testers` — :class:`PolicyTester`, the default tester.

Gradient learners are in :mod:`evorl.gradient.learner`, supervised fitting in
:mod:`evorl.supervised.learner`, the pole benchmark's tester in :mod:`evorl.pole.tester`;
:func:`evorl.builder.build_trainer` puts a run together from its config.
"""

from evorl.training.evolution import Asked, EvolutionLearner, search
from evorl.training.testers import NoTester, PolicyTester
from evorl.training.trainer import (
    Budget,
    Hook,
    Learner,
    StepResult,
    Tester,
    TestResult,
    Trainer,
    TrainState,
)

__all__ = [
    "Asked",
    "Budget",
    "EvolutionLearner",
    "Hook",
    "Learner",
    "NoTester",
    "PolicyTester",
    "StepResult",
    "TestResult",
    "Tester",
    "TrainState",
    "Trainer",
    "search",
]
