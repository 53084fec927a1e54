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
from evorl.env_factory import env_spaces
from evorl.evaluation import make_evaluator
from evorl.logger import Logger
from evorl.optimizers import Optimizer, make_optimizer
from evorl.rundir import CHECKPOINT, create_run_dir, load_checkpoint, load_run_config
from evorl.trainer import Hook, Trainer


def build_controller_for(config: RunConfig) -> Controller:
    """The run's controller, initialised from the run seed."""
    obs_dim, action_space = env_spaces(config.env)
    try:
        return build_controller(
            config.controller,
            obs_dim,
            action_space,
            seed=seeding.int_seed(config.seed, seeding.STREAM_INIT),
        )
    except ValueError as err:
        raise ConfigError(f"controller: {err}") from None


def build_optimizer(config: RunConfig, x0: np.ndarray) -> Optimizer:
    """The run's optimizer, started at ``x0`` (the controller's initial parameters)."""
    opt = config.optimizer
    try:
        return make_optimizer(
            opt.name,
            x0,
            sigma=opt.sigma,
            popsize=opt.popsize,
            seed=seeding.int_seed(config.seed, seeding.STREAM_OPTIMIZER),
            **opt.settings,
        )
    except (ValueError, TypeError) as err:
        raise ConfigError(f"optimizer: {err}") from None


def build_trainer(
    config: RunConfig, run_dir: Path | None = None, hooks: list[Hook] | None = None
) -> Trainer:
    """A ready-to-run trainer; ``run_dir=None`` keeps everything in memory."""
    controller = build_controller_for(config)
    x0 = controller.get_flat().detach().numpy().astype(np.float64)
    optimizer = build_optimizer(config, x0)
    evaluator = make_evaluator(config, controller)
    return Trainer(
        config=config,
        controller=controller,
        evaluator=evaluator,
        optimizer=optimizer,
        logger=Logger(run_dir),
        run_dir=run_dir,
        hooks=list(hooks or []),
    )


def start_run(
    config: RunConfig, run_dir: str | Path | None = None, hooks: list[Hook] | None = None
) -> Trainer:
    """A new run with its own run directory (config saved before the first generation)."""
    path = create_run_dir(config, run_dir)
    return build_trainer(config, path, hooks)


def resume_run(
    run_dir: str | Path, overrides: RunConfig | None = None, hooks: list[Hook] | None = None
) -> Trainer:
    """A trainer restored from ``run_dir``'s checkpoint, ready to continue exactly."""
    path = Path(run_dir)
    config = overrides or load_run_config(path)
    payload = load_checkpoint(path / CHECKPOINT)
    trainer = build_trainer(config, path, hooks)
    trainer.restore(payload)
    return trainer
