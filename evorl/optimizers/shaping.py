"""Fitness shaping: pure functions from raw fitness (higher is better) to update weights.

Rank-based shaping makes an update invariant to monotone transformations of the fitness and
robust to outliers ("fitness shaping": Wierstra et al., "Natural Evolution Strategies", JMLR 15,
2014; Salimans et al., "Evolution Strategies as a Scalable Alternative to RL", 2017).

Ties are handled deterministically: tied candidates receive the *mean* of the weights their ranks
would get, so equal fitness always means equal weight, whatever the order in which the candidates
were listed; a flat landscape yields zero weights (up to rounding for the NES utilities) and hence
no spurious step.

Example:
    >>> centered_ranks(np.array([3.0, 1.0, 2.0]))
    array([ 0.5, -0.5,  0. ])
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def _as_fitness(fitness: np.ndarray) -> np.ndarray:
    f = np.asarray(fitness, dtype=np.float64)
    if f.ndim != 1 or f.size == 0:
        raise ValueError(f"fitness must be a non-empty 1-D array, got shape {f.shape}")
    bad = np.flatnonzero(~np.isfinite(f))
    if bad.size:
        raise ValueError(f"fitness contains NaN/inf at indices {bad.tolist()}")
    return f


def rank_weights(fitness: np.ndarray, weights_best_first: np.ndarray) -> np.ndarray:
    """Give the best candidate ``weights_best_first[0]``, the next ``[1]``, ...; ties share means.

    Args:
        fitness: ``(n,)`` fitness values, higher is better.
        weights_best_first: ``(n,)`` weights ordered from best rank to worst.

    Returns:
        ``(n,)`` weights aligned with ``fitness``.
    """
    f = _as_fitness(fitness)
    w = np.asarray(weights_best_first, dtype=np.float64)
    if w.shape != f.shape:
        raise ValueError(f"need one weight per candidate: {w.shape} vs {f.shape}")
    order = np.argsort(-f, kind="stable")
    sorted_f = f[order]
    group = np.concatenate(([0], np.cumsum(sorted_f[1:] != sorted_f[:-1])))
    means = np.bincount(group, weights=w) / np.bincount(group)
    out = np.empty_like(w)
    out[order] = means[group]
    return out


def centered_ranks(fitness: np.ndarray) -> np.ndarray:
    """Ranks scaled linearly to ``[-0.5, 0.5]`` (best gets 0.5), as in OpenAI-ES (Salimans 2017).

    A single candidate gets 0.
    """
    n = _as_fitness(fitness).size
    if n == 1:
        return np.zeros(1)
    # Integer weights n-1, n-3, ..., 1-n keep tie means exact (a full tie gives exactly 0).
    weights = np.arange(n - 1, -n, -2, dtype=np.float64)
    return rank_weights(fitness, weights) / (2 * (n - 1))


def nes_utilities(n: int) -> np.ndarray:
    """The NES utility values for ranks 1..n, best first (Wierstra et al. 2014).

    ``u_k = max(0, ln(n/2 + 1) - ln k) / sum_j max(0, ln(n/2 + 1) - ln j) - 1/n``: only the
    better half gets positive weight, the weights sum to zero.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    k = np.arange(1, n + 1, dtype=np.float64)
    raw = np.maximum(0.0, np.log(n / 2 + 1) - np.log(k))
    return raw / raw.sum() - 1.0 / n


def nes_utility_shaping(fitness: np.ndarray) -> np.ndarray:
    """:func:`nes_utilities` assigned to the candidates by fitness rank (ties share the mean)."""
    return rank_weights(fitness, nes_utilities(_as_fitness(fitness).size))


def normalize(fitness: np.ndarray) -> np.ndarray:
    """Zero mean, unit standard deviation; all zeros when the fitness is (numerically) constant."""
    f = _as_fitness(fitness)
    centered = f - f.mean()
    std = centered.std()
    if std <= 16 * np.finfo(np.float64).eps * np.abs(f).max():
        return np.zeros_like(f)
    return centered / std


def raw(fitness: np.ndarray) -> np.ndarray:
    """Fitness minus its mean (the mean serves as the baseline)."""
    f = _as_fitness(fitness)
    return f - f.mean()


SHAPINGS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "centered": centered_ranks,
    "nes": nes_utility_shaping,
    "normalized": normalize,
    "raw": raw,
}
"""Shaping functions by the name an optimizer setting uses for them."""
