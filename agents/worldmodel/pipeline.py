"""The world-model pipeline: collect → train V → train M → evolve C → evaluate → pictures.

Everything lives in one pipeline directory::

    config.yaml          the resolved WorldModelConfig (later commands start from it)
    data/ep_*.npz        collected episodes, one compressed shard each
    vae.pt, rnn.pt       V and M: weights, optimizer state, epochs done, metrics per epoch
    latents/ep_*.npz     every episode encoded by V (what M trains on)
    evolve-*/            evorl run directories of C (dream at a temperature, or real)
    pictures/            reconstructions.png, dream-t*.gif

Every stage resumes: collection fills in missing shards, V and M continue from their last epoch,
evolution from its last checkpoint; a stage whose budget is already met does nothing. Raising a
budget (``--vae.epochs=20``) and re-running a stage continues training.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from evorl.builder import controller_for
from evorl.commands.runner import graceful_interrupts
from evorl.errors import ConfigError, StopNow
from evorl.progress import Progress
from evorl.rundir import CHECKPOINT, atomic_write_text, check_writable

from .collect import collect, missing_episodes
from .config import WorldModelConfig, dump_config, load_wm_config
from .diagnose import diagnose, summary_lines
from .evolve import build_evolution, evaluate_real, final_params, run_config, run_name
from .iterate import collect_round, round_config
from .pictures import dream_gif, reconstructions
from .train import DATA, train_rnn, train_vae

CONFIG = "config.yaml"


def open_pipeline(directory: Path, source: str | None, overrides: list[str]) -> WorldModelConfig:
    """The config of a pipeline directory (its saved one, or ``source``'s), with overrides.

    The resolved config is written back, so the next stage sees the same settings.
    """
    saved = directory / CONFIG
    if saved.exists():
        if source is not None:
            raise ConfigError(
                f"{directory} already has a config; drop '{source}' and use --key=value overrides"
            )
        config = load_wm_config(str(saved), overrides)
    else:
        config = load_wm_config(source, overrides)
    check_writable(directory, "pipeline folder", directory=True)
    directory.mkdir(parents=True, exist_ok=True)
    atomic_write_text(saved, dump_config(config))
    torch.set_num_threads(config.threads)
    return config


def stage_collect(config: WorldModelConfig, directory: Path, quiet: bool = False) -> str:
    """Collect the missing episodes."""
    todo = len(missing_episodes(directory / DATA, config.collect.episodes))
    with Progress("collect", todo, quiet) as bar:
        written = collect(config, directory / DATA, lambda n: bar.update(advance=n))
    return f"collect: {written} episodes written, {config.collect.episodes} in {directory / DATA}"


def _epoch_status(epoch: int, row: dict[str, float], keys: tuple[str, ...]) -> str:
    parts = [f"epoch {epoch}"] + [f"{k} {row[k]:.4g}" for k in keys] + [f"{row['seconds']:.1f} s"]
    return "  ".join(parts)


def stage_train_vae(config: WorldModelConfig, directory: Path, quiet: bool = False) -> str:
    """Train V to ``vae.epochs``."""
    keys = ("loss", "reconstruction", "kl")
    with Progress("train-vae", config.vae.epochs, quiet) as bar:
        history = train_vae(
            config, directory, lambda e, row: bar.update(e, status=_epoch_status(e, row, keys))
        )
    last = history[-1]
    return (
        f"train-vae: {last['epoch']} epochs; loss {last['loss']:.4g} (reconstruction "
        f"{last['reconstruction']:.4g}, KL {last['kl']:.4g})"
    )


def stage_train_rnn(config: WorldModelConfig, directory: Path, quiet: bool = False) -> str:
    """Encode the episodes through V and train M to ``rnn.epochs``."""
    keys = ("z_nll", "reward_mse", "done_bce")
    with Progress("train-rnn", config.rnn.epochs, quiet) as bar:
        history = train_rnn(
            config, directory, lambda e, row: bar.update(e, status=_epoch_status(e, row, keys))
        )
    last = history[-1]
    return (
        f"train-rnn: {last['epoch']} epochs; z NLL {last['z_nll']:.4g}, reward MSE "
        f"{last['reward_mse']:.4g}, done BCE {last['done_bce']:.4g}"
    )


def stage_evolve(
    config: WorldModelConfig,
    directory: Path,
    dream: bool,
    temperature: float,
    quiet: bool = False,
    round_index: int = 0,
) -> str:
    """Evolve C (in the dream at ``temperature`` or in the real env) to ``evolve.generations``
    (round ``round_index`` of ``iterate``: its own run, see :func:`.evolve.run_config`)."""
    run = run_config(config, directory, dream, temperature, round_index)
    with Progress(run.name, run.stop.generations, quiet) as bar:
        trainer = build_evolution(run, directory / run.name, [bar])
        try:
            with graceful_interrupts(trainer):
                state = trainer.run()
        finally:
            trainer.close()
    if state.stop_reason == "interrupted":
        raise StopNow  # after the checkpoint at a generation boundary (exit 130)
    return (
        f"evolve: {run.name} after {state.iteration} generations, best fitness "
        f"{state.best_fitness:.4g}, {state.env_steps} steps, {state.elapsed:.0f} s"
    )


@dataclass(frozen=True)
class Score:
    """Real-env returns of one controller."""

    name: str
    returns: np.ndarray

    def __str__(self) -> str:
        r = self.returns
        return f"{self.name}: {r.mean():.1f} ± {r.std():.1f} over {len(r)} real episodes"


def stage_eval(
    config: WorldModelConfig,
    directory: Path,
    dream: bool,
    temperature: float,
    episodes: int | None = None,
    round_index: int = 0,
) -> Score:
    """Real-env returns of an evolution's final controller."""
    run_dir = directory / run_name(dream, temperature, round_index)
    if not (run_dir / CHECKPOINT).exists():
        raise ConfigError(f"no evolution in {run_dir}: run `evorl wm evolve` first")
    run, params = final_params(run_dir)
    returns = evaluate_real(directory, run, params, episodes or config.eval_episodes)
    return Score(run.name, returns)


def stage_dream(
    config: WorldModelConfig,
    directory: Path,
    dream: bool,
    temperature: float,
    round_index: int = 0,
) -> str:
    """Reconstructions PNG, and a real | V | dream GIF at ``temperature``, driven by the
    controller evolved in the dream (``dream``) or the real env — or a fresh one if none is."""
    out = directory / "pictures"
    png = reconstructions(directory, out / "reconstructions.png")
    run_dir = directory / run_name(dream, temperature, round_index)
    if (run_dir / CHECKPOINT).exists():
        run, params = final_params(run_dir)
        controller, _ = controller_for(run.env, run.controller, run.seed)
    else:
        run = run_config(config, directory, True, temperature)
        controller, _ = controller_for(run.env, run.controller, run.seed)
        params = controller.get_flat().numpy().astype(np.float64)
    gif, real, dreamt = dream_gif(
        directory,
        controller,
        params,
        out / f"dream-t{temperature:g}.gif",
        temperature,
        done=config.evolve.dream_done,
    )
    return f"dream: {png}, {gif} (real return {real:.0f}, dream return {dreamt:.0f})"


def stage_iterate(
    config: WorldModelConfig,
    directory: Path,
    rounds: int,
    temperature: float,
    quiet: bool = False,
) -> list[str]:
    """Round 0 (collect, V, M, C in the dream at ``temperature``), then rounds 1 … ``rounds``
    of the iterative procedure (:mod:`.iterate`); every step resumes. Returns summary lines."""
    lines = [
        stage_collect(config, directory, quiet),
        stage_train_vae(config, directory, quiet),
        stage_train_rnn(config, directory, quiet),
        stage_evolve(config, directory, True, temperature, quiet),
    ]
    for r in range(1, rounds + 1):
        cfg = round_config(config, r)
        with Progress(f"round {r}: collect", config.iterate.episodes, quiet) as bar:
            written = collect_round(cfg, directory, r, temperature, lambda n: bar.update(advance=n))
        lines.append(f"round {r}: collect: {written} episodes written with the round {r - 1} C")
        lines.append(f"round {r}: {stage_train_vae(cfg, directory, quiet)}")
        lines.append(f"round {r}: {stage_train_rnn(cfg, directory, quiet)}")
        lines.append(f"round {r}: {stage_evolve(cfg, directory, True, temperature, quiet, r)}")
    return lines


def stage_diagnose(
    config: WorldModelConfig,
    directory: Path,
    dream: bool,
    temperature: float,
    episodes: int | None = None,
    round_index: int = 0,
) -> list[str]:
    """The diagnostics of :mod:`.diagnose` for one evolution of C, written to
    ``diagnostics/<run>.json``; returns their summary lines."""
    run_dir = directory / run_name(dream, temperature, round_index)
    if not (run_dir / CHECKPOINT).exists():
        raise ConfigError(f"no evolution in {run_dir}: run `evorl wm evolve` first")
    report = diagnose(
        config, directory, dream, temperature, episodes or 32, round_index=round_index
    )
    path = directory / "diagnostics" / f"{run_dir.name}.json"
    path.parent.mkdir(exist_ok=True)
    atomic_write_text(path, json.dumps(report, indent=1))
    return [*summary_lines(report), f"diagnostics: {path}"]


def run_all(config: WorldModelConfig, directory: Path, quiet: bool = False) -> list[str]:
    """Every stage in order (each resuming); returns the summary lines."""
    e = config.evolve
    lines = [
        stage_collect(config, directory, quiet),
        stage_train_vae(config, directory, quiet),
        stage_train_rnn(config, directory, quiet),
        stage_evolve(config, directory, e.dream, e.temperature, quiet),
        str(stage_eval(config, directory, e.dream, e.temperature)),
        stage_dream(config, directory, e.dream, e.temperature),
    ]
    return lines
