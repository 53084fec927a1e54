"""The one builder: controller, optimizer and evaluator from a config; a trainer for any run.

:func:`controller_for` learns the env's spaces once and builds the controller from them — the
driver, every Ray worker, playback and gradient training all call it, so they agree on the
controller bit for bit. :func:`build_trainer` assembles a :class:`~evorl.training.Trainer` for
any kind of run from its config (an evolution :class:`~evorl.config.RunConfig`, a gradient
:class:`~evorl.gradient.config.GradientConfig` or a supervised
:class:`~evorl.supervised.config.FitConfig`): the kind's learner and tester, the stopping rules,
and the logger of its run directory. :func:`start_run` and :func:`resume_run` add the run
directory.

Example:
    >>> trainer = build_trainer(load_config("cartpole-novel", ["--stop.generations=1"]))
    >>> trainer.run().iteration
    1
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from evorl import seeding
from evorl.config import ConfigError, EnvConfig, OptimizerConfig, RunConfig, load_config, to_dict
from evorl.controllers import Controller, ControllerConfig, build_controller
from evorl.env_factory import EnvSpec, env_spec
from evorl.evaluation import Evaluator, RunningObsStats, make_evaluator
from evorl.logger import Logger
from evorl.optimizers import Optimizer, make_optimizer
from evorl.policy import load_policy, policy_info
from evorl.rundir import CHECKPOINT, create_run_dir, load_checkpoint, load_run_config
from evorl.training import Budget, EvolutionLearner, Hook, PolicyTester, Trainer

__all__ = [
    "Parts",
    "build_trainer",
    "controller_for",
    "initial_point",
    "load_config",
    "optimizer_for",
    "resume_run",
    "start_run",
]


MEMORY_SHARE = 0.8
"""Largest share of this machine's memory a run's controller and population may need."""


def controller_for(
    env: EnvConfig,
    controller: ControllerConfig,
    seed: int,
    popsize: int | None = None,
    optimizer: str | None = None,
) -> tuple[Controller, EnvSpec]:
    """The run's controller (initialised from the run seed) and the env's spaces.

    The controller's size is checked against the machine's memory first (built on torch's
    ``meta`` device, which allocates nothing), with ``popsize`` copies of its parameters when
    given (and the d x d matrices of ``optimizer`` if it keeps any), so an impossible size is
    refused in one line instead of exhausting the machine.
    """
    spec = env_spec(env)
    check_memory(controller, spec, popsize, optimizer)
    try:
        ctrl = build_controller(
            controller,
            spec.obs_dim,
            spec.action_space,
            seed=seeding.int_seed(seed, seeding.STREAM_INIT),
        )
    except ValueError as err:
        raise ConfigError(f"controller: {err}") from None
    return ctrl, spec


def check_memory(
    controller: ControllerConfig,
    spec: EnvSpec,
    popsize: int | None = None,
    optimizer: str | None = None,
) -> None:
    """Refuse (ConfigError) a controller whose parameters, times the population, would not fit
    in :data:`MEMORY_SHARE` of this machine's memory (nor an optimizer's d x d matrices)."""
    import torch

    try:
        with torch.device("meta"):
            size = build_controller(controller, spec.obs_dim, spec.action_space).num_params
    except ValueError as err:
        raise ConfigError(f"controller: {err}") from None
    if optimizer is not None:
        _check_quadratic(optimizer, size)
    copies = 2 + 3 * (popsize or 0)  # module and flat copy; float64 asks + float32 rows
    need = 4 * size * copies
    if need > MEMORY_SHARE * _memory():
        raise ConfigError(
            f"controller {controller.kind}{list(controller.hidden)} has {size:,} parameters"
            f"{f' (x {popsize:,} individuals)' if popsize else ''}: about {need / 2**30:,.0f} GiB,"
            f" more than this machine's {_memory() / 2**30:,.0f} GiB allows"
        )


def _memory() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _check_quadratic(name: str, dim: int) -> None:
    from evorl.optimizers import OPTIMIZERS

    need = 8 * 3 * dim**2  # a few d x d float64 matrices
    if name in OPTIMIZERS and OPTIMIZERS[name].quadratic_memory and need > MEMORY_SHARE * _memory():
        raise ConfigError(
            f"optimizer: {name} keeps {dim:,} x {dim:,} matrices, about {need / 2**30:,.0f} GiB:"
            " use sep-cmaes, snes or pgpe for a controller this large"
        )


def optimizer_for(
    cfg: OptimizerConfig, seed: int, x0: np.ndarray, controller: Controller | None
) -> Optimizer:
    """The run's optimizer, started at ``x0``; ESP splits by the controller's hidden units
    unless the config gives a split (or there is no evorl controller)."""
    settings = dict(cfg.settings)
    _check_quadratic(cfg.name, x0.size)
    try:
        splits = settings.get("unit_index") is not None or settings.get("units")
        if cfg.name == "esp" and controller is not None and not splits:
            settings["unit_index"] = tuple(controller.unit_index().tolist())
        return make_optimizer(
            cfg.name,
            x0,
            sigma=cfg.sigma,
            popsize=cfg.popsize,
            seed=seeding.int_seed(seed, seeding.STREAM_OPTIMIZER),
            **settings,
        )
    except (ValueError, TypeError) as err:
        raise ConfigError(f"optimizer: {err}") from None


def initial_point(
    init_from: str, controller_cfg: ControllerConfig, num_params: int, obs_norm: bool
) -> tuple[np.ndarray, RunningObsStats | None]:
    """The parameters and observation statistics of the run directory ``init_from``."""
    if not Path(init_from).is_dir():
        raise ConfigError(f"init_from: no run directory {init_from}")
    source = load_policy(init_from)
    if source.controller_config != controller_cfg or source.params.shape != (num_params,):
        raise ConfigError(
            f"init_from {init_from}: its controller {source.controller_config} does not "
            f"match this run's {controller_cfg} (set --controller.* to match)"
        )
    if source.obs_stats is not None and not obs_norm:
        raise ConfigError(
            f"init_from {init_from}: that run normalises observations; turn normalisation on "
            "(--eval.obs_norm=true, or --obs_norm=true for gradient runs)"
        )
    return source.params.astype(np.float64), source.obs_stats


@dataclass
class Parts:
    """What a kind of run contributes to the loop."""

    learner: Any
    tester: Any
    budget: Budget
    stop_names: dict[str, str] = field(default_factory=dict)


def _evolution(config: RunConfig, load_init: bool) -> Parts:
    opt = config.optimizer
    controller, spec = controller_for(
        config.env, config.controller, config.seed, opt.popsize, opt.name
    )
    x0 = controller.get_flat().detach().numpy().astype(np.float64)
    obs_stats = None
    if load_init and config.init_from is not None:
        x0, obs_stats = initial_point(
            config.init_from, config.controller, controller.num_params, config.eval.obs_norm
        )
    if config.eval.obs_norm and obs_stats is None:
        obs_stats = RunningObsStats.empty(spec.obs_dim, config.eval.obs_clip)
    evaluator: Evaluator = make_evaluator(config, controller)
    learner = EvolutionLearner(
        optimizer_for(config.optimizer, config.seed, x0, controller),
        evaluator,
        config.seed,
        config.eval.episodes,
        obs_stats,
        policy_info(config.env, config.controller, spec.obs_dim, spec.action_space),
        config.eval.obs_nonfinite,
    )
    ev, stop = config.eval, config.stop
    if ev.pole_protocol is not None:
        from evorl.pole.tester import PoleTester

        tester: Any = PoleTester.for_run(config, controller)
    else:
        tester = PolicyTester(
            evaluator,
            ev.test_every,
            ev.test_episodes,
            config.seed,
            stop.target,
            compare_best=True,
            normalizer=learner.normalizer,
        )
    budget = Budget(stop.target, stop.generations, stop.evaluations, stop.env_steps, stop.wall_time)
    return Parts(learner, tester, budget, {"iterations": "generations", "episodes": "evaluations"})


_KINDS = {
    "RunConfig": ("evolution", "evorl.builder:_evolution"),
    "GradientConfig": ("gradient", "evorl.gradient.learner:build_parts"),
    "FitConfig": ("fit", "evorl.supervised.learner:build_parts"),
    "LabelConfig": ("label", "evorl.labelling.learner:build_parts"),
}


def build_trainer(
    config: Any,
    run_dir: Path | None = None,
    hooks: list[Hook] | None = None,
    *,
    load_init: bool = True,
) -> Trainer:
    """A ready-to-run trainer for ``config``; ``run_dir=None`` keeps everything in memory.

    ``load_init=False`` skips ``config.init_from`` (a resumed run restores its own state).
    """
    kind, where = _KINDS[type(config).__name__]
    module, name = where.split(":")
    parts: Parts = getattr(importlib.import_module(module), name)(config, load_init)
    return Trainer(
        learner=parts.learner,
        tester=parts.tester,
        budget=parts.budget,
        checkpoint_every=config.checkpoint_every,
        logger=Logger(run_dir),
        run_dir=run_dir,
        kind=kind,
        config=to_dict(config),
        stop_names=parts.stop_names,
        hooks=list(hooks or []),
    )


def start_run(
    config: Any, run_dir: str | Path | None = None, hooks: list[Hook] | None = None
) -> Trainer:
    """A new run with its own run directory (config saved before the first iteration).

    The parts are built first, so a config error leaves no empty run directory behind.
    """
    trainer = build_trainer(config, None, hooks)
    trainer.run_dir = create_run_dir(config, run_dir)
    trainer.logger = Logger(trainer.run_dir)
    trainer.logger.clear()  # rows of an earlier attempt killed before its first checkpoint
    return trainer


def resume_run(run_dir: str | Path, config: Any = None, hooks: list[Hook] | None = None) -> Trainer:
    """A trainer restored from ``run_dir``'s checkpoint, ready to continue exactly."""
    path = Path(run_dir)
    config = config if config is not None else load_run_config(path)
    payload = load_checkpoint(path / CHECKPOINT)
    kind = _KINDS[type(config).__name__][0]
    if payload.get("kind") != kind:
        raise ConfigError(f"{path}: its checkpoint is of a {payload.get('kind')} run, not {kind}")
    trainer = build_trainer(config, path, hooks, load_init=False)
    trainer.restore(payload)
    return trainer
