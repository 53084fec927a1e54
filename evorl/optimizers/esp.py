"""ESP: Enforced SubPopulations.

Gomez & Miikkulainen, "Incremental evolution of complex general behavior", Adaptive Behavior 5,
1997, and "Solving non-Markovian control tasks with neuroevolution", IJCAI 1999; Gomez, "Robust
non-linear control through neuroevolution", PhD thesis, UT Austin, 2003, ch. 3. The network's
parameters are partitioned into *units* (hidden neurons); unit u has its own subpopulation of
``subpop_size`` partial genomes (all weights of that unit). Each generation:

1. ``ask()`` assembles ``trials * subpop_size`` networks: in each of ``trials`` rounds every
   subpopulation is shuffled and network i takes the i-th member of each, so every member takes
   part in exactly ``trials`` networks;
2. ``tell()`` credits each network's fitness to its members (their mean, or max, over the
   networks they were in), sorts each subpopulation, and recombines within it: each member of the
   top quarter (``elite_fraction``) is crossed (one point) with a random higher-ranked elite, the
   two children of each pair replace the worst members, and each child is mutated with
   probability ``mutation_probability``: Cauchy noise of scale ``mutation_scale`` on one random
   gene (ESP), or on each gene with probability ``gene_rate``;
3. after ``stagnation`` generations without a better network, *burst mutation* (ESP's delta
   coding): every subpopulation is rebuilt as the best network's unit plus Cauchy noise of scale
   ``burst_scale`` (member 0 keeps the unit itself). With ``burst_decay`` < 1 (our addition)
   each burst that found nothing better narrows the next one, for fine tuning, until
   ``burst_floor``, where the next burst is wide again.

Defaults are ESP's (quartile elites, mutation probability 0.4, Cauchy noise); mean credit is
ESP's rule, ``credit="max"`` (the best network a member was in) suits deterministic fitness.
ESP's network-size adaptation (adding or removing units after two fruitless bursts) is left out:
the unit count belongs to the controller's configuration here. Genes with unit index -1 (e.g. a
shared output bias) form one extra subpopulation. ``center`` is the best network evaluated so far.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from evorl.optimizers import base


@dataclass(frozen=True)
class ESPSettings:
    """Settings of :class:`ESP`."""

    subpop_size: int = 20
    """Members per subpopulation."""
    trials: int = 10
    """Networks each member takes part in per generation (popsize = trials * subpop_size);
    a ``popsize`` given to the constructor overrides it and must be a multiple of subpop_size."""
    unit_index: tuple[int, ...] | None = None
    """Unit of each parameter (length dim; -1: shared genes, one extra subpopulation). For an evorl
    controller see :func:`unit_index` (``evorl evolve`` fills it in). None: see ``units``."""
    units: int | None = None
    """Number of contiguous blocks when ``unit_index`` is None; None: one gene per unit."""
    credit: Literal["mean", "max"] = "mean"
    """A member's fitness: the mean (ESP) or the best of the networks it took part in."""
    elite_fraction: float = 0.25
    """Fraction of each subpopulation that parents the children and is kept unchanged."""
    mutation_probability: float = 0.4
    """Probability that a child is mutated (ESP's 0.4)."""
    gene_rate: float | None = None
    """Probability that a gene of a mutated child receives noise; None: one random gene (ESP)."""
    mutation_scale: float | None = None
    """Scale of the Cauchy mutation; None: ``sigma``."""
    stagnation: int = 20
    """Generations without improvement of the best network before a burst mutation; 0: never."""
    burst_scale: float | None = None
    """Scale of the Cauchy noise of a burst mutation; None: ``sigma``."""
    burst_decay: float = 1.0
    """Factor on the burst scale after a burst that brought no improvement (reset to
    ``burst_scale`` on improvement); < 1 narrows successive bursts for fine tuning."""
    burst_floor: float = 1e-3
    """When narrowing would take the burst scale below ``burst_floor * burst_scale``, it starts
    over at ``burst_scale`` (a wide burst to leave a dead end)."""

    def __post_init__(self) -> None:
        if self.subpop_size < 4:
            raise ValueError("esp: subpop_size must be >= 4")
        if self.trials < 1:
            raise ValueError("esp: trials must be >= 1")
        if not 0 < self.elite_fraction <= 1 / 3:
            raise ValueError("esp: elite_fraction must be in (0, 1/3]")
        for name in ("mutation_probability", "gene_rate"):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= 1:
                raise ValueError(f"esp: {name} must be in [0, 1]")
        for name in ("mutation_scale", "burst_scale"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"esp: {name} must be > 0")
        if not 0 < self.burst_decay <= 1:
            raise ValueError("esp: burst_decay must be in (0, 1]")
        if not 0 <= self.burst_floor < 1:
            raise ValueError("esp: burst_floor must be in [0, 1)")
        if self.stagnation < 0:
            raise ValueError("esp: stagnation must be >= 0")


def partition(dim: int, settings: ESPSettings) -> list[np.ndarray]:
    """Gene indices of each subpopulation (units in ascending order, shared genes last)."""
    if settings.unit_index is not None:
        index = np.asarray(settings.unit_index, dtype=np.int64)
        if index.shape != (dim,) or index.min() < -1:
            raise ValueError(f"esp: unit_index must have {dim} entries >= -1")
    else:
        units = dim if settings.units is None else settings.units
        if not 1 <= units <= dim:
            raise ValueError(f"esp: units must be in [1, {dim}]")
        index = np.arange(dim) * units // dim
    groups = [np.flatnonzero(index == u) for u in np.unique(index[index >= 0])]
    if (index == -1).any():
        groups.append(np.flatnonzero(index == -1))
    return groups


class ESP:
    """Enforced SubPopulations (Gomez & Miikkulainen 1997/1999), ask/tell on flat vectors.

    ``sigma`` spreads the initial subpopulations around ``x0`` (member 0 of each is ``x0``'s unit)
    and is the default mutation and burst scale.

    Example:
        >>> opt = ESP(np.zeros(12), sigma=0.5, seed=0, settings=ESPSettings(units=3, trials=2))
        >>> x = opt.ask()
        >>> x.shape
        (40, 12)
        >>> metrics = opt.tell(x, -np.sum((x - 1.0) ** 2, axis=1))
    """

    name = "esp"
    Settings = ESPSettings

    def __init__(
        self,
        x0: np.ndarray,
        *,
        sigma: float,
        popsize: int | None = None,
        seed: base.SeedLike,
        settings: ESPSettings | None = None,
    ):
        self.settings = s = settings or ESPSettings()
        x0 = base.as_x0(x0)
        self.dim = x0.size
        self.sigma = base.as_sigma(sigma)
        self.groups = partition(self.dim, s)
        self.trials = s.trials
        if popsize is not None:
            base.check_popsize(
                self.name, popsize, self.dim, multiple_of=s.subpop_size, minimum=s.subpop_size
            )
            self.trials = int(popsize) // s.subpop_size
        # elites plus their two children each must fit in a subpopulation
        self.n_elite = min(max(1, round(s.elite_fraction * s.subpop_size)), s.subpop_size // 3)
        self._rng = base.make_rng(seed)
        self._pops = []
        for idx in self.groups:
            noise = self._rng.standard_normal((s.subpop_size, idx.size))
            noise[0] = 0.0
            self._pops.append(x0[idx] + self.sigma * noise)
        self._best, self._best_f = x0.copy(), -np.inf
        self._stalled, self._burst_level, self._improved = 0, 1.0, False
        self._members: np.ndarray | None = None  # (popsize, n_groups) of the pending ask

    @property
    def popsize(self) -> int:
        return self.trials * self.settings.subpop_size

    @property
    def center(self) -> np.ndarray:
        return self._best.copy()

    @property
    def best_fitness(self) -> float:
        """Fitness of :attr:`center` (-inf before the first ``tell``)."""
        return float(self._best_f)

    def ask(self) -> np.ndarray:
        size = self.settings.subpop_size
        self._members = np.stack(
            [
                np.concatenate([self._rng.permutation(size) for _ in range(self.trials)])
                for _ in self.groups
            ],
            axis=1,
        )
        return self.assemble(self._members)

    def assemble(self, members: np.ndarray) -> np.ndarray:
        """Networks (rows) from member indices ``members`` (rows, n_groups)."""
        x = np.empty((members.shape[0], self.dim))
        for g, (idx, pop) in enumerate(zip(self.groups, self._pops, strict=True)):
            x[:, idx] = pop[members[:, g]]
        return x

    def tell(self, candidates: np.ndarray, fitness: np.ndarray) -> dict[str, float]:
        if self._members is None:
            raise RuntimeError("esp: tell() called without a pending ask()")
        f = base.check_tell(self.name, candidates, fitness, (self.popsize, self.dim))
        members, self._members = self._members, None
        if f.max() > self._best_f:
            self._best_f, self._best = float(f.max()), self.assemble(members[[f.argmax()]])[0]
            self._stalled, self._improved, self._burst_level = 0, True, 1.0
        else:
            self._stalled += 1
        for g in range(len(self.groups)):
            self._pops[g] = self._recombine(self._pops[g], self._credit(members[:, g], f))
        burst = 0.0
        if self.settings.stagnation and self._stalled >= self.settings.stagnation:
            self._burst()
            self._stalled, burst = 0, 1.0
        return {
            "opt/best": float(self._best_f),
            "opt/burst": burst,
            "opt/burst_level": self._burst_level,
            "opt/diversity": float(np.mean([p.std(axis=0).mean() for p in self._pops])),
        }

    def _credit(self, members: np.ndarray, f: np.ndarray) -> np.ndarray:
        size = self.settings.subpop_size
        if self.settings.credit == "max":
            out = np.full(size, -np.inf)
            np.maximum.at(out, members, f)
            return out
        return np.bincount(members, f, size) / np.maximum(np.bincount(members, None, size), 1)

    def _recombine(self, pop: np.ndarray, fit: np.ndarray) -> np.ndarray:
        """Sort by credit; elites' one-point-crossover children replace the worst members."""
        pop = pop[np.argsort(-fit, kind="stable")]
        n_elite, width = self.n_elite, pop.shape[1]
        if n_elite > 1:
            partner = np.array(
                [
                    self._rng.integers(0, i) if i else self._rng.integers(1, n_elite)
                    for i in range(n_elite)
                ]
            )
        else:
            partner = np.zeros(1, dtype=np.int64)
        cut = self._rng.integers(1, max(2, width), n_elite)
        left = np.arange(width)[None, :] < cut[:, None]
        a, b = pop[:n_elite], pop[partner]
        children = np.concatenate([np.where(left, a, b), np.where(left, b, a)])
        children += self._mutation(children.shape)
        pop[-children.shape[0] :] = children
        return pop

    def _mutation(self, shape: tuple[int, int]) -> np.ndarray:
        """Cauchy noise for the children: whole children hit with ``mutation_probability``, then
        one gene each, or each gene with ``gene_rate``."""
        s = self.settings
        hit = self._rng.random((shape[0], 1)) < s.mutation_probability
        if s.gene_rate is None:
            hit = hit & (np.arange(shape[1]) == self._rng.integers(0, shape[1], (shape[0], 1)))
        else:
            hit = hit & (self._rng.random(shape) < s.gene_rate)
        return hit * (s.mutation_scale or self.sigma) * self._rng.standard_cauchy(shape)

    def _burst(self) -> None:
        """Delta coding: new subpopulations of Cauchy perturbations of the best network's units."""
        if not self._improved:
            self._burst_level *= self.settings.burst_decay
            if self._burst_level < self.settings.burst_floor:
                self._burst_level = 1.0
        self._improved = False
        scale = (self.settings.burst_scale or self.sigma) * self._burst_level
        for g, idx in enumerate(self.groups):
            noise = self._rng.standard_cauchy((self.settings.subpop_size, idx.size))
            noise[0] = 0.0
            self._pops[g] = self._best[idx] + scale * noise

    def state_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "dim": self.dim,
            "trials": self.trials,
            "subpopulations": [p.copy() for p in self._pops],
            "best": self._best.copy(),
            "best_fitness": float(self._best_f),
            "stalled": self._stalled,
            "burst_level": self._burst_level,
            "improved": self._improved,
            "members": base.copy_or_none(self._members),
            "rng": base.rng_state(self._rng),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        base.check_state(self.name, self.dim, state)
        pops = [np.array(p, dtype=np.float64, copy=True) for p in state["subpopulations"]]
        if [p.shape for p in pops] != [p.shape for p in self._pops]:
            raise ValueError("esp: saved subpopulations do not match this partition")
        self._pops, self.trials = pops, int(state["trials"])
        self._best = np.array(state["best"], dtype=np.float64, copy=True)
        self._best_f = float(state["best_fitness"])
        self._stalled = int(state["stalled"])
        self._burst_level, self._improved = float(state["burst_level"]), bool(state["improved"])
        self._members = base.copy_or_none(state["members"])
        base.restore_rng(self._rng, state["rng"])


def unit_index(controller: Any, readout: bool = True) -> np.ndarray:
    """ESP partition of an evorl controller's flat vector: one unit per hidden neuron.

    A hidden neuron's genes are its incoming weights (input and recurrent matrix columns; for an
    LSTM or GRU the columns of all its gates), biases and peepholes, and, when ``readout`` is
    True, its outgoing readout row ``w_out[u]``; ``b_out`` is shared (-1). Units of layer l are
    numbered after those of layers < l. With ``readout=False`` the readout genes are marked -2
    (to be left out of the search). The fully recurrent net's unit u owns row u of ``w``.
    A controller with a ``unit_index`` method of its own (the fast-weight and plastic cells,
    whose state is a matrix) defines its units there, with these semantics.

    Args:
        controller: An evorl controller (``elman``, ``fully_recurrent``, ``lstm``, ``gru`` or
            ``mlp``; parameters named as documented in :mod:`evorl.controllers`).
        readout: Assign the readout rows to their units (True) or mark them -2 (False).

    Returns:
        int64 array of length ``controller.num_params``.

    Raises:
        ValueError: A controller without hidden units, or a parameter this rule does not know.
    """
    own = getattr(controller, "unit_index", None)
    if callable(own):
        return own(readout)
    hidden = tuple(controller.config.hidden)
    if not hidden:
        raise ValueError("esp needs hidden units to split into subpopulations")
    first = np.concatenate([[0], np.cumsum(hidden)])
    parts = []
    for name, p in controller.named_parameters():
        shape = tuple(p.shape)
        if name in ("w_out", "b_out"):
            if not readout:
                parts.append(np.full(int(np.prod(shape)), -2))
            elif name == "w_out":
                parts.append(np.repeat(first[-2] + np.arange(shape[0]), shape[1]))
            else:
                parts.append(np.full(shape[0], -1))
            continue
        if name == "w" and len(shape) == 2:  # fully recurrent: row u holds unit u's inputs
            parts.append(np.repeat(np.arange(shape[0]), shape[1]))
            continue
        match = re.fullmatch(r"(?:w|w_x|w_h|b|b_x|b_h|p_[ifo])(\d+)", name)
        if match is None:
            raise ValueError(f"esp: cannot split parameter {name!r} into units")
        layer = int(match.group(1))
        width = hidden[layer]
        cols = np.arange(shape[-1]) % width + first[layer]
        parts.append(np.broadcast_to(cols, shape).reshape(-1))
    return np.concatenate(parts).astype(np.int64)
