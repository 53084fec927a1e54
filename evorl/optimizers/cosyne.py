"""CoSyNE: cooperative synapse neuroevolution.

Gomez, Schmidhuber & Miikkulainen, "Accelerated Neural Evolution through Cooperatively Coevolved
Synapses", JMLR 9, 2008 (the CoSyNE algorithm). The population is a ``popsize x dim`` matrix
whose *columns* are the subpopulations of the individual weights (synapses). Each generation:

1. every row (a complete network) is evaluated;
2. rows are sorted by fitness; the top quarter (``elite_fraction``) are the parents, recombined
   by one-point crossover, and their offspring are mutated (each weight with probability
   ``mutation_probability``, Cauchy or Gaussian noise of scale ``mutation_scale``);
3. the offspring replace the lowest-ranked rows;
4. each column is permuted among the non-elite rows, so that weights are tried in new
   combinations. With ``permutation="probabilistic"`` (the paper's marking scheme) weight ``x_ij``
   is marked with probability ``p = 1 - ((f_j - f_min) / (f_max - f_min)) ** (1/dim)`` and only
   the marked weights of a column are permuted among themselves: row ``j`` then survives intact
   with probability equal to its normalised fitness. Offspring count as least fit (``p = 1``);
   the parents are kept unchanged (elitism).

``ask()`` returns the whole population every generation (parents included, which also makes them
re-evaluated under noisy fitness); the rows of the last evaluated population are sorted, and
``center`` is its best row. The crossover operator, the mutation rate and noise, and the elitism
are tuning choices the paper leaves open; the defaults here are ours. Memory is O(popsize * dim).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from evorl.optimizers import base
from evorl.optimizers.base import Optimizer


@dataclass(frozen=True)
class CoSyNESettings:
    """Settings of :class:`CoSyNE`."""

    elite_fraction: float = 0.25
    """Fraction of the population (best first) that parents the offspring and is kept unchanged;
    as many offspring replace the worst rows."""
    mutation_probability: float = 0.3
    """Probability that an offspring weight is perturbed."""
    mutation: Literal["cauchy", "gaussian"] = "cauchy"
    """Perturbation distribution (Cauchy's heavy tail gives occasional long jumps)."""
    mutation_scale: float | None = None
    """Scale of the perturbation; ``None``: the optimizer's ``sigma``."""
    permutation: Literal["probabilistic", "all", "none"] = "probabilistic"
    """Column permutation among non-elite rows: the fitness-dependent marking, every weight, or
    none (a plain GA)."""

    def __post_init__(self) -> None:
        if not 0 < self.elite_fraction <= 0.5:
            raise ValueError("cosyne: elite_fraction must be in (0, 0.5]")
        if not 0 <= self.mutation_probability <= 1:
            raise ValueError("cosyne: mutation_probability must be in [0, 1]")
        if self.mutation_scale is not None and not self.mutation_scale > 0:
            raise ValueError("cosyne: mutation_scale must be > 0")


def permute_marked(block: np.ndarray, marked: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Shuffle each column's marked entries among themselves (vectorised over columns).

    Args:
        block: ``(rows, cols)`` values.
        marked: ``(rows, cols)`` bool, which entries take part.
        keys: ``(rows, cols)`` uniform random keys; the marked entries are reordered by them.
    """
    # Marked rows first (ascending row index) vs marked rows first in random key order; unmarked
    # rows follow in ascending order in both, so they map to themselves.
    targets = np.argsort(~marked, axis=0, kind="stable")
    sources = np.argsort(np.where(marked, keys, 2.0), axis=0, kind="stable")
    out = block.copy()
    np.put_along_axis(out, targets, np.take_along_axis(block, sources, axis=0), axis=0)
    return out


class CoSyNE(Optimizer):
    """CoSyNE (Gomez et al. 2008): per-weight subpopulations, crossover, mutation, permutation.

    ``sigma`` spreads the initial population around ``x0`` (row 0 is ``x0`` itself) and is the
    default mutation scale.

    Example:
        >>> opt = CoSyNE(np.zeros(10), sigma=0.5, seed=0)
        >>> x = opt.ask()
        >>> metrics = opt.tell(x, -np.sum((x - 1.0) ** 2, axis=1))
        >>> bool((opt.center == x[np.argmax(-np.sum((x - 1.0) ** 2, axis=1))]).all())
        True
    """

    name = "cosyne"
    Settings = CoSyNESettings
    state = ("_pop", "_best")

    def _init(self, popsize: int | None) -> None:
        s = self.settings
        if popsize is None:
            popsize = max(16, base.default_popsize(self.dim, multiple_of=4))
        self._popsize = base.check_popsize(self.name, popsize, self.dim, minimum=4)
        self.n_elite = max(1, round(s.elite_fraction * self._popsize))
        self.mutation_scale = s.mutation_scale if s.mutation_scale is not None else self.sigma0
        noise = self.rng.standard_normal((self._popsize - 1, self.dim))
        self._pop = np.vstack([self.x0, self.x0 + self.sigma0 * noise])
        self._best = self.x0.copy()

    @property
    def center(self) -> np.ndarray:
        return self._best.copy()

    def _ask(self) -> np.ndarray:
        return self._pop.copy()

    def _tell(self, candidates: np.ndarray, fitness: np.ndarray) -> dict[str, float]:
        order = np.argsort(-fitness, kind="stable")
        pop, f = self._pop[order], fitness[order]
        self._best = pop[0].copy()
        n_elite = self.n_elite
        offspring = self._mutate(self._crossover(pop[:n_elite], n_elite))
        pop[-n_elite:] = offspring
        permuted = 0.0
        if self.settings.permutation != "none":
            rest, p = pop[n_elite:], self._mark_probability(f)[n_elite:]
            marked = self.rng.random(rest.shape) < p[:, None]
            keys = self.rng.random(rest.shape)
            pop[n_elite:] = permute_marked(rest, marked, keys)
            permuted = float(marked.mean())
        self._pop = pop
        return {
            "opt/diversity": float(pop.std(axis=0).mean()),
            "opt/permuted_fraction": permuted,
        }

    def _crossover(self, parents: np.ndarray, n_children: int) -> np.ndarray:
        """One-point crossover of random parent pairs, two complementary children per pair."""
        n_pairs = -(-n_children // 2)
        n_par = parents.shape[0]
        if n_par >= 2:
            a = self.rng.integers(0, n_par, n_pairs)
            b = (a + self.rng.integers(1, n_par, n_pairs)) % n_par  # a partner other than a
        else:
            a = b = np.zeros(n_pairs, dtype=np.int64)
        cut = self.rng.integers(1, max(2, self.dim), n_pairs)
        left = np.arange(self.dim)[None, :] < cut[:, None]
        child1 = np.where(left, parents[a], parents[b])
        child2 = np.where(left, parents[b], parents[a])
        children = np.empty((2 * n_pairs, self.dim))
        children[0::2], children[1::2] = child1, child2
        return children[:n_children]

    def _mutate(self, children: np.ndarray) -> np.ndarray:
        hit = self.rng.random(children.shape) < self.settings.mutation_probability
        if self.settings.mutation == "cauchy":
            noise = self.rng.standard_cauchy(children.shape)
        else:
            noise = self.rng.standard_normal(children.shape)
        return children + hit * (self.mutation_scale * noise)

    def _mark_probability(self, sorted_fitness: np.ndarray) -> np.ndarray:
        """Per-row marking probability (rows sorted best first); the offspring rows get 1."""
        if self.settings.permutation == "all":
            return np.ones_like(sorted_fitness)
        f_max, f_min = sorted_fitness[0], sorted_fitness[-1]
        if f_max == f_min:
            norm = np.zeros_like(sorted_fitness)
        else:
            norm = (sorted_fitness - f_min) / (f_max - f_min)
        p = 1.0 - norm ** (1.0 / self.dim)
        p[-self.n_elite :] = 1.0
        return p
