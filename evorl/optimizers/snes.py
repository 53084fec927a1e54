"""SNES: separable natural evolution strategies.

Schaul, Glasmachers & Schmidhuber, "High Dimensions and Heavy Tails for Natural Evolution
Strategies", GECCO 2011; Wierstra, Schaul, Glasmachers, Sun, Peters & Schmidhuber, "Natural
Evolution Strategies", JMLR 15, 2014 (SNES). With ``s_k ~ N(0, I)``, ``z_k = mu + sigma *
s_k`` and NES rank utilities ``u_k``::

    grad_mu    = sum_k u_k s_k
    grad_sigma = sum_k u_k (s_k^2 - 1)
    mu    <- mu + eta_mu * sigma * grad_mu
    sigma <- sigma * exp(eta_sigma / 2 * grad_sigma)

Default learning rates from the paper's Table 1: ``eta_mu = 1``,
``eta_sigma = (3 + ln d) / (5 sqrt d)``, and ``popsize = 4 + floor(3 ln d)``.
Each ``s_k`` comes from its own seed (:mod:`evorl.optimizers.seeded`), so Ray workers rebuild the
candidates from seeds. Memory is O(popsize * dim).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from evorl.optimizers import base
from evorl.optimizers.base import Optimizer
from evorl.optimizers.seeded import SeededPopulation
from evorl.optimizers.shaping import SHAPINGS


@dataclass(frozen=True)
class SNESSettings:
    """Settings of :class:`SNES`."""

    center_learning_rate: float = 1.0
    """``eta_mu``."""
    stdev_learning_rate: float | None = None
    """``eta_sigma``; ``None``: ``(3 + ln d) / (5 sqrt d)`` (Wierstra et al. 2014, Table 1)."""
    ranking: Literal["nes", "centered"] = "nes"
    """Fitness shaping: the NES utilities or centered ranks."""

    def __post_init__(self) -> None:
        if not self.center_learning_rate > 0:
            raise ValueError("snes: center_learning_rate must be > 0")
        if self.stdev_learning_rate is not None and not self.stdev_learning_rate >= 0:
            raise ValueError("snes: stdev_learning_rate must be >= 0")


class SNES(Optimizer):
    """Separable NES (Schaul et al. 2011): per-parameter step sizes, O(d) time and memory.

    Example:
        >>> opt = SNES(np.zeros(10), sigma=0.5, seed=0)
        >>> x = opt.ask()
        >>> metrics = opt.tell(x, -np.sum((x - 1.0) ** 2, axis=1))
        >>> sorted(metrics)
        ['opt/sigma', 'opt/sigma_max', 'opt/sigma_min', 'opt/step_norm']
    """

    name = "snes"
    Settings = SNESSettings
    state = ("_mu", "sigma", "_noise")

    def _init(self, popsize: int | None) -> None:
        s, d = self.settings, self.dim
        self._mu = self.x0.copy()
        self.sigma = np.full(d, self.sigma0)
        self._popsize = base.check_popsize(self.name, popsize, d)
        self._shape = SHAPINGS[s.ranking]
        self.eta_sigma = (
            s.stdev_learning_rate
            if s.stdev_learning_rate is not None
            else (3 + math.log(d)) / (5 * math.sqrt(d))
        )
        self._noise: np.ndarray | None = None  # s_k of the pending ask

    @property
    def center(self) -> np.ndarray:
        return self._mu.copy()

    def _ask(self) -> SeededPopulation:
        population = SeededPopulation.draw(self.rng, self._mu, self.sigma, self._popsize, False)
        self._noise = population.noise()
        return population

    def _tell(self, candidates: np.ndarray, fitness: np.ndarray) -> dict[str, float]:
        u, noise = self._shape(fitness), self._noise
        grad_mu = u @ noise
        grad_sigma = u @ (noise * noise - 1.0)
        step = self.settings.center_learning_rate * self.sigma * grad_mu
        self._mu = self._mu + step
        self.sigma = self.sigma * np.exp(0.5 * self.eta_sigma * grad_sigma)
        self._noise = None
        return {
            "opt/sigma": float(self.sigma.mean()),
            "opt/sigma_min": float(self.sigma.min()),
            "opt/sigma_max": float(self.sigma.max()),
            "opt/step_norm": float(np.linalg.norm(step)),
        }
