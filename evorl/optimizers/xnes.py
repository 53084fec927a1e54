"""xNES: exponential natural evolution strategies (full covariance).

Glasmachers, Schaul, Sun, Wierstra & Schmidhuber, "Exponential Natural Evolution Strategies",
GECCO 2010; Wierstra et al., "Natural Evolution Strategies", JMLR 15, 2014 (xNES).
The search distribution is ``N(mu, sigma^2 B B^T)`` with ``det B = 1``. With ``s_k ~ N(0, I)``,
``z_k = mu + sigma B s_k`` and rank utilities ``u_k``::

    G_delta = sum_k u_k s_k
    G_M     = sum_k u_k (s_k s_k^T - I)
    G_sigma = tr(G_M) / d,        G_B = G_M - G_sigma I
    mu    <- mu + eta_mu * sigma * B G_delta
    sigma <- sigma * exp(eta_sigma / 2 * G_sigma)
    B     <- B expm(eta_B / 2 * G_B)

Defaults (Table 1): ``eta_mu = 1``, ``eta_sigma = eta_B = 3 (3 + ln d) / (5 d sqrt d)``,
``popsize = 4 + floor(3 ln d)``. ``G_B`` is symmetric, so its exponential is computed from an
eigendecomposition (no scipy). Time O(d^3) and memory O(d^2) per generation: meant for
controllers of up to about a thousand parameters; use ``snes`` or ``sep-cmaes`` beyond.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from evorl.optimizers import base
from evorl.optimizers.base import Optimizer
from evorl.optimizers.shaping import SHAPINGS


def expm_symmetric(m: np.ndarray) -> np.ndarray:
    """Matrix exponential of a symmetric matrix via ``eigh`` (exact up to rounding)."""
    w, v = np.linalg.eigh(0.5 * (m + m.T))
    return (v * np.exp(w)) @ v.T


@dataclass(frozen=True)
class XNESSettings:
    """Settings of :class:`XNES`."""

    center_learning_rate: float = 1.0
    """``eta_mu``."""
    stdev_learning_rate: float | None = None
    """``eta_sigma``; ``None``: ``3 (3 + ln d) / (5 d sqrt d)`` (Wierstra et al. 2014, Table 1)."""
    b_learning_rate: float | None = None
    """``eta_B`` (shape of the covariance); ``None``: same default as ``eta_sigma``."""
    ranking: Literal["nes", "centered"] = "nes"
    """Fitness shaping: the NES utilities or centered ranks."""

    def __post_init__(self) -> None:
        if not self.center_learning_rate > 0:
            raise ValueError("xnes: center_learning_rate must be > 0")
        for key in ("stdev_learning_rate", "b_learning_rate"):
            value = getattr(self, key)
            if value is not None and not value >= 0:
                raise ValueError(f"xnes: {key} must be >= 0")


class XNES(Optimizer):
    """Exponential NES (Glasmachers et al. 2010): full covariance, O(d^2) memory.

    Example:
        >>> opt = XNES(np.zeros(5), sigma=0.5, seed=0)
        >>> x = opt.ask()
        >>> metrics = opt.tell(x, -np.sum((x - 1.0) ** 2, axis=1))
        >>> opt.b.shape
        (5, 5)
    """

    name = "xnes"
    Settings = XNESSettings
    quadratic_memory = True
    state = ("_mu", "sigma", "b", "_noise")

    def _init(self, popsize: int | None) -> None:
        s, d = self.settings, self.dim
        self._mu = self.x0.copy()
        self.sigma = self.sigma0
        self.b = np.eye(d)
        self._popsize = base.check_popsize(self.name, popsize, d)
        self._shape = SHAPINGS[s.ranking]
        default_eta = 3 * (3 + math.log(d)) / (5 * d * math.sqrt(d))
        self.eta_sigma = s.stdev_learning_rate if s.stdev_learning_rate is not None else default_eta
        self.eta_b = s.b_learning_rate if s.b_learning_rate is not None else default_eta
        self._noise: np.ndarray | None = None  # s_k of the pending ask

    @property
    def center(self) -> np.ndarray:
        return self._mu.copy()

    def _ask(self) -> np.ndarray:
        self._noise = self.rng.standard_normal((self._popsize, self.dim))
        return self._mu + self.sigma * (self._noise @ self.b.T)

    def _tell(self, candidates: np.ndarray, fitness: np.ndarray) -> dict[str, float]:
        u, s, d = self._shape(fitness), self._noise, self.dim
        g_delta = u @ s
        g_m = (s.T * u) @ s - u.sum() * np.eye(d)
        g_sigma = np.trace(g_m) / d
        g_b = g_m - g_sigma * np.eye(d)
        step = self.settings.center_learning_rate * self.sigma * (self.b @ g_delta)
        self._mu = self._mu + step
        self.sigma = float(self.sigma * math.exp(0.5 * self.eta_sigma * g_sigma))
        self.b = self.b @ expm_symmetric(0.5 * self.eta_b * g_b)
        self._noise = None
        singular = np.linalg.svd(self.b, compute_uv=False)
        return {
            "opt/sigma": self.sigma,
            "opt/step_norm": float(np.linalg.norm(step)),
            "opt/axis_ratio": float(singular[0] / singular[-1]),
        }
