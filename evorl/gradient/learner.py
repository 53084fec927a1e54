"""The gradient learner: one update of recurrent PPO or RPG per step of the training loop.

A gradient run is an ordinary run of :class:`~evorl.training.Trainer`: this learner steps the
algorithm (:class:`~evorl.gradient.ppo.PPO` or :class:`~evorl.gradient.rpg.RPG`), keeps the
observation statistics and the returns of the last ``num_envs`` finished episodes, and writes its
policy — the controller's flat vector, the same one evolution searches — in the policy file
format (:mod:`evorl.policy`), so ``evorl eval``, videos and ``evolve --init-from`` read it as
they read an evolved one. Tests run the deterministic controller (``act``: argmax / tanh-scaled
mean) with :class:`~evorl.training.PolicyTester` on evolution's test seeds.

Rows keep evolution's keys where they mean the same: ``fitness/mean`` is the mean return of the
last ``num_envs`` finished training episodes, ``env/evaluations`` the finished episodes.

Example:
    >>> from evorl.builder import build_trainer
    >>> from evorl.gradient.config import load_gradient_config
    >>> trainer = build_trainer(load_gradient_config("tmaze-10", ["--stop.iterations=2"]))
    >>> trainer.run().iteration
    2
"""

from __future__ import annotations

import copy
import dataclasses
import math
from typing import Any

import numpy as np
import torch

from evorl import seeding
from evorl.builder import Parts, controller_for, initial_point
from evorl.device import resolve
from evorl.evaluation import ObsNormalizer, RunningObsStats, VectorEvaluator
from evorl.gradient.config import GradientConfig
from evorl.gradient.policy import RecurrentPolicy
from evorl.gradient.ppo import PPO
from evorl.gradient.rpg import RPG
from evorl.policy import policy_file, policy_info
from evorl.training import Budget, PolicyTester, StepResult
from evorl.training.evolution import merge_obs


class GradientLearner:
    """A recurrent policy trained by PPO or RPG, one update per step."""

    unit = "update"

    def __init__(
        self,
        config: GradientConfig,
        policy: RecurrentPolicy,
        obs_stats: RunningObsStats | None,
        info: dict[str, Any],
    ) -> None:
        self.config, self.policy, self.info = config, policy, info
        # The update trains a copy on the device; rollouts and tests step ``policy`` on the
        # CPU, which :meth:`step` refreshes from the copy after every update (one code path
        # whatever the device, so the CPU's tests cover the GPU's bookkeeping).
        self.trained = copy.deepcopy(policy).to(resolve(config.device))
        self.optimizer = torch.optim.Adam(
            self.trained.parameters(), lr=config.lr, eps=config.optim.eps
        )
        algo = PPO if config.algo == "ppo" else RPG
        self.algorithm = algo(config, policy, self.optimizer, self.trained)
        if config.obs_norm and obs_stats is None:
            obs_stats = RunningObsStats.empty(policy.controller.obs_dim, config.obs_clip)
        self.obs_stats = obs_stats
        self.recent: list[float] = []

    def normalizer(self) -> ObsNormalizer | None:
        return self.obs_stats.normalizer() if self.obs_stats is not None else None

    def step(self, iteration: int) -> StepResult:
        metrics, exp = self.algorithm.iterate(iteration, self.normalizer())
        self.policy.load_state_dict(self.trained.state_dict())  # the update, back on the CPU
        if self.obs_stats is not None:
            metrics.update(merge_obs(self.obs_stats, exp.obs_sums, "skip"))
        width = self.algorithm.envs.num_envs
        self.recent = (self.recent + exp.returns.tolist())[-width:]
        found = len(exp.returns) > 0
        extra = {"episode/length": float(exp.lengths.mean()) if found else math.nan, **metrics}
        if self.policy.log_std is not None:
            extra["policy/std"] = float(self.policy.log_std.detach().exp().mean())
        return StepResult(
            fitness={
                "fitness/mean": float(np.mean(self.recent)) if self.recent else math.nan,
                "fitness/max": float(exp.returns.max()) if found else math.nan,
            },
            metrics=extra,
            env_steps=exp.env_steps,
            episodes=len(exp.returns),
            best=float(exp.returns.max()) if found else None,
        )

    def policy_params(self) -> np.ndarray:
        return self.policy.controller.get_flat().numpy().astype(np.float64)

    def policy_file(self, params: np.ndarray, score: float) -> dict[str, Any]:
        return policy_file(self.info, params, self.obs_stats, score)

    def state_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "algorithm": self.algorithm.state_dict(),
            "obs_stats": self.obs_stats.state_dict() if self.obs_stats is not None else None,
            "recent": list(self.recent),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.policy.load_state_dict(state["policy"])
        self.trained.load_state_dict(state["policy"])
        self.optimizer.load_state_dict(state["optimizer"])  # its moments follow the parameters
        self.algorithm.load_state_dict(state["algorithm"])
        if state["obs_stats"] is not None:
            self.obs_stats = RunningObsStats.from_state_dict(state["obs_stats"])
        self.recent = list(state["recent"])

    def close(self) -> None:
        self.algorithm.close()


def build_policy(config: GradientConfig, fresh_head: bool = True) -> tuple[RecurrentPolicy, Any]:
    """The controller (evolution's initialisation for the same seed) wrapped in its heads, and
    the env's spaces."""
    controller, spec = controller_for(config.env, config.controller, config.seed)
    scale = config.policy.readout_scale
    if fresh_head and scale is not None and hasattr(controller, "w_out"):
        with torch.no_grad():
            controller.w_out.mul_(scale)
    seed = seeding.int_seed(config.seed, seeding.STREAM_VALUE_INIT)
    return RecurrentPolicy(controller, spec.action_space, config.policy, seed=seed), spec


def build_parts(config: GradientConfig, load_init: bool = True) -> Parts:
    """Learner, tester and stopping rules of a gradient run (see :func:`evorl.builder`)."""
    from_run = load_init and config.init_from is not None
    policy, spec = build_policy(config, fresh_head=not from_run)
    obs_stats = None
    if from_run:
        ctrl = policy.controller
        params, obs_stats = initial_point(
            config.init_from, config.controller, ctrl.num_params, config.obs_norm
        )
        ctrl.set_flat(torch.as_tensor(params, dtype=torch.float32))
    info = policy_info(config.env, config.controller, spec.obs_dim, spec.action_space)
    learner = GradientLearner(config, policy, obs_stats, info)
    ev, stop = config.eval, config.stop
    test_env = config.env
    if ev.test_max_episode_steps is not None:
        test_env = dataclasses.replace(test_env, max_episode_steps=ev.test_max_episode_steps)
    tester = PolicyTester(
        VectorEvaluator(test_env, policy.controller, ev.max_envs),
        ev.test_every,
        ev.test_episodes,
        config.seed,
        stop.target,
        normalizer=learner.normalizer,
    )
    budget = Budget(stop.target, stop.iterations, stop.episodes, stop.env_steps, stop.wall_time)
    return Parts(learner, tester, budget)
