"""Supervised sequence learning: RTRL, BPTT (full and truncated), gradient check, training loops.

* :mod:`~evorl.supervised.rtrl` — real-time recurrent learning for the fully recurrent net
  (Williams & Zipser 1989), epochwise and real-time, with teacher forcing.
* :mod:`~evorl.supervised.bptt` — backpropagation through time on any controller, full and
  truncated, gradient clipping, forget-gate bias.
* :mod:`~evorl.supervised.gradcheck` — finite differences against the analytic gradient.
* :mod:`~evorl.supervised.train` — the update rules, :func:`fit` and its learning curve, for
  the tasks of :mod:`evorl.tasks.sequences`; :mod:`~evorl.supervised.config` its configuration.
* :mod:`~evorl.supervised.learner` — the learner and tester of ``evorl fit`` runs
  (:mod:`evorl.commands.fit`).

Example:
    >>> from evorl.supervised import fit, resolve_config
    >>> result = fit(resolve_config("xor", "rtrl", ["seed=0"]))
    >>> result.solved
    True
"""

from evorl.supervised.bptt import bptt_step, run_sequence, sequence_loss
from evorl.supervised.config import ALGOS, TASK_DEFAULTS, FitConfig, resolve_config
from evorl.supervised.gradcheck import GradCheckResult, gradient_check
from evorl.supervised.rtrl import RealTimeRTRL, RTRLResult, rtrl_gradient, rtrl_step
from evorl.supervised.train import FitResult, evaluate, fit, plot_curve

__all__ = [
    "ALGOS",
    "TASK_DEFAULTS",
    "FitConfig",
    "FitResult",
    "GradCheckResult",
    "RTRLResult",
    "RealTimeRTRL",
    "bptt_step",
    "evaluate",
    "fit",
    "gradient_check",
    "plot_curve",
    "resolve_config",
    "rtrl_gradient",
    "rtrl_step",
    "run_sequence",
    "sequence_loss",
]
