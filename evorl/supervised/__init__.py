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

from evorl.registry import lazy_attributes

_LAZY = {
    "bptt_step": "bptt",
    "run_sequence": "bptt",
    "sequence_loss": "bptt",
    "ALGOS": "config",
    "TASK_DEFAULTS": "config",
    "FitConfig": "config",
    "resolve_config": "config",
    "GradCheckResult": "gradcheck",
    "gradient_check": "gradcheck",
    "RealTimeRTRL": "rtrl",
    "RTRLResult": "rtrl",
    "rtrl_gradient": "rtrl",
    "rtrl_step": "rtrl",
    "FitResult": "train",
    "evaluate": "train",
    "fit": "train",
    "plot_curve": "train",
}

__getattr__ = lazy_attributes(__name__, _LAZY)  # submodules load on first use


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
