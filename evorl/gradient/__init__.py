"""Gradient training of evorl controllers: recurrent policy gradients and recurrent PPO.

The same :class:`~evorl.controllers.Controller` (same flat parameter vector) that evolution
optimises is trained here by backpropagation through time, with stochastic action heads and a
value head kept beside it (:mod:`evorl.gradient.policy`):

* :mod:`evorl.gradient.rpg` — Recurrent Policy Gradients (Wierstra, Foerster, Peters &
  Schmidhuber 2007/2010): REINFORCE through an LSTM over whole episodes, history-dependent
  baseline.
* :mod:`evorl.gradient.ppo` — recurrent PPO (Schulman et al. 2017) with GAE (Schulman et al.
  2016), truncated BPTT over chunks that keep episodes whole.

Runs use evolution's run directories (``config.yaml`` with ``kind: gradient``, metrics,
``checkpoint.pt``, ``best.pt`` readable by :func:`evorl.playback.load_policy`); ``evorl train``
(:mod:`evorl.gradient.cli`) starts them.

Example:
    >>> from evorl.gradient import build_trainer, load_gradient_config
    >>> trainer = build_trainer(load_gradient_config("cartpole-novel"))
    >>> state = trainer.run()
"""

from __future__ import annotations

from evorl.gradient.config import GradientConfig, load_gradient_config, preset_names
from evorl.gradient.trainer import (
    GradientTrainer,
    build_trainer,
    is_gradient_run,
    resume_run,
    start_run,
)

__all__ = [
    "GradientConfig",
    "GradientTrainer",
    "build_trainer",
    "is_gradient_run",
    "load_gradient_config",
    "preset_names",
    "resume_run",
    "start_run",
]
