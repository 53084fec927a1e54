"""PGPE: policy gradients with parameter-based exploration, with the ClipUp centre update.

Sehnke, Osendorfer, Rückstieß, Graves, Peters & Schmidhuber, "Parameter-exploring policy
gradients", Neural Networks 23(4), 2010. A separable Gaussian ``N(mu, diag(stdev^2))`` is sampled
symmetrically (``mu + e`` and ``mu - e`` for each drawn ``e``, ``e = stdev * z`` with ``z`` from
its own seed: :mod:`evorl.optimizers.seeded`); with shaped fitness ``u`` the
estimates are (symmetric sampling; the baseline is folded into the zero-mean shaped fitness)::

    grad_mu    = mean over pairs of (u+ - u-) / 2 * e
    grad_stdev = mean over pairs of (u+ + u-) / 2 * (e^2 - stdev^2) / stdev

The centre follows ``grad_mu`` through ClipUp (Toklu et al., PPSN 2020) or Adam; the standard
deviations take a plain gradient step, limited to a relative change of ``stdev_max_change`` per
generation. Defaults follow EvoTorch's PGPE (centered ranks, ClipUp with momentum 0.9 and
step size ``max_speed / 2``, ``stdev_learning_rate`` 0.1, ``stdev_max_change`` 0.2). Memory is
O(popsize * dim): fine for dim in the tens of thousands.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from evorl.optimizers import base
from evorl.optimizers.base import Optimizer
from evorl.optimizers.seeded import SeededPopulation
from evorl.optimizers.shaping import SHAPINGS
from evorl.optimizers.steppers import Adam, ClipUp


@dataclass(frozen=True)
class PGPESettings:
    """Settings of :class:`PGPE`."""

    center_learning_rate: float | None = None
    """Step size of the centre update (ClipUp's ``alpha`` or Adam's learning rate). ``None``:
    ``max_speed / 2`` for ClipUp (Toklu et al. 2020), 0.01 for Adam."""
    max_speed: float | None = None
    """ClipUp's bound on the norm of one centre update. ``None``: ``2 * center_learning_rate``
    when that is set, otherwise ``0.1 * sigma * sqrt(dim)`` (a tenth of the initial search
    radius; our default, close to the ratio in EvoTorch's ClipUp examples)."""
    momentum: float = 0.9
    """ClipUp momentum."""
    stdev_learning_rate: float = 0.1
    """Learning rate of the per-parameter standard deviations."""
    stdev_max_change: float | None = 0.2
    """Largest relative change of any standard deviation in one generation (``None``: unlimited)."""
    stdev_min: float = 1e-12
    """Lower bound on every standard deviation."""
    stdev_max: float | None = None
    """Upper bound on every standard deviation (``None``: unbounded)."""
    ranking: Literal["centered", "nes", "normalized", "raw"] = "centered"
    """Fitness shaping (see ``evorl.optimizers.shaping``); ``raw`` subtracts the mean baseline."""
    optimizer: Literal["clipup", "adam"] = "clipup"
    """Centre update rule."""

    def __post_init__(self) -> None:
        positive = ("center_learning_rate", "max_speed", "stdev_max_change", "stdev_max")
        for key in positive:
            value = getattr(self, key)
            if value is not None and not value > 0:
                raise ValueError(f"pgpe: {key} must be > 0, got {value}")
        if not 0 <= self.momentum < 1:
            raise ValueError(f"pgpe: momentum must be in [0, 1), got {self.momentum}")
        if not self.stdev_learning_rate >= 0:
            raise ValueError("pgpe: stdev_learning_rate must be >= 0")
        if not self.stdev_min > 0:
            raise ValueError("pgpe: stdev_min must be > 0")


class PGPE(Optimizer):
    """PGPE (Sehnke et al. 2010) with symmetric sampling and a ClipUp centre; separable, O(d).

    ``popsize`` counts solutions, so it must be even (``popsize / 2`` directions).

    Example:
        >>> opt = PGPE(np.zeros(10), sigma=0.5, seed=0)
        >>> x = opt.ask()
        >>> bool(np.allclose(x[0] + x[1], 0.0))  # mirrored pairs around the centre
        True
        >>> metrics = opt.tell(x, -np.sum((x - 1.0) ** 2, axis=1))
    """

    name = "pgpe"
    Settings = PGPESettings
    state = ("_center", "stdev", "_noise")

    def _init(self, popsize: int | None) -> None:
        s, sigma = self.settings, self.sigma0
        self._center = self.x0.copy()
        self._popsize = base.check_popsize(self.name, popsize, self.dim, multiple_of=2)
        self.stdev = np.full(self.dim, sigma)
        self._shape = SHAPINGS[s.ranking]
        if s.optimizer == "clipup":
            max_speed = s.max_speed
            if max_speed is None:
                lr = s.center_learning_rate
                max_speed = 2 * lr if lr is not None else 0.1 * sigma * math.sqrt(self.dim)
            lr = s.center_learning_rate if s.center_learning_rate is not None else max_speed / 2
            self._stepper: ClipUp | Adam = ClipUp(
                self.dim, step_size=lr, max_speed=max_speed, momentum=s.momentum
            )
        else:
            lr = s.center_learning_rate if s.center_learning_rate is not None else 0.01
            self._stepper = Adam(self.dim, learning_rate=lr)
        self._noise: np.ndarray | None = None  # scaled perturbations e of the pending ask

    @property
    def center(self) -> np.ndarray:
        return self._center.copy()

    def _ask(self) -> SeededPopulation:
        n = self._popsize // 2
        population = SeededPopulation.draw(self.rng, self._center, self.stdev, n, mirrored=True)
        self._noise = self.stdev * population.noise()  # e, as the candidates use it
        return population

    def _tell(self, candidates: np.ndarray, fitness: np.ndarray) -> dict[str, float]:
        s, e, stdev = self.settings, self._noise, self.stdev
        u = self._shape(fitness)
        u = u - u.mean()
        u_plus, u_minus = u[0::2], u[1::2]
        n_dir = e.shape[0]
        grad_mu = ((u_plus - u_minus) / 2) @ e / n_dir
        grad_stdev = ((u_plus + u_minus) / 2) @ ((e * e - stdev * stdev) / stdev) / n_dir

        step = self._stepper.step(grad_mu)
        self._center = self._center + step
        new_stdev = stdev + s.stdev_learning_rate * grad_stdev
        if s.stdev_max_change is not None:
            low, high = stdev * (1 - s.stdev_max_change), stdev * (1 + s.stdev_max_change)
            new_stdev = np.clip(new_stdev, low, high)
        self.stdev = np.clip(new_stdev, s.stdev_min, s.stdev_max)
        self._noise = None
        return {
            "opt/sigma": float(self.stdev.mean()),
            "opt/sigma_min": float(self.stdev.min()),
            "opt/sigma_max": float(self.stdev.max()),
            "opt/step_norm": float(np.linalg.norm(step)),
            "opt/grad_norm": float(np.linalg.norm(grad_mu)),
        }

    def _state_extra(self) -> dict[str, Any]:
        return {"stepper": self._stepper.state_dict()}

    def _load_state_extra(self, state: dict[str, Any]) -> None:
        self._stepper.load_state_dict(state["stepper"])
