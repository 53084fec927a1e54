"""Populations described by seeds: ``centre ± scale · noise``, each noise row from its own seed.

Salimans, Ho, Chen, Sidor & Sutskever, "Evolution Strategies as a Scalable Alternative to
Reinforcement Learning" (arXiv:1703.03864, 2017), Sec. 2.1: when every candidate is the centre
plus seeded Gaussian noise, a worker can rebuild any candidate from the centre and the noise's
seed, so a distributed generation ships the centre once instead of a (P, D) matrix.

The optimizers whose candidates have that form (OpenAI-ES, PGPE, SNES) draw their noise here:
direction ``j``'s unit-variance noise is ``default_rng(seeds[j]).standard_normal(D)``, and
candidate ``r`` is ``centre + scale * z_j`` (``r = j``), or, mirrored, ``centre + scale * z_j``
for ``r = 2j`` and ``centre - scale * z_j`` for ``r = 2j + 1``. :meth:`SeededPopulation.rows`
computes any subset of rows with the same float64 operations as the whole matrix, so the rows a
worker rebuilds are the optimizer's own, bit for bit.

``numpy.asarray(population)`` gives the full (P, D) matrix (the one the optimizer built, if it
is still held), so an evaluator that does not know about seeds takes the population as it takes
a matrix; only the description (centre, scale, seeds) is pickled.

Example:
    >>> rng = np.random.default_rng(0)
    >>> pop = SeededPopulation.draw(rng, np.zeros(3), 0.5, directions=2, mirrored=True)
    >>> x = np.asarray(pop)
    >>> x.shape, bool(np.array_equal(pop.rows(np.array([3])), x[3:4]))
    ((4, 3), True)
    >>> bool(np.array_equal(x[1], -x[0]))
    True
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SEED_BOUND = 2**63
"""Seeds are drawn uniformly from ``[0, SEED_BOUND)`` by the optimizer's generator."""


def unit_noise(seed: int, dim: int) -> np.ndarray:
    """The unit-variance Gaussian noise (dim,) of one direction's seed."""
    return np.random.default_rng(int(seed)).standard_normal(dim)


@dataclass(eq=False)
class SeededPopulation:
    """A population ``centre ± scale · z_j`` given by the seeds of its noise directions.

    Attributes:
        center: (D,) float64 centre.
        scale: float64 scalar or (D,) vector multiplying the unit noise (a fixed sigma, or
            per-parameter standard deviations).
        seeds: (n,) int64 seed of each noise direction.
        mirrored: candidates come in pairs ``centre + s·z_j``, ``centre - s·z_j`` (2n rows);
            otherwise one row per direction (n rows).
    """

    center: np.ndarray
    scale: np.ndarray
    seeds: np.ndarray
    mirrored: bool
    _noise: np.ndarray | None = field(default=None, repr=False)
    _matrix: np.ndarray | None = field(default=None, repr=False)

    @classmethod
    def draw(
        cls,
        rng: np.random.Generator,
        center: np.ndarray,
        scale: float | np.ndarray,
        directions: int,
        mirrored: bool,
    ) -> SeededPopulation:
        """A new population: ``directions`` seeds drawn from ``rng`` (the optimizer's own)."""
        seeds = rng.integers(SEED_BOUND, size=directions, dtype=np.int64)
        return cls(np.array(center, np.float64), np.array(scale, np.float64), seeds, mirrored)

    def __len__(self) -> int:
        return len(self.seeds) * (2 if self.mirrored else 1)

    @property
    def dim(self) -> int:
        return self.center.size

    @property
    def nbytes(self) -> int:
        """Bytes of the description (what travels instead of the matrix)."""
        return self.center.nbytes + self.scale.nbytes + self.seeds.nbytes

    def noise(self, directions: np.ndarray | None = None) -> np.ndarray:
        """Unit noise (k, D) of ``directions`` (all by default; kept once computed in full)."""
        if directions is None:
            if self._noise is None:
                self._noise = self._draw(np.arange(len(self.seeds)))
            return self._noise
        if self._noise is not None:
            return self._noise[directions]
        return self._draw(directions)

    def _draw(self, directions: np.ndarray) -> np.ndarray:
        out = np.empty((len(directions), self.dim))
        for k, j in enumerate(directions):
            out[k] = unit_noise(self.seeds[j], self.dim)
        return out

    def rows(self, index: np.ndarray | None = None) -> np.ndarray:
        """Candidates ``index`` (all by default) as a (k, D) float64 matrix.

        Row by row the same float64 operations as the full matrix (``scale * z`` then
        ``center ± that``), so a subset equals the matching rows of the whole, bit for bit.
        """
        if index is None:
            if self._matrix is None:
                self._matrix = self._rows(np.arange(len(self)))
            return self._matrix
        index = np.asarray(index, dtype=np.int64)
        if self._matrix is not None:
            return self._matrix[index]
        return self._rows(index)

    def _rows(self, index: np.ndarray) -> np.ndarray:
        if not self.mirrored:
            return self.center + self.scale * self.noise(index)
        directions, sign = np.divmod(index, 2)
        steps = self.scale * self.noise(directions)
        return np.where(sign[:, None] == 0, self.center + steps, self.center - steps)

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        matrix = self.rows()
        return matrix if dtype is None else matrix.astype(dtype)

    def __getstate__(self) -> dict:
        # Only the description travels: a worker rebuilds the rows it needs.
        return {**self.__dict__, "_noise": None, "_matrix": None}
