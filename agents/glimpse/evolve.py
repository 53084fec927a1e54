"""Training the whole glimpse agent by neuroevolution instead of gradients.

Evolution needs neither a differentiable sensor nor REINFORCE, which is how much of the earlier
attentive-vision work trained its controllers. Here every parameter of the agent — glimpse,
core, location and action networks — is one flat vector searched by an evorl optimizer in
evorl's training loop (:class:`~evorl.training.EvolutionLearner` in a
:class:`~evorl.training.Trainer`, so the run logs ``metrics.jsonl`` like any other and
``evorl plot`` draws it). Locations are the location network's means (the agent acts
deterministically); each generation evaluates every candidate on the same minibatch or episode
seeds (common random numbers), which derive from the run seed and the generation.

Separable or low-rank searchers (``snes``, ``pgpe``, ``openai-es``, ``sep-cmaes``) suit the agent's
size; full CMA-ES needs O(D²) memory and is only for very small agents.

Example:
    >>> from evorl.agents.glimpse.catch import catch_config
    >>> agent = GlimpseAgent(catch_config(what=8, where=4, features=16, hidden=16), 3, seed=0)
    >>> history = evolve(agent, catch_fitness(episodes=4), EvolveConfig(generations=2, popsize=4))
    >>> [h["generation"] for h in history]
    [1, 2]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from evorl.agents.glimpse.agent import GlimpseAgent, classify
from evorl.agents.glimpse.catch import check_shaping, make_envs, play, shaped_rewards
from evorl.builder import optimizer_for
from evorl.config import OptimizerConfig
from evorl.logger import Logger
from evorl.training import Budget, Trainer, search

Fitness = Callable[[GlimpseAgent, np.ndarray], float]
"""``fitness(agent, seeds)``: score of the agent's current weights on a generation's episode seeds
(which also choose its minibatch); higher is better."""

EPISODES = 32
"""Episode seeds per generation (Catch episodes; for digits they seed the minibatch)."""


@dataclass(frozen=True)
class EvolveConfig:
    """Optimizer and budget of a neuroevolution run."""

    optimizer: str = "snes"
    """Name in :data:`evorl.optimizers.OPTIMIZERS`."""
    sigma: float = 0.05
    """Initial search standard deviation around the initial weights. The agent acts greedily, so
    a candidate too close to the centre plays the same episodes and scores the same: at 0.02 a
    32-candidate population around a small Catch agent had 4 distinct scores, at 0.05 it has 9
    (the 53k-weight CLI agent: 11 and 13), while on digits 0.1 already wrecks every candidate's
    classifier (cross-entropy 2.3 → 22); see ``scripts/bench_glimpse_sigma.py``."""
    popsize: int = 32
    """Candidates per generation."""
    generations: int = 100
    """Generations to run."""
    seed: int = 0
    """Seeds the optimizer and each generation's episode seeds (and minibatch)."""

    def to_dict(self) -> dict[str, object]:
        """The fields as a plain dict."""
        return asdict(self)


def classification_fitness(images: np.ndarray, labels: np.ndarray, batch: int) -> Fitness:
    """Minus the cross-entropy on a minibatch of ``batch`` canvases chosen by the seeds."""
    x, y = torch.from_numpy(images), torch.from_numpy(labels)

    @torch.no_grad()
    def fitness(agent: GlimpseAgent, seeds: np.ndarray) -> float:
        rng = np.random.default_rng(np.asarray(seeds, dtype=np.int64))
        idx = torch.from_numpy(rng.choice(len(x), size=min(batch, len(x)), replace=False))
        return -float(F.cross_entropy(classify(agent, x[idx], None).logits, y[idx]))

    return fitness


def catch_fitness(
    episodes: int = EPISODES, shaping: str = "landing", drift: bool = True
) -> Fitness:
    """Mean undiscounted return of greedy Catch episodes (one per seed, at most ``episodes``),
    with the ``shaping`` reward of :mod:`.catch` ("landing", "ball" or "none").

    Undiscounted, the shaping adds only ``(gap_0 − gap_T) / size``: with "landing" the fitness is
    the game's return plus how close the paddle ended to the ball, less the start's distance."""
    check_shaping(shaping)
    envs = make_envs(episodes, drift)

    @torch.no_grad()
    def fitness(agent: GlimpseAgent, seeds: np.ndarray) -> float:
        seeds = np.asarray(seeds)[:episodes]
        eps = play(agent, envs[: len(seeds)], seeds, None)
        return float(shaped_rewards(eps, shaping).sum(0).mean())

    return fitness


def population_fitness(agent: GlimpseAgent, fitness: Fitness):
    """``fitness`` of every candidate weight vector (P, D) on the seeds, through the agent."""

    def run(params: np.ndarray, seeds: np.ndarray) -> np.ndarray:
        scores = np.empty(len(params))
        for i, flat in enumerate(params):
            agent.set_flat(torch.from_numpy(flat))
            scores[i] = fitness(agent, seeds)
        return scores

    return run


def evolve(
    agent: GlimpseAgent,
    fitness: Fitness,
    cfg: EvolveConfig,
    log: Callable[[dict], None] | None = None,
    out: str | Path | None = None,
) -> list[dict]:
    """Search the agent's weights for ``cfg.generations``; the agent ends at the search centre.

    Returns one record per generation: ``generation``, ``fitness_mean``, ``fitness_best``,
    ``seconds``; ``log`` is called with each. With ``out``, the run's metrics rows go to
    ``out/metrics.jsonl`` (and ``.csv``).
    """
    x0 = agent.get_flat().double().numpy()
    optimizer = optimizer_for(
        OptimizerConfig(cfg.optimizer, cfg.popsize, cfg.sigma), cfg.seed, x0, None
    )
    history: list[dict] = []

    def record(trainer: Trainer, row: dict) -> None:
        history.append(
            {
                "generation": row["step"],
                "fitness_mean": row["fitness/mean"],
                "fitness_best": row["fitness/max"],
                "seconds": trainer.state.elapsed,
            }
        )
        if log is not None:
            log(history[-1])

    budget = Budget(iterations=cfg.generations)
    run = population_fitness(agent, fitness)
    trainer = search(optimizer, run, budget, [record], cfg.seed, Logger(out), EPISODES)
    agent.set_flat(torch.from_numpy(trainer.learner.policy_params()))
    return history
