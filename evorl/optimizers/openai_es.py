"""OpenAI-ES: the evolution strategy of Salimans, Ho, Chen, Sidor & Sutskever (2017).

"Evolution Strategies as a Scalable Alternative to Reinforcement Learning", arXiv:1703.03864.
An isotropic Gaussian with a *fixed* noise std ``sigma`` is sampled antithetically
(``theta + sigma e`` and ``theta - sigma e``, each ``e`` from its own seed, so that Ray workers
rebuild candidates from seeds: :mod:`evorl.optimizers.seeded`); fitness is shaped by centered
ranks; the gradient estimate ``g = sum_i u_i e_i / popsize`` (for pairs: ``(u+ - u-) e``)
minus an L2 weight-decay term ``weight_decay * theta`` is followed with Adam. This is the form
of OpenAI's evolution-strategies-starter (``-g + l2coeff * theta`` handed to Adam, stepsize
0.01, l2coeff 0.005); like it we do not divide ``g`` by ``sigma``, which only rescales the
gradient (Adam is invariant to that) but keeps ``weight_decay`` comparable with the reference.
Memory is O(popsize * dim).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from evorl.optimizers import base
from evorl.optimizers.base import Optimizer
from evorl.optimizers.seeded import SeededPopulation
from evorl.optimizers.shaping import centered_ranks
from evorl.optimizers.steppers import Adam


@dataclass(frozen=True)
class OpenAIESSettings:
    """Settings of :class:`OpenAIES`."""

    learning_rate: float = 0.01
    """Adam step size (Salimans et al. 2017)."""
    beta1: float = 0.9
    """Adam first-moment decay."""
    beta2: float = 0.999
    """Adam second-moment decay."""
    epsilon: float = 1e-8
    """Adam denominator guard."""
    weight_decay: float = 0.005
    """L2 coefficient: ``weight_decay * theta`` is subtracted from the gradient estimate."""
    antithetic: bool = True
    """Mirrored sampling (``popsize`` must then be even)."""

    def __post_init__(self) -> None:
        if not self.learning_rate > 0:
            raise ValueError("openai-es: learning_rate must be > 0")
        if not self.weight_decay >= 0:
            raise ValueError("openai-es: weight_decay must be >= 0")


class OpenAIES(Optimizer):
    """OpenAI-ES (Salimans et al. 2017): antithetic sampling, centered ranks, Adam, weight decay.

    ``sigma`` is the fixed noise standard deviation.

    Example:
        >>> opt = OpenAIES(np.zeros(10), sigma=0.1, seed=0)
        >>> x = opt.ask()
        >>> metrics = opt.tell(x, -np.sum((x - 1.0) ** 2, axis=1))
        >>> metrics["opt/sigma"]
        0.1
    """

    name = "openai-es"
    Settings = OpenAIESSettings
    state = ("_theta", "_noise")

    def _init(self, popsize: int | None) -> None:
        s = self.settings
        self._theta = self.x0.copy()
        self.sigma = self.sigma0
        self._popsize = base.check_popsize(
            self.name, popsize, self.dim, multiple_of=2 if s.antithetic else 1
        )
        self._adam = Adam(
            self.dim,
            learning_rate=s.learning_rate,
            beta1=s.beta1,
            beta2=s.beta2,
            epsilon=s.epsilon,
        )
        self._noise: np.ndarray | None = None  # unit-variance e of the pending ask

    @property
    def center(self) -> np.ndarray:
        return self._theta.copy()

    def _ask(self) -> SeededPopulation:
        mirrored = self.settings.antithetic
        n = self._popsize // 2 if mirrored else self._popsize
        population = SeededPopulation.draw(self.rng, self._theta, self.sigma, n, mirrored)
        self._noise = population.noise()
        return population

    def _tell(self, candidates: np.ndarray, fitness: np.ndarray) -> dict[str, float]:
        u = centered_ranks(fitness)
        weights = u[0::2] - u[1::2] if self.settings.antithetic else u
        grad = weights @ self._noise / self._popsize
        step = self._adam.step(grad - self.settings.weight_decay * self._theta)
        self._theta = self._theta + step
        self._noise = None
        return {
            "opt/sigma": self.sigma,
            "opt/step_norm": float(np.linalg.norm(step)),
            "opt/grad_norm": float(np.linalg.norm(grad)),
            "opt/param_norm": float(np.linalg.norm(self._theta)),
        }

    def _state_extra(self) -> dict[str, Any]:
        return {"adam": self._adam.state_dict()}

    def _load_state_extra(self, state: dict[str, Any]) -> None:
        self._adam.load_state_dict(state["adam"])
