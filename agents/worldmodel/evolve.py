"""C: evolve the controller on [z, h] with evorl's trainer, in the dream or in the real env.

An evolution is an ordinary evorl run directory inside the pipeline directory
(``evolve-dream-t1.15/``, ``evolve-real/``): its env is the dream (:mod:`.dream_env`) or the real
env seen through V and M (:mod:`.real_env`), its controller evorl's ``linear`` (the paper's) or
``mlp``, its optimizer any evorl optimizer (CMA-ES by default, population 64 × 16 rollouts as in
the paper). evorl's :class:`~evorl.trainer.Trainer` runs it, checkpoints it atomically and resumes
it exactly. Locally, all of a generation's episodes are stepped as one batch through M (and V):
the dream's Gymnasium id registers :class:`~.dream_env.DreamVectorEnv` as its
``vector_entry_point``, which evorl's env pool finds as it finds any native vector env; with
``evolve.workers`` the population is spread over Ray workers, whose pools are built the same way.

Example:
    >>> state = evolve(config, Path("runs/take-cover"), dream=True, temperature=1.15)
    >>> returns = evaluate_real(Path("runs/take-cover"), final_params(run_dir), episodes=100)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from evorl.config import (
    EnvConfig,
    EvalConfig,
    OptimizerConfig,
    RunConfig,
    StopConfig,
    from_dict,
)
from evorl.controllers import build_controller
from evorl.env_factory import env_spec
from evorl.errors import ConfigError
from evorl.evaluation import VectorEvaluator, make_evaluator
from evorl.experiment import build_controller_for, build_optimizer
from evorl.logger import Logger
from evorl.rundir import CHECKPOINT, create_run_dir, load_checkpoint
from evorl.trainer import Hook, Trainer, TrainState

from .config import WorldModelConfig
from .dream_env import DREAM_MAKE_ID
from .real_env import REAL_MAKE_ID


def run_name(dream: bool, temperature: float) -> str:
    """Folder of an evolution inside the pipeline directory."""
    return f"evolve-dream-t{temperature:g}" if dream else "evolve-real"


def run_config(
    config: WorldModelConfig, directory: Path, dream: bool, temperature: float
) -> RunConfig:
    """The evorl run config of one evolution of C."""
    e = config.evolve
    kwargs: dict = {"directory": str(directory.resolve())}
    if dream:
        kwargs.update(temperature=float(temperature), max_steps=e.max_steps)
    return RunConfig(
        name=run_name(dream, temperature),
        seed=config.seed,
        env=EnvConfig(DREAM_MAKE_ID if dream else REAL_MAKE_ID, kwargs),
        controller=e.controller_config(),
        optimizer=OptimizerConfig(e.optimizer, e.popsize, e.sigma),
        eval=EvalConfig(
            episodes=e.episodes,
            evaluator="ray" if e.workers else "vector",
            workers=e.workers,
            max_envs=1024,
            test_every=e.test_every,
            test_episodes=e.test_episodes,
            threads=config.threads,
        ),
        stop=StopConfig(generations=e.generations),
        checkpoint_every=5,
        out=str(directory),
    )


def build_evolution(run: RunConfig, run_dir: Path, hooks: list[Hook] | None = None) -> Trainer:
    """evorl's trainer for ``run``, restored from ``run_dir``'s checkpoint if it has one."""
    controller = build_controller_for(run)
    x0 = controller.get_flat().detach().numpy().astype(np.float64)
    optimizer = build_optimizer(run, x0, controller)
    evaluator = make_evaluator(run, controller)
    trainer = Trainer(
        config=run,
        controller=controller,
        evaluator=evaluator,
        optimizer=optimizer,
        logger=Logger(run_dir),
        run_dir=run_dir,
        hooks=list(hooks or []),
    )
    checkpoint = run_dir / CHECKPOINT
    if checkpoint.exists():
        payload = load_checkpoint(checkpoint)
        saved = from_dict(RunConfig, payload["config"])
        if (saved.controller, saved.optimizer, saved.env) != (
            run.controller,
            run.optimizer,
            run.env,
        ):
            raise ConfigError(
                f"{run_dir} holds an evolution with another controller, optimizer or env; "
                "delete it or match the config"
            )
        trainer.restore(payload)
    else:
        create_run_dir(run, run_dir)
    return trainer


def evolve(
    config: WorldModelConfig,
    directory: Path,
    dream: bool,
    temperature: float,
    hooks: list[Hook] | None = None,
) -> TrainState:
    """Run (or resume) one evolution of C to ``config.evolve.generations``; returns its state."""
    run = run_config(config, directory, dream, temperature)
    trainer = build_evolution(run, directory / run.name, hooks)
    try:
        return trainer.run()
    finally:
        trainer.evaluator.close()


def final_params(run_dir: Path) -> tuple[RunConfig, np.ndarray]:
    """An evolution's config and the search centre it ended with (what is transferred)."""
    payload = load_checkpoint(run_dir / CHECKPOINT)
    run = from_dict(RunConfig, payload["config"])
    controller = build_controller_for(run)
    optimizer = build_optimizer(run, np.asarray(payload["params"], dtype=np.float64), controller)
    optimizer.load_state_dict(payload["optimizer"])
    return run, np.asarray(optimizer.center, dtype=np.float64)


def evaluate_dream(
    run: RunConfig, params: np.ndarray, episodes: int, seed: int = 20_000
) -> np.ndarray:
    """Returns of controller ``params`` in the dream ``run`` evolved in (its "virtual score")."""
    evaluator = VectorEvaluator(run.env, build_controller_for(run), run.eval.max_envs)
    try:
        return evaluator.evaluate(params[None], np.arange(seed, seed + episodes)).returns[0]
    finally:
        evaluator.close()


def evaluate_real(
    directory: Path, run: RunConfig, params: np.ndarray, episodes: int, seed: int = 10_000
) -> np.ndarray:
    """Real-env returns of controller ``params`` (of ``run``) on seeds ``seed, seed+1, ...``."""
    env = EnvConfig(REAL_MAKE_ID, {"directory": str(directory.resolve())})
    spec = env_spec(env)
    controller = build_controller(run.controller, spec.obs_dim, spec.action_space, seed=1)
    evaluator = VectorEvaluator(env, controller, run.eval.max_envs)
    try:
        return evaluator.evaluate(params[None], np.arange(seed, seed + episodes)).returns[0]
    finally:
        evaluator.close()
