"""Assemble a run from its config: env → controller → evaluator → optimizer → trainer.

Example:
    >>> trainer = build_trainer(load_config("cartpole-novel"))
    >>> trainer.run().solved
    True
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from evorl import seeding
from evorl.config import ConfigError, RunConfig
from evorl.controllers import Controller, build_controller
from evorl.env_factory import env_spec
from evorl.evaluation import RunningObsStats, make_evaluator
from evorl.logger import Logger
from evorl.optimizers import Optimizer, make_optimizer
from evorl.rundir import CHECKPOINT, create_run_dir, load_checkpoint, load_run_config
from evorl.trainer import Hook, Trainer


def build_controller_for(config: RunConfig) -> Controller:
    """The run's controller, initialised from the run seed."""
    spec = env_spec(config.env)
    try:
        return build_controller(
            config.controller,
            spec.obs_dim,
            spec.action_space,
            seed=seeding.int_seed(config.seed, seeding.STREAM_INIT),
        )
    except ValueError as err:
        raise ConfigError(f"controller: {err}") from None


def build_optimizer(config: RunConfig, x0: np.ndarray, controller: Controller) -> Optimizer:
    """The run's optimizer, started at ``x0`` (the controller's initial parameters).

    ESP's partition into hidden units comes from ``controller`` unless the config sets one.
    """
    opt = config.optimizer
    settings = dict(opt.settings)
    try:
        if opt.name == "esp" and settings.get("unit_index") is None and not settings.get("units"):
            settings["unit_index"] = tuple(controller.unit_index().tolist())
        return make_optimizer(
            opt.name,
            x0,
            sigma=opt.sigma,
            popsize=opt.popsize,
            seed=seeding.int_seed(config.seed, seeding.STREAM_OPTIMIZER),
            **settings,
        )
    except (ValueError, TypeError) as err:
        raise ConfigError(f"optimizer: {err}") from None


def initial_point(
    config: RunConfig, controller: Controller
) -> tuple[np.ndarray, RunningObsStats | None]:
    """The search's start: the fresh controller, or the one of ``config.init_from``."""
    x0 = controller.get_flat().detach().numpy().astype(np.float64)
    if config.init_from is None:
        return x0, None
    from evorl.playback import load_policy

    source = load_policy(config.init_from)
    if source.config.controller != config.controller or source.params.shape != x0.shape:
        raise ConfigError(
            f"init_from {config.init_from}: its controller {source.config.controller} does not "
            f"match this run's {config.controller} (set --controller.* to match)"
        )
    if source.obs_stats is not None and not config.eval.obs_norm:
        raise ConfigError(
            f"init_from {config.init_from}: that run normalises observations; "
            "add --eval.obs_norm=true"
        )
    return source.params.astype(np.float64), source.obs_stats


def build_trainer(
    config: RunConfig,
    run_dir: Path | None = None,
    hooks: list[Hook] | None = None,
    *,
    load_init: bool = True,
) -> Trainer:
    """A ready-to-run trainer; ``run_dir=None`` keeps everything in memory.

    ``load_init=False`` skips ``config.init_from`` (a resumed run restores its own state).
    """
    controller = build_controller_for(config)
    if load_init:
        x0, obs_stats = initial_point(config, controller)
    else:
        x0, obs_stats = controller.get_flat().detach().numpy().astype(np.float64), None
    optimizer = build_optimizer(config, x0, controller)
    evaluator = make_evaluator(config, controller)
    trainer = Trainer(
        config=config,
        controller=controller,
        evaluator=evaluator,
        optimizer=optimizer,
        logger=Logger(run_dir),
        run_dir=run_dir,
        hooks=list(hooks or []),
        obs_stats=obs_stats,
    )
    if config.eval.pole_protocol is not None:
        from evorl.pole_protocol import PoleProtocol, attach

        protocol = PoleProtocol(
            candidates=config.eval.pole_protocol,
            min_generalization=config.eval.pole_min_generalization,
        )
        attach(trainer, protocol)
    return trainer


def start_run(
    config: RunConfig, run_dir: str | Path | None = None, hooks: list[Hook] | None = None
) -> Trainer:
    """A new run with its own run directory (config saved before the first generation).

    The parts are built first, so a config error leaves no empty run directory behind.
    """
    trainer = build_trainer(config, None, hooks)
    trainer.run_dir = create_run_dir(config, run_dir)
    trainer.logger = Logger(trainer.run_dir)
    return trainer


def resume_run(
    run_dir: str | Path, overrides: RunConfig | None = None, hooks: list[Hook] | None = None
) -> Trainer:
    """A trainer restored from ``run_dir``'s checkpoint, ready to continue exactly."""
    path = Path(run_dir)
    config = overrides or load_run_config(path)
    payload = load_checkpoint(path / CHECKPOINT)
    trainer = build_trainer(config, path, hooks, load_init=False)
    trainer.restore(payload)
    return trainer
