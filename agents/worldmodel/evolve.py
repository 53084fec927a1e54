"""C: evolve the controller on [z, h] with evorl's trainer, in the dream or in the real env.

An evolution is an ordinary evorl run directory inside the pipeline directory
(``evolve-dream-t1.15/``, ``evolve-real/``): its env is the dream (:mod:`.dream_env`) or the real
env seen through V and M (:mod:`.real_env`), its controller evorl's ``linear`` (the paper's) or
``mlp``, its optimizer any evorl optimizer (CMA-ES by default, population 64 × 16 rollouts as in
the paper). evorl's :class:`~evorl.training.Trainer` runs it, checkpoints it atomically and resumes
it exactly. Locally, all of a generation's episodes are stepped as one batch through M (and V):
the dream's Gymnasium id registers :class:`~.dream_env.DreamVectorEnv` as its
``vector_entry_point``, which evorl's env pool finds as it finds any native vector env; with
``evolve.workers`` the population is spread over Ray workers, whose pools are built the same way.

Example:
    >>> folder = Path("runs/take-cover")  # a pipeline with V and M trained
    >>> state = evolve(config, folder, dream=True, temperature=1.15)  # doctest: +SKIP
    >>> run, params = final_params(folder / "evolve-dream-t1.15")  # doctest: +SKIP
    >>> returns = evaluate_real(folder, run, params, episodes=100)  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from evorl import seeding
from evorl.builder import controller_for, resume_run, start_run
from evorl.config import EnvConfig, EvalConfig, OptimizerConfig, RunConfig, StopConfig
from evorl.errors import ConfigError
from evorl.evaluation import EvalResult, VectorEvaluator
from evorl.policy import load_policy
from evorl.rundir import CHECKPOINT, load_run_config
from evorl.training import Hook, Trainer, TrainState

from .config import WorldModelConfig
from .dream_env import DREAM_MAKE_ID
from .real_env import REAL_MAKE_ID


def run_name(dream: bool, temperature: float, round_index: int = 0) -> str:
    """Folder of an evolution inside the pipeline directory (``-rN``: round N of iterate)."""
    name = f"evolve-dream-t{temperature:g}" if dream else "evolve-real"
    return f"{name}-r{round_index}" if round_index else name


def run_config(
    config: WorldModelConfig,
    directory: Path,
    dream: bool,
    temperature: float,
    round_index: int = 0,
) -> RunConfig:
    """The evorl run config of one evolution of C.

    Round ``round_index`` ≥ 1 of ``evorl wm iterate`` runs ``iterate.generations`` generations
    on a seed of its own, started (``iterate.warm_start``) from the last round's champion.
    """
    e, it = config.evolve, config.iterate
    kwargs: dict = {"directory": str(directory.resolve())}
    if dream:
        kwargs.update(temperature=float(temperature), max_steps=e.max_steps)
        if e.dream_done != "sample":  # absent from the runs made before it was an option
            kwargs["done"] = e.dream_done
    seed, init_from, generations = config.seed, None, e.generations
    if round_index:
        seed = seeding.int_seed(config.seed, seeding.STREAM_ITERATE, round_index)
        generations = it.generations or e.generations
        if it.warm_start:
            last = directory / run_name(dream, temperature, round_index - 1)
            init_from = str(last.resolve())
    return RunConfig(
        name=run_name(dream, temperature, round_index),
        seed=seed,
        env=EnvConfig(DREAM_MAKE_ID if dream else REAL_MAKE_ID, kwargs),
        controller=e.controller_config(),
        optimizer=OptimizerConfig(e.optimizer, e.popsize, e.sigma),
        eval=EvalConfig(
            episodes=e.episodes,
            evaluator="ray" if e.workers else "vector",
            workers=e.workers,
            ray_address=e.ray_address,
            device=e.device,
            max_envs=1024,
            test_every=e.test_every,
            test_episodes=e.test_episodes,
            threads=config.threads,
        ),
        stop=StopConfig(generations=generations),
        checkpoint_every=5,
        out=str(directory),
        init_from=init_from,
    )


def build_evolution(run: RunConfig, run_dir: Path, hooks: list[Hook] | None = None) -> Trainer:
    """evorl's trainer for ``run``, resumed from ``run_dir``'s checkpoint if it has one."""
    if not (run_dir / CHECKPOINT).exists():
        return start_run(run, run_dir, hooks)
    saved = load_run_config(run_dir)
    if (saved.controller, saved.optimizer, saved.env) != (run.controller, run.optimizer, run.env):
        raise ConfigError(
            f"{run_dir} holds an evolution with another controller, optimizer or env; "
            "delete it or match the config"
        )
    return resume_run(run_dir, run, hooks)


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
        trainer.close()


def final_params(run_dir: Path) -> tuple[RunConfig, np.ndarray]:
    """An evolution's config and the search centre it ended with (what is transferred)."""
    return load_run_config(run_dir), load_policy(run_dir, "latest").params


def real_env_config(directory: Path) -> EnvConfig:
    """The real env seen through V and M of ``directory``, as an evorl env config."""
    return EnvConfig(REAL_MAKE_ID, {"directory": str(directory.resolve())})


def evaluate_population(
    env: EnvConfig, run: RunConfig, params: np.ndarray, seeds: np.ndarray
) -> EvalResult:
    """Returns and lengths (P, E) of controllers ``params`` (P, D) of ``run`` in ``env``, every
    one on the same reset seeds, stepped as one batch."""
    controller, _ = controller_for(env, run.controller, run.seed)
    evaluator = VectorEvaluator(env, controller, run.eval.max_envs)
    try:
        return evaluator.evaluate(np.asarray(params), np.asarray(seeds))
    finally:
        evaluator.close()


def evaluate_dream(
    run: RunConfig, params: np.ndarray, episodes: int, seed: int = 20_000
) -> np.ndarray:
    """Returns of controller ``params`` in the dream ``run`` evolved in (its "virtual score")."""
    seeds = np.arange(seed, seed + episodes)
    return evaluate_population(run.env, run, params[None], seeds).returns[0]


def evaluate_real(
    directory: Path, run: RunConfig, params: np.ndarray, episodes: int, seed: int = 10_000
) -> np.ndarray:
    """Real-env returns of controller ``params`` (of ``run``) on seeds ``seed, seed+1, ...``."""
    seeds = np.arange(seed, seed + episodes)
    return evaluate_population(real_env_config(directory), run, params[None], seeds).returns[0]
