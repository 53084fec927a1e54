"""Training the whole glimpse agent by neuroevolution instead of gradients.

Evolution needs neither a differentiable sensor nor REINFORCE, which is how much of the earlier
attentive-vision work trained its controllers. Here every parameter of the agent — glimpse,
core, location and action networks — is one flat vector searched by an evorl optimizer in
evorl's training loop (:class:`~evorl.training.EvolutionLearner` in a
:class:`~evorl.training.Trainer`, so the run logs ``metrics.jsonl`` like any other and
``evorl plot`` draws it). Locations are the location network's means (the agent acts
deterministically); each generation evaluates every candidate on the same minibatch or episode
seeds (common random numbers), which derive from the run seed and the generation.

The population is scored as one batch (:class:`~evorl.agents.glimpse.agent.Population`: the
agent's forward under ``torch.func.vmap`` over the candidates' weights): on digits one vmapped
classification gives every candidate's logits, on Catch all candidates' episodes step together.
With ``workers`` the population is split into chunks on Ray workers, each scoring its chunk the
same way; a candidate's fitness is bitwise the same however the population is split (tested),
so a run's history is the same with or without Ray.

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

from evorl.agents.glimpse.agent import GlimpseAgent, GlimpseConfig, Population, classify
from evorl.agents.glimpse.catch import check_shaping, make_envs, play, shaped_rewards
from evorl.builder import optimizer_for
from evorl.config import OptimizerConfig
from evorl.evaluation import FunctionEvaluator
from evorl.logger import Logger
from evorl.training import Budget, Trainer, search

Fitness = Callable[[GlimpseAgent, np.ndarray, np.ndarray], np.ndarray]
"""``fitness(agent, params, seeds)``: the score (P,) of every candidate weight vector, a row of
``params`` (P, D), in the agent's architecture on a generation's episode seeds (which also choose
its minibatch); higher is better. The whole population runs as one batch
(:class:`~evorl.agents.glimpse.agent.Population`), so a candidate's score does not depend on
which candidates share its batch."""

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
    data, so a Ray worker can be handed it). All candidates classify the same minibatch in one
    vmapped :func:`~evorl.agents.glimpse.agent.classify`; each candidate's mean is taken over
    its own rows (:func:`row_sums`)."""

    images: np.ndarray
    labels: np.ndarray
    batch: int

    @torch.no_grad()
    def __call__(self, agent: GlimpseAgent, params: np.ndarray, seeds: np.ndarray) -> np.ndarray:
        x, y = torch.from_numpy(self.images), torch.from_numpy(self.labels)
        rng = np.random.default_rng(np.asarray(seeds, dtype=np.int64))
        idx = torch.from_numpy(rng.choice(len(x), size=min(self.batch, len(x)), replace=False))
        population = Population(agent, params)
        logits = population.map(_greedy_logits, x[idx])  # (P, B, classes)
        labels = y[idx].repeat(population.size)
        losses = F.cross_entropy(logits.flatten(0, 1), labels, reduction="none")
        return -row_sums(losses.view(population.size, -1)) / len(idx)


def _greedy_logits(agent: GlimpseAgent, images: torch.Tensor) -> torch.Tensor:
    """The class logits of ``images`` after the agent's glimpses at its mean locations."""
    return classify(agent, images, None).logits


@dataclass
class CatchFitness:
    """Mean undiscounted return of greedy Catch episodes (one per seed, at most ``episodes``),
    with the ``shaping`` reward of :mod:`.catch` ("landing", "ball" or "none").

    Undiscounted, the shaping adds only ``(gap_0 − gap_T) / size``: with "landing" the fitness is
    the game's return plus how close the paddle ended to the ball, less the start's distance.
    All P candidates play their E episodes together: P·E environments step side by side and the
    agent's forward runs for all candidates at once each frame (greedy play has no randomness).
    The envs are made on first use (a Ray worker makes its own) and kept."""

    episodes: int = EPISODES
    shaping: str = "landing"
    drift: bool = True

    def __post_init__(self) -> None:
        check_shaping(self.shaping)
        self._envs: list = []

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_envs": []}

    @torch.no_grad()
    def __call__(self, agent: GlimpseAgent, params: np.ndarray, seeds: np.ndarray) -> np.ndarray:
        seeds = np.asarray(seeds)[: self.episodes]
        population = Population(agent, params)
        count = population.size * len(seeds)
        if len(self._envs) < count:
            self._envs += make_envs(count - len(self._envs), self.drift)
        eps = play(population, self._envs[:count], np.tile(seeds, population.size), None)
        rewards = shaped_rewards(eps, self.shaping).T  # (P·E, T), candidate-major
        return row_sums(rewards.reshape(population.size, -1)) / len(seeds)


def row_sums(values: torch.Tensor) -> np.ndarray:
    """The sum of each row of ``values`` (P, n) in float64, added in a fixed sequential order
    (a cumulative sum): torch's reductions choose their summation order by the tensor's shape,
    so a plain ``sum`` could give a candidate another last bit in a chunk of another size."""
    return values.double().cumsum(1)[:, -1].numpy()


def classification_fitness(images: np.ndarray, labels: np.ndarray, batch: int) -> Fitness:
    """Minus the cross-entropy on a minibatch of ``batch`` canvases chosen by the seeds."""
    return DigitFitness(images, labels, batch)


def catch_fitness(
    episodes: int = EPISODES, shaping: str = "landing", drift: bool = True
) -> Fitness:
    """Mean (shaped) return of greedy Catch episodes: see :class:`CatchFitness`."""
    return CatchFitness(episodes, shaping, drift)


def population_fitness(agent: GlimpseAgent, fitness: Fitness):
    """``fitness`` of every candidate weight vector (P, D) on the seeds, as one batch through the
    agent's architecture: the function a :class:`~evorl.evaluation.FunctionEvaluator` takes,
    in this process and on each Ray worker alike."""
    return functools.partial(fitness, agent)


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
