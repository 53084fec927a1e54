"""The gradient training loop: update → log → test → checkpoint, in evolution's run directories.

A gradient run writes what an evolution run writes (see :mod:`evorl.rundir`): ``config.yaml``
(the :class:`~evorl.gradient.config.GradientConfig`, with ``kind: gradient``), ``metrics.jsonl``
/ ``.csv`` (one row per update, evolution's keys where they mean the same: ``fitness/mean`` is
the mean return of the last ``num_envs`` finished training episodes, ``env/steps``,
``env/evaluations`` = finished episodes, ``test/score``), ``checkpoint.pt`` (everything needed to
resume exactly: weights, Adam state, counters, observation and reward statistics, the envs'
mid-episode state) and ``best.pt`` (the best tested controller). Both ``.pt`` files hold
``config`` (the run as an evolution :class:`~evorl.config.RunConfig`), ``params`` (the
controller's flat vector) and ``obs_stats`` in evolution's format, so
:func:`evorl.playback.load_policy` — ``evorl eval``, videos, ``evolve --init-from`` — reads them
unchanged. Tests run the deterministic controller (``act``: argmax / tanh-scaled mean) with
evolution's :class:`~evorl.evaluation.VectorEvaluator` and test seeds.

Every random stream derives from the run seed and the update number, so a resumed run continues
exactly as the uninterrupted run would have (bit-for-bit metrics apart from timings).

Example:
    >>> trainer = build_trainer(load_gradient_config("tmaze-10"))
    >>> trainer.run().solved
    True
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from evorl import seeding
from evorl.config import ConfigError, to_dict
from evorl.env_factory import env_spec
from evorl.evaluation import RunningObsStats, VectorEvaluator
from evorl.experiment import build_controller_for
from evorl.gradient.config import KIND, GradientConfig, config_from_dict, evaluation_config
from evorl.gradient.policy import RecurrentPolicy
from evorl.gradient.ppo import PPO
from evorl.gradient.rollouts import STREAM_VALUE_INIT
from evorl.gradient.rpg import RPG
from evorl.logger import Logger
from evorl.rundir import BEST, CHECKPOINT, CONFIG, create_run_dir, load_checkpoint, save_checkpoint

Hook = Callable[["GradientTrainer", dict[str, Any]], None]


@dataclasses.dataclass
class GradState:
    """Counters and results of a gradient run; saved in every checkpoint."""

    iteration: int = 0
    env_steps: int = 0
    episodes: int = 0
    elapsed: float = 0.0
    best_fitness: float = -math.inf
    champion_score: float = -math.inf
    champion_iteration: int = -1
    solved: bool = False
    stop_reason: str = ""


@dataclasses.dataclass
class GradientTrainer:
    """Sequences one gradient run: the algorithm updates, the trainer logs, tests and saves."""

    config: GradientConfig
    policy: RecurrentPolicy
    algorithm: PPO | RPG
    optimizer: torch.optim.Optimizer
    logger: Logger
    run_dir: Path | None = None
    hooks: list[Hook] = dataclasses.field(default_factory=list)
    state: GradState = dataclasses.field(default_factory=GradState)
    obs_stats: RunningObsStats | None = None
    champion: np.ndarray | None = None
    recent: list[float] = dataclasses.field(default_factory=list)

    def __post_init__(self) -> None:
        if self.config.obs_norm and self.obs_stats is None:
            dim = self.policy.controller.obs_dim
            self.obs_stats = RunningObsStats.empty(dim, self.config.obs_clip)
        if self.champion is None:
            self.champion = self.params()
        test_env = self.config.env
        if self.config.eval.test_max_episode_steps is not None:
            limit = self.config.eval.test_max_episode_steps
            test_env = dataclasses.replace(test_env, max_episode_steps=limit)
        self.evaluator = VectorEvaluator(
            test_env, self.policy.controller, self.config.eval.max_envs
        )

    def params(self) -> np.ndarray:
        """The controller's flat parameter vector (float64), as evolution stores it."""
        return self.policy.controller.get_flat().numpy().astype(np.float64)

    # ------------------------------------------------------------------ loop

    def run(self) -> GradState:
        """Train until a stopping rule fires; writes a final checkpoint."""
        while not self.state.stop_reason:
            self.step()
        self.checkpoint()
        return self.state

    def step(self) -> dict[str, Any]:
        """One update; returns its metrics row."""
        start = time.perf_counter()
        st = self.state
        normalizer = self.obs_stats.normalizer() if self.obs_stats is not None else None
        metrics, exp = self.algorithm.iterate(st.iteration, normalizer)
        if self.obs_stats is not None:
            self.obs_stats.merge(exp.obs_sums)
        st.iteration += 1
        st.env_steps += exp.env_steps
        st.episodes += len(exp.returns)
        width = self.algorithm.envs.num_envs
        self.recent = (self.recent + exp.returns.tolist())[-width:]
        if len(exp.returns):
            st.best_fitness = max(st.best_fitness, float(exp.returns.max()))
        row = {
            "fitness/mean": float(np.mean(self.recent)) if self.recent else math.nan,
            "fitness/max": float(exp.returns.max()) if len(exp.returns) else math.nan,
            "fitness/best": st.best_fitness,
            "env/steps": st.env_steps,
            "env/evaluations": st.episodes,
            "episode/length": float(exp.lengths.mean()) if len(exp.lengths) else math.nan,
            **metrics,
        }
        if self.policy.log_std is not None:
            row["policy/std"] = float(self.policy.log_std.detach().exp().mean())
        if self._test_due():
            row.update(self._test())
        elapsed = time.perf_counter() - start
        st.elapsed += elapsed
        row.update(
            {
                "time/iteration": elapsed,
                "time/total": st.elapsed,
                "perf/steps_per_s": exp.env_steps / elapsed,
            }
        )
        self.logger.record_many(row)
        row = self.logger.dump(st.iteration)
        st.stop_reason = self._stop_reason()
        if st.iteration % self.config.checkpoint_every == 0 and not st.stop_reason:
            self.checkpoint()
        shown = {k: math.nan if v is None else v for k, v in row.items()}
        for hook in self.hooks:
            hook(self, shown)
        return row

    # ------------------------------------------------------------------ tests and stopping

    def _test_due(self) -> bool:
        every = self.config.eval.test_every
        return every > 0 and (self.state.iteration % every == 0 or self._budget_spent())

    def _test(self) -> dict[str, float]:
        """Test the deterministic controller on evolution's test seeds; keep the champion."""
        cfg, st = self.config, self.state
        seeds = seeding.episode_seeds(
            cfg.seed, seeding.STREAM_TEST_EPISODES, st.iteration, cfg.eval.test_episodes
        )
        params = self.params()
        normalizer = self.obs_stats.normalizer() if self.obs_stats is not None else None
        returns = self.evaluator.evaluate(params[None], seeds, normalizer).returns[0]
        score = float(returns.mean())
        if score > st.champion_score:
            st.champion_score, st.champion_iteration = score, st.iteration
            self.champion = params
            if self.run_dir is not None:
                save_checkpoint(self.run_dir / BEST, self.policy_payload(params))
        if cfg.stop.target is not None and score >= cfg.stop.target:
            st.solved = True
        return {"test/score": score, "test/min": float(returns.min())}

    def _budget_spent(self) -> bool:
        return self._stop_reason(budget_only=True) != ""

    def _stop_reason(self, budget_only: bool = False) -> str:
        stop, st = self.config.stop, self.state
        if st.solved and not budget_only:
            return "solved"
        for name, value in (
            ("env_steps", st.env_steps),
            ("episodes", st.episodes),
            ("iterations", st.iteration),
            ("wall_time", st.elapsed),
        ):
            limit = getattr(stop, name)
            if limit is not None and value >= limit:
                return name
        return ""

    # ------------------------------------------------------------------ persistence

    def policy_payload(self, params: np.ndarray) -> dict[str, Any]:
        """What ``evorl eval`` reads (evolution's format) plus the gradient config."""
        return {
            "kind": KIND,
            "config": to_dict(evaluation_config(self.config)),
            "gradient_config": to_dict(self.config),
            "params": np.asarray(params, dtype=np.float64).copy(),
            "obs_stats": self.obs_stats.state_dict() if self.obs_stats is not None else None,
            "iteration": self.state.iteration,
            "score": self.state.champion_score,
        }

    def checkpoint(self) -> None:
        """Write the full training state (atomically); ``params`` is the current controller."""
        if self.run_dir is None:
            return
        payload = self.policy_payload(self.params())
        payload.update(
            {
                "state": dataclasses.asdict(self.state),
                "policy": self.policy.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "algorithm": self.algorithm.state_dict(),
                "champion": self.champion.copy(),
                "recent": list(self.recent),
            }
        )
        save_checkpoint(self.run_dir / CHECKPOINT, payload)

    def restore(self, payload: dict[str, Any]) -> None:
        """Load a checkpoint's training state into this (freshly built) trainer."""
        if payload.get("kind") != KIND:
            raise ConfigError("not a gradient checkpoint (use `evorl resume` for evolution runs)")
        self.state = GradState(**payload["state"])
        self.state.stop_reason = ""
        self.policy.load_state_dict(payload["policy"])
        self.optimizer.load_state_dict(payload["optimizer"])
        self.algorithm.load_state_dict(payload["algorithm"])
        if payload["obs_stats"] is not None:
            self.obs_stats = RunningObsStats.from_state_dict(payload["obs_stats"])
        self.champion = np.asarray(payload["champion"], dtype=np.float64).copy()
        self.recent = list(payload["recent"])
        self.logger.truncate(self.state.iteration)

    def close(self) -> None:
        self.evaluator.close()
        self.algorithm.close()


# --------------------------------------------------------------------------- assembly


def build_policy(config: GradientConfig, fresh_head: bool = True) -> RecurrentPolicy:
    """The controller (evolution's initialisation for the same seed) wrapped in its heads."""
    controller = build_controller_for(evaluation_config(config))
    scale = config.policy.readout_scale
    if fresh_head and scale is not None and hasattr(controller, "w_out"):
        with torch.no_grad():
            controller.w_out.mul_(scale)
    space = env_spec(config.env).action_space
    seed = seeding.int_seed(config.seed, STREAM_VALUE_INIT)
    return RecurrentPolicy(controller, space, config.policy, seed=seed)


def _initial_policy(config: GradientConfig) -> tuple[RecurrentPolicy, RunningObsStats | None]:
    """A fresh policy, or the controller of ``config.init_from`` (any run directory)."""
    if config.init_from is None:
        return build_policy(config), None
    from evorl.playback import load_policy

    source = load_policy(config.init_from)
    policy = build_policy(config, fresh_head=False)
    ctrl = policy.controller
    if source.config.controller != config.controller or source.params.shape != (ctrl.num_params,):
        raise ConfigError(
            f"--init-from {config.init_from}: its controller {source.config.controller} does not "
            f"match this run's {config.controller} (set --controller.* to match)"
        )
    if source.obs_stats is not None and not config.obs_norm:
        raise ConfigError(
            f"--init-from {config.init_from}: that run normalises observations; add --obs_norm=true"
        )
    ctrl.set_flat(torch.as_tensor(source.params, dtype=torch.float32))
    return policy, source.obs_stats


def build_trainer(
    config: GradientConfig,
    run_dir: Path | None = None,
    hooks: list[Hook] | None = None,
    *,
    load_init: bool = True,
) -> GradientTrainer:
    """A ready-to-run trainer; ``run_dir=None`` keeps everything in memory."""
    if load_init:
        policy, obs_stats = _initial_policy(config)
    else:
        policy, obs_stats = build_policy(config), None
    optimizer = torch.optim.Adam(policy.parameters(), lr=config.lr, eps=config.optim.eps)
    algo_cls = PPO if config.algo == "ppo" else RPG
    return GradientTrainer(
        config=config,
        policy=policy,
        algorithm=algo_cls(config, policy, optimizer),
        optimizer=optimizer,
        logger=Logger(run_dir),
        run_dir=run_dir,
        hooks=list(hooks or []),
        obs_stats=obs_stats,
    )


def start_run(
    config: GradientConfig, run_dir: str | Path | None = None, hooks: list[Hook] | None = None
) -> GradientTrainer:
    """A new run with its own run directory (config saved before the first update)."""
    trainer = build_trainer(config, None, hooks)  # fail on a bad --init-from before mkdir
    path = create_run_dir(config, run_dir)
    trainer.run_dir, trainer.logger = path, Logger(path)
    return trainer


def is_gradient_run(run_dir: str | Path) -> bool:
    """Whether ``run_dir``'s ``config.yaml`` says ``kind: gradient``."""
    path = Path(run_dir) / CONFIG
    if not path.is_file():
        return False
    data = yaml.safe_load(path.read_text())
    return isinstance(data, dict) and data.get("kind") == KIND


def load_run_config(run_dir: str | Path) -> GradientConfig:
    """The :class:`GradientConfig` saved in a run directory."""
    path = Path(run_dir) / CONFIG
    if not is_gradient_run(run_dir):
        raise ConfigError(f"not a gradient run directory (no 'kind: {KIND}' in {path})")
    return config_from_dict(yaml.safe_load(path.read_text()))


def resume_run(
    run_dir: str | Path, config: GradientConfig | None = None, hooks: list[Hook] | None = None
) -> GradientTrainer:
    """A trainer restored from ``run_dir``'s checkpoint, ready to continue exactly."""
    path = Path(run_dir)
    config = config or load_run_config(path)
    payload = load_checkpoint(path / CHECKPOINT)
    trainer = build_trainer(config, path, hooks, load_init=False)
    trainer.restore(payload)
    return trainer
