"""Observation normalisation with running statistics.

Statistics are *frozen* while a generation is evaluated (every individual sees the same
normalisation, as in Salimans et al. 2017), the observations of that generation are summed per
episode, and the sums are merged into the running statistics after the generation, in episode
order. Merging in a fixed order is what keeps the statistics bit-identical whether the episodes ran
on one machine or were split over many workers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class ObsSums:
    """Per-episode sums of observations: ``count`` (T,), ``total`` and ``squares`` (T, obs), and
    ``nonfinite`` (T,): observations left out because an entry was NaN or infinite."""

    count: np.ndarray
    total: np.ndarray
    squares: np.ndarray
    nonfinite: np.ndarray

    @classmethod
    def zeros(cls, episodes: int, dim: int) -> ObsSums:
        return cls(
            np.zeros(episodes), np.zeros((episodes, dim)), np.zeros((episodes, dim)),
            np.zeros(episodes, np.int64),
        )  # fmt: skip

    def add(self, tasks: np.ndarray, obs: np.ndarray) -> None:
        """Add one observation (row of ``obs``) to each episode in ``tasks`` (distinct); a row
        with a non-finite entry is counted in ``nonfinite`` and left out of the sums."""
        finite = np.isfinite(obs).all(axis=1)
        if not finite.all():
            np.add.at(self.nonfinite, tasks[~finite], 1)
            tasks, obs = tasks[finite], obs[finite]
        self.count[tasks] += 1
        self.total[tasks] += obs
        self.squares[tasks] += obs * obs

    @classmethod
    def concat(cls, parts: list[ObsSums]) -> ObsSums:
        return cls(*(np.concatenate([getattr(p, k) for p in parts]) for k in _FIELDS))

    def take(self, index: np.ndarray) -> ObsSums:
        return ObsSums(*(getattr(self, k)[index] for k in _FIELDS))


_FIELDS = ("count", "total", "squares", "nonfinite")


@dataclass
class RunningObsStats:
    """Running mean and variance (Chan et al. parallel merge), saved with the controller."""

    count: float
    mean: np.ndarray
    m2: np.ndarray
    clip: float = 5.0
    eps: float = 1e-8

    @classmethod
    def empty(cls, dim: int, clip: float = 5.0) -> RunningObsStats:
        return cls(0.0, np.zeros(dim), np.zeros(dim), clip)

    @property
    def std(self) -> np.ndarray:
        if self.count < 2:
            return np.ones_like(self.mean)
        return np.sqrt(self.m2 / self.count + self.eps)

    def merge(self, sums: ObsSums) -> None:
        """Fold one generation's per-episode sums into the statistics (episode order)."""
        n = float(np.sum(sums.count))
        if n == 0:
            return
        total = np.sum(sums.total, axis=0)
        mean_b = total / n
        m2_b = np.maximum(np.sum(sums.squares, axis=0) - total * mean_b, 0.0)
        delta = mean_b - self.mean
        count = self.count + n
        self.mean = self.mean + delta * (n / count)
        self.m2 = self.m2 + m2_b + delta**2 * (self.count * n / count)
        self.count = count

    def normalizer(self) -> ObsNormalizer:
        """The frozen normaliser for the next generation."""
        return ObsNormalizer(self.mean.copy(), 1.0 / self.std, self.clip)

    def state_dict(self) -> dict:
        return {
            "count": self.count,
            "mean": self.mean.copy(),
            "m2": self.m2.copy(),
            "clip": self.clip,
        }

    @classmethod
    def from_state_dict(cls, state: dict) -> RunningObsStats:
        return cls(state["count"], state["mean"].copy(), state["m2"].copy(), state["clip"])


@dataclass(frozen=True)
class ObsNormalizer:
    """``clip((obs - mean) / std)``, fixed for a generation; travels to remote workers."""

    mean: np.ndarray
    inv_std: np.ndarray
    clip: float

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        # np.clip's Python wrapper costs more than the arithmetic on a population's rows;
        # maximum then minimum is the same function (NaN propagates), in place.
        x = np.subtract(obs, self.mean)
        x *= self.inv_std
        np.maximum(x, -self.clip, out=x)
        return np.minimum(x, self.clip, out=x)
