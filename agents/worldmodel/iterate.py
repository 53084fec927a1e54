"""The iterative procedure of Ha & Schmidhuber (2018, appendix "Iterative training procedure").

A random policy's data show M only what a random policy meets; a controller evolved in that dream
goes where M has not been and learns to use M's mistakes there. Iterating closes the loop. Round
0 is the ordinary pipeline (random collection, V, M, C evolved in the dream at τ). Round r ≥ 1:

1. **collect** ``iterate.episodes`` real episodes with round r − 1's controller (its final
   search centre, the one that is transferred), its actions perturbed by ``iterate.noise``
   (:func:`~.rollouts.perturb`); they are added to ``data/`` after the earlier ones;
2. **train V** further, to ``vae.epochs + r · iterate.vae_epochs`` epochs, on all data so far;
3. **encode and train M** further, to ``rnn.epochs + r · iterate.rnn_epochs`` epochs, on all
   data so far;
4. **evolve C** in the new dream (``evolve-dream-tτ-rR/``, ``iterate.generations``
   generations), from round r − 1's champion if ``iterate.warm_start``.

Every step resumes as the stages do: episodes are collected in fixed chunks of
:data:`CHUNK` (a chunk with a missing shard is run again whole, so M's batched arithmetic sees
the same batch), V and M continue from their last epoch, C from its last checkpoint; a step that
is done does nothing. So ``evorl wm iterate --rounds N`` stopped anywhere and run again ends
bit for bit where an uninterrupted run does, and raising N adds rounds.

Example:
    >>> lines = iterate(config, Path("runs/take-cover"), rounds=3)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np

from evorl import seeding
from evorl.builder import controller_for
from evorl.rundir import CHECKPOINT

from .config import WorldModelConfig
from .evolve import final_params, run_name
from .rollouts import controller_episodes
from .shards import shard_name, write_shard
from .train import DATA

STREAM_ITERATE = seeding.STREAM_ITERATE
CHUNK = 16
"""Episodes a round collects as one batch (their frames are held until the batch ends)."""


def round_episodes(config: WorldModelConfig, round_index: int) -> range:
    """Indices of the episodes round ``round_index`` collects (round 0: the random ones)."""
    if round_index == 0:
        return range(config.collect.episodes)
    start = config.collect.episodes + (round_index - 1) * config.iterate.episodes
    return range(start, start + config.iterate.episodes)


def round_config(config: WorldModelConfig, round_index: int) -> WorldModelConfig:
    """``config`` with V's and M's epoch targets of the end of round ``round_index``."""
    it = config.iterate
    vae = dataclasses.replace(config.vae, epochs=config.vae.epochs + round_index * it.vae_epochs)
    rnn = dataclasses.replace(config.rnn, epochs=config.rnn.epochs + round_index * it.rnn_epochs)
    return dataclasses.replace(config, vae=vae, rnn=rnn)


def collect_round(
    config: WorldModelConfig,
    directory: Path,
    round_index: int,
    temperature: float,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Collect round ``round_index``'s missing episodes with the last round's controller.

    Returns the number of episodes written. Episode i's reset seed and exploration noise come
    from stream ``(seed, STREAM_ITERATE, i)``.
    """
    folder = directory / DATA
    indices = list(round_episodes(config, round_index))
    chunks = [indices[k : k + CHUNK] for k in range(0, len(indices), CHUNK)]
    todo = [c for c in chunks if not all((folder / shard_name(i)).exists() for i in c)]
    if not todo:
        return 0
    run, params = final_params(directory / run_name(True, temperature, round_index - 1))
    controller, _ = controller_for(run.env, run.controller, run.seed)
    written = 0
    for chunk in todo:
        rngs = [
            np.random.default_rng(seeding.stream(config.seed, STREAM_ITERATE, i)) for i in chunk
        ]
        seeds = [int(rng.integers(2**31 - 1)) for rng in rngs]
        episodes = controller_episodes(
            directory,
            controller,
            params,
            seeds,
            rngs,
            config.iterate.noise,
            config.collect.max_steps,
        )
        for index, episode in zip(chunk, episodes, strict=True):
            path = folder / shard_name(index)
            if not path.exists():
                write_shard(path, **episode, round=np.asarray(round_index))
                written += 1
        if progress is not None:
            progress(len(chunk))
    return written


def round_done(directory: Path, temperature: float, round_index: int) -> bool:
    """Whether round ``round_index``'s evolution has a checkpoint (it may still be running)."""
    return (directory / run_name(True, temperature, round_index) / CHECKPOINT).exists()
