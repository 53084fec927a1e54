"""Training the whole glimpse agent by neuroevolution instead of gradients.

Evolution needs neither a differentiable sensor nor REINFORCE, which is how much of the earlier
attentive-vision work trained its controllers. Here every parameter of the agent — glimpse,
core, location and action networks — is one flat vector searched by an evorl optimizer
(:func:`evorl.optimizers.make_optimizer`, ask/tell, higher is better). Locations are the location
network's means (the agent acts deterministically); each generation evaluates every candidate on
the same minibatch or episode seeds (common random numbers).

Separable or low-rank searchers (``snes``, ``pgpe``, ``openai-es``, ``sep-cmaes``) suit the agent's
size; full CMA-ES needs O(D²) memory and is only for very small agents.

Example:
    >>> agent = GlimpseAgent(catch_config(what=8, where=4, features=16, hidden=16), 3, seed=0)
    >>> history = evolve(agent, catch_fitness(episodes=4, seed=0), EvolveConfig(generations=2))
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

from evorl import seeding
from evorl.agents.glimpse.agent import GlimpseAgent, classify
from evorl.agents.glimpse.catch import (
    STREAM_TRAIN_EPISODES,
    check_shaping,
    make_envs,
    play,
    shaped_rewards,
)
from evorl.optimizers import make_optimizer

Fitness = Callable[[GlimpseAgent, int], float]
"""``fitness(agent, generation)``: score of the agent's current weights; higher is better."""

STREAM_MINIBATCHES = 13  # seeding stream of each generation's minibatch


@dataclass(frozen=True)
class EvolveConfig:
    """Optimizer and budget of a neuroevolution run."""

    optimizer: str = "snes"
    """Name in :data:`evorl.optimizers.OPTIMIZERS`."""
    sigma: float = 0.02
    """Initial search standard deviation around the initial weights."""
    popsize: int = 32
    """Candidates per generation."""
    generations: int = 100
    """Generations to run."""
    seed: int = 0
    """Seeds the optimizer."""

    def to_dict(self) -> dict[str, object]:
        """The fields as a plain dict."""
        return asdict(self)


def classification_fitness(
    images: np.ndarray, labels: np.ndarray, batch: int, seed: int
) -> Fitness:
    """Minus the cross-entropy on a minibatch of ``batch`` canvases drawn per generation."""
    x, y = torch.from_numpy(images), torch.from_numpy(labels)

    @torch.no_grad()
    def fitness(agent: GlimpseAgent, generation: int) -> float:
        rng = np.random.default_rng(seeding.stream(seed, STREAM_MINIBATCHES, generation))
        idx = torch.from_numpy(rng.choice(len(x), size=min(batch, len(x)), replace=False))
        return -float(F.cross_entropy(classify(agent, x[idx], None).logits, y[idx]))

    return fitness


def catch_fitness(
    episodes: int, seed: int, shaping: str = "landing", drift: bool = True
) -> Fitness:
    """Mean undiscounted return of ``episodes`` greedy Catch episodes, with the ``shaping``
    reward of :mod:`.catch` ("landing", "ball" or "none"); new reset seeds every generation.

    Undiscounted, the shaping adds only ``(gap_0 − gap_T) / size``: with "landing" the fitness is
    the game's return plus how close the paddle ended to the ball, less the start's distance."""
    check_shaping(shaping)
    envs = make_envs(episodes, drift)

    @torch.no_grad()
    def fitness(agent: GlimpseAgent, generation: int) -> float:
        seeds = seeding.episode_seeds(seed, STREAM_TRAIN_EPISODES, generation, episodes)
        return float(shaped_rewards(play(agent, envs, seeds, None), shaping).sum(0).mean())

    return fitness


def evolve(
    agent: GlimpseAgent,
    fitness: Fitness,
    cfg: EvolveConfig,
    log: Callable[[dict], None] | None = None,
) -> list[dict]:
    """Search the agent's weights for ``cfg.generations``; the agent ends at the search centre.

    Returns one record per generation: ``generation``, ``fitness_mean``, ``fitness_best``,
    ``seconds``; ``log`` is called with each.
    """
    opt = make_optimizer(
        cfg.optimizer,
        agent.get_flat().double().numpy(),
        sigma=cfg.sigma,
        popsize=cfg.popsize,
        seed=seeding.stream(cfg.seed, seeding.STREAM_OPTIMIZER),
    )
    history, start = [], time.perf_counter()
    for generation in range(cfg.generations):
        candidates = opt.ask()
        scores = np.empty(len(candidates))
        for i, flat in enumerate(candidates):
            agent.set_flat(torch.from_numpy(flat))
            scores[i] = fitness(agent, generation)
        opt.tell(candidates, scores)
        record = {
            "generation": generation + 1,
            "fitness_mean": float(scores.mean()),
            "fitness_best": float(scores.max()),
            "seconds": time.perf_counter() - start,
        }
        history.append(record)
        if log is not None:
            log(record)
    agent.set_flat(torch.from_numpy(opt.center))
    return history
