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

import functools
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from evorl.agents.glimpse.agent import GlimpseAgent, GlimpseConfig, classify
from evorl.agents.glimpse.catch import check_shaping, make_envs, play, shaped_rewards
from evorl.builder import optimizer_for
from evorl.config import OptimizerConfig
from evorl.evaluation import FunctionEvaluator
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
    workers: int = 0
    """Ray workers evaluating the population (0: in this process); the fitness is the same
    number either way."""
    ray_address: str | None = None
    """With ``workers``: join this Ray cluster (``auto`` or ``HOST:PORT``) instead of starting a
    private instance."""

    def to_dict(self) -> dict[str, object]:
        """The fields as a plain dict."""
        return asdict(self)


@dataclass
class DigitFitness:
    """Minus the cross-entropy on a minibatch of ``batch`` canvases chosen by the seeds (plain
    data, so a Ray worker can be handed it)."""

    images: np.ndarray
    labels: np.ndarray
    batch: int

    @torch.no_grad()
    def __call__(self, agent: GlimpseAgent, seeds: np.ndarray) -> float:
        x, y = torch.from_numpy(self.images), torch.from_numpy(self.labels)
        rng = np.random.default_rng(np.asarray(seeds, dtype=np.int64))
        idx = torch.from_numpy(rng.choice(len(x), size=min(self.batch, len(x)), replace=False))
        return -float(F.cross_entropy(classify(agent, x[idx], None).logits, y[idx]))


@dataclass
class CatchFitness:
    """Mean undiscounted return of greedy Catch episodes (one per seed, at most ``episodes``),
    with the ``shaping`` reward of :mod:`.catch` ("landing", "ball" or "none").

    Undiscounted, the shaping adds only ``(gap_0 − gap_T) / size``: with "landing" the fitness is
    the game's return plus how close the paddle ended to the ball, less the start's distance.
    The envs are made on first use (a Ray worker makes its own)."""

    episodes: int = EPISODES
    shaping: str = "landing"
    drift: bool = True

    def __post_init__(self) -> None:
        check_shaping(self.shaping)
        self._envs: list | None = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_envs": None}

    @torch.no_grad()
    def __call__(self, agent: GlimpseAgent, seeds: np.ndarray) -> float:
        if self._envs is None:
            self._envs = make_envs(self.episodes, self.drift)
        seeds = np.asarray(seeds)[: self.episodes]
        eps = play(agent, self._envs[: len(seeds)], seeds, None)
        return float(shaped_rewards(eps, self.shaping).sum(0).mean())


def classification_fitness(images: np.ndarray, labels: np.ndarray, batch: int) -> Fitness:
    """Minus the cross-entropy on a minibatch of ``batch`` canvases chosen by the seeds."""
    return DigitFitness(images, labels, batch)


def catch_fitness(
    episodes: int = EPISODES, shaping: str = "landing", drift: bool = True
) -> Fitness:
    """Mean (shaped) return of greedy Catch episodes: see :class:`CatchFitness`."""
    return CatchFitness(episodes, shaping, drift)


def population_fitness(agent: GlimpseAgent, fitness: Fitness):
    """``fitness`` of every candidate weight vector (P, D) on the seeds, through the agent."""

    def run(params: np.ndarray, seeds: np.ndarray) -> np.ndarray:
        scores = np.empty(len(params))
        for i, flat in enumerate(params):
            agent.set_flat(torch.from_numpy(flat))
            scores[i] = fitness(agent, seeds)
        return scores

    return run


def worker_evaluator(config: dict, actions: int, fitness: Fitness) -> tuple[FunctionEvaluator, int]:
    """What a Ray worker of glimpse evolution builds (see
    :data:`~evorl.evaluation.ray_actors.WorkerBuild`): an agent of the same architecture (its
    weights are each candidate's) and the candidates' fitness, from plain data."""
    agent = GlimpseAgent(GlimpseConfig(**config), actions)
    return FunctionEvaluator(population_fitness(agent, fitness)), int(agent.get_flat().numel())


def _ray_evaluator(agent: GlimpseAgent, fitness: Fitness, cfg: EvolveConfig):
    from types import SimpleNamespace

    from evorl.config import EvalConfig, RunConfig, StopConfig
    from evorl.evaluation.ray_evaluator import RayEvaluator

    ev = EvalConfig(evaluator="ray", workers=cfg.workers, ray_address=cfg.ray_address)
    run = RunConfig(eval=ev, stop=StopConfig(generations=cfg.generations))
    build = functools.partial(worker_evaluator, asdict(agent.config), agent.n_actions, fitness)
    size = SimpleNamespace(num_params=int(agent.get_flat().numel()))
    return RayEvaluator(run, size, build=build)


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
    evaluator = _ray_evaluator(agent, fitness, cfg) if cfg.workers else None
    try:
        trainer = search(
            optimizer, run, budget, [record], cfg.seed, Logger(out), EPISODES, evaluator
        )
    finally:
        if evaluator is not None:
            evaluator.close()
    agent.set_flat(torch.from_numpy(trainer.learner.policy_params()))
    return history
