"""Gradient training of evorl controllers: recurrent policy gradients and recurrent PPO.

The same :class:`~evorl.controllers.Controller` (same flat parameter vector) that evolution
optimises is trained here by backpropagation through time, with stochastic action heads and a
value head kept beside it (:mod:`evorl.gradient.policy`):

* :mod:`evorl.gradient.rpg` — Recurrent Policy Gradients (Wierstra, Foerster, Peters &
  Schmidhuber 2007/2010): REINFORCE through an LSTM over whole episodes, history-dependent
  baseline.
* :mod:`evorl.gradient.ppo` — recurrent PPO (Schulman et al. 2017) with GAE (Schulman et al.
  2016), truncated BPTT over chunks that keep episodes whole.

A gradient run is a run of evorl's one training loop with
:class:`~evorl.gradient.learner.GradientLearner` as its learner: the same run directories
(``config.yaml`` with ``kind: gradient``), metrics, checkpoints and policy files
(:mod:`evorl.policy`) as evolution; ``evorl train`` (:mod:`evorl.commands.train`) starts them.

Example:
    >>> from evorl.builder import build_trainer
    >>> from evorl.gradient import load_gradient_config
    >>> trainer = build_trainer(load_gradient_config("tmaze-10", ["--stop.iterations=1"]))
    >>> trainer.run().iteration
    1
"""

from __future__ import annotations

from evorl.gradient.config import GradientConfig, load_gradient_config, preset_names

__all__ = ["GradientConfig", "load_gradient_config", "preset_names"]
