"""What every optimizer shares: construction, the pending-ask guard, checks, state and RNG.

An algorithm subclasses :class:`Optimizer` once and writes only its equations: ``_init`` (its
state from ``x0``, ``sigma0``, ``settings`` and ``rng``), ``_ask`` and ``_tell``, plus the
``center`` property; ``state`` names the attributes that hold its state, so that
``state_dict``/``load_state_dict`` (which also carry the generator) need no code of its own.
Adding an optimizer is its file and one line in :mod:`evorl.optimizers.registry`.
"""

from __future__ import annotations

import copy
import math
from typing import Any, ClassVar

import numpy as np

from evorl.optimizers.seeded import SeededPopulation

SeedLike = int | np.random.SeedSequence
"""An optimizer seed: a non-negative int or a ``numpy.random.SeedSequence`` (e.g. a child)."""


class Optimizer:
    """Black-box maximiser with an ask/tell interface on flat float64 vectors; higher is better.

    One generation is ``x = opt.ask()`` (shape ``(popsize, dim)``), evaluate every row, then
    ``opt.tell(x, fitness)``. ``state_dict()`` captures everything, RNG included, so that a
    restored optimizer asks exactly what the original would have.

    Args:
        x0: Start point (the controller's initial flat parameters); copied.
        sigma: Initial step size / noise standard deviation.
        popsize: Population size; ``None`` takes the algorithm's default for ``len(x0)``.
        seed: Non-negative int or ``SeedSequence``; the optimizer's only source of randomness.
        settings: The algorithm's ``Settings`` instance (default settings when ``None``).

    Example:
        >>> from evorl.optimizers import make_optimizer
        >>> opt = make_optimizer("snes", np.zeros(3), sigma=0.5, popsize=None, seed=1)
        >>> for _ in range(5):
        ...     x = opt.ask()
        ...     metrics = opt.tell(x, -np.sum((x - 1.0) ** 2, axis=1))
        >>> opt.popsize, opt.center.shape
        (7, (3,))
    """

    name: ClassVar[str] = ""
    """Registered name; also tags the state dict."""
    Settings: ClassVar[type]
    """The algorithm's frozen settings dataclass."""
    state: ClassVar[tuple[str, ...]] = ()
    """Attributes saved by :meth:`state_dict` (deep-copied both ways)."""
    quadratic_memory: ClassVar[bool] = False
    """Keeps d x d matrices (a full covariance): memory grows with the square of the dimension."""

    def __init__(
        self,
        x0: np.ndarray,
        *,
        sigma: float,
        popsize: int | None = None,
        seed: SeedLike,
        settings: Any = None,
    ) -> None:
        self.settings = settings if settings is not None else self.Settings()
        self.x0 = as_x0(x0)
        self.dim = self.x0.size
        self.sigma0 = as_sigma(sigma)
        self.rng = make_rng(seed)
        self._pending: tuple[int, int] | None = None
        self._seeded: SeededPopulation | None = None
        self._popsize = 0
        self._init(popsize)

    # ----------------------------------------------------------------- the algorithm's part
    def _init(self, popsize: int | None) -> None:
        """Set up the search state (``self._popsize`` included) from x0, sigma0 and settings."""
        raise NotImplementedError

    def _ask(self) -> np.ndarray | SeededPopulation:
        """Candidates of the next generation, ``(popsize, dim)``; an algorithm whose candidates
        are its centre plus seeded noise returns them as a :class:`SeededPopulation`."""
        raise NotImplementedError

    def _tell(self, candidates: np.ndarray, fitness: np.ndarray) -> dict[str, float]:
        """Update from checked fitness (float64, finite) of the last ask; returns metrics."""
        raise NotImplementedError

    def _state_extra(self) -> dict[str, Any]:
        """State that is not a plain attribute (pickled pycma objects, steppers)."""
        return {}

    def _load_state_extra(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`_state_extra` saved (before the generator is restored)."""

    @property
    def center(self) -> np.ndarray:
        """The current search-distribution mean (or best estimate), shape ``(dim,)``."""
        raise NotImplementedError

    # ----------------------------------------------------------------- the shared protocol
    @property
    def popsize(self) -> int:
        """Number of rows the next ``ask()`` returns (may change, e.g. on IPOP restarts)."""
        return self._popsize

    def ask(self) -> np.ndarray:
        """Candidates to evaluate, shape ``(popsize, dim)``, float64."""
        asked = self._ask()
        self._seeded = asked if isinstance(asked, SeededPopulation) else None
        x = np.asarray(asked)
        self._pending = (int(x.shape[0]), int(x.shape[1]))
        return x

    def seeded_population(self) -> SeededPopulation | None:
        """The pending ask as centre, scale and noise seeds, if the algorithm's candidates are
        its centre plus seeded noise (OpenAI-ES, PGPE, SNES); else None.

        ``numpy.asarray`` of it is the matrix :meth:`ask` returned; a distributed evaluator sends
        the description instead and its workers rebuild their rows, bit for bit (seed-only
        communication, Salimans et al. 2017; :mod:`evorl.optimizers.seeded`).
        """
        return self._seeded if self._pending is not None else None

    def tell(self, candidates: np.ndarray, fitness: np.ndarray) -> dict[str, float]:
        """Update from the fitness (higher is better) of the last ``ask()``; returns metrics."""
        if self._pending is None:
            raise RuntimeError(f"{self.name}: tell() called without a pending ask()")
        f = check_tell(self.name, candidates, fitness, self._pending)
        metrics = self._tell(np.asarray(candidates, dtype=np.float64), f)
        self._pending = None
        return metrics

    def state_dict(self) -> dict[str, Any]:
        """Picklable snapshot of the full state, RNG included."""
        out = {
            "name": self.name,
            "dim": self.dim,
            "x0": self.x0.copy(),  # where restarts begin
            "sigma0": self.sigma0,
            "popsize": self._popsize,
            "pending": self._pending,
            **{key: copy.deepcopy(getattr(self, key)) for key in self.state},
            **self._state_extra(),
        }
        out["rng"] = rng_state(self.rng)
        return out

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a snapshot taken by ``state_dict()`` of an optimizer of the same kind and dim."""
        check_state(self.name, self.dim, state)
        self.x0, self.sigma0 = np.array(state["x0"], dtype=np.float64), float(state["sigma0"])
        for key in self.state:
            setattr(self, key, copy.deepcopy(state[key]))
        self._popsize = int(state["popsize"])
        pending = state["pending"]
        self._pending = None if pending is None else (int(pending[0]), int(pending[1]))
        self._seeded = None  # a restored pending ask is evaluated from its matrix
        self._load_state_extra(state)
        restore_rng(self.rng, state["rng"])


# --------------------------------------------------------------------------- arguments


def make_rng(seed: SeedLike) -> np.random.Generator:
    """The optimizer's own generator; library code never touches numpy's global RNG."""
    if isinstance(seed, np.random.SeedSequence):
        return np.random.default_rng(seed)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative int or a SeedSequence, got {seed!r}")
    return np.random.default_rng(np.random.SeedSequence(int(seed)))


def as_x0(x0: np.ndarray) -> np.ndarray:
    """A private float64 copy of the start point; must be a finite non-empty vector."""
    x = np.array(x0, dtype=np.float64, copy=True)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"x0 must be a non-empty 1-D vector, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("x0 contains NaN/inf")
    return x


def as_sigma(sigma: float) -> float:
    """The initial step size as a positive finite float."""
    s = float(sigma)
    if not (math.isfinite(s) and s > 0):
        raise ValueError(f"sigma must be a positive finite number, got {sigma!r}")
    return s


def default_popsize(dim: int, *, multiple_of: int = 1, minimum: int = 4) -> int:
    """The NES/CMA-ES default ``4 + floor(3 ln d)``, rounded up to a multiple (pairs, quarters)."""
    n = max(minimum, 4 + int(3 * math.log(dim)))
    return -(-n // multiple_of) * multiple_of


def check_popsize(
    name: str, popsize: int | None, dim: int, *, multiple_of: int = 1, minimum: int = 2
) -> int:
    """``popsize`` validated, or the default when ``None``."""
    if popsize is None:
        return default_popsize(dim, multiple_of=multiple_of, minimum=max(minimum, 4))
    if isinstance(popsize, bool) or not isinstance(popsize, int | np.integer):
        raise ValueError(f"{name}: popsize must be an int, got {popsize!r}")
    if popsize < minimum or popsize % multiple_of:
        rule = f" and a multiple of {multiple_of}" if multiple_of > 1 else ""
        raise ValueError(f"{name}: popsize must be >= {minimum}{rule}, got {popsize}")
    return int(popsize)


def check_tell(
    name: str, candidates: np.ndarray, fitness: np.ndarray, shape: tuple[int, int]
) -> np.ndarray:
    """Validate a ``tell()`` call; returns the fitness as a float64 vector."""
    cand_shape = np.shape(candidates)
    if cand_shape != shape:
        raise ValueError(
            f"{name}: candidates must have the shape of the last ask(), {shape}; got {cand_shape}"
        )
    f = np.asarray(fitness, dtype=np.float64)
    if f.shape != (shape[0],):
        raise ValueError(f"{name}: fitness must have shape ({shape[0]},), got {f.shape}")
    bad = np.flatnonzero(~np.isfinite(f))
    if bad.size:
        raise ValueError(f"{name}: fitness contains NaN/inf at indices {bad.tolist()}")
    return f


def check_state(name: str, dim: int, state: dict[str, Any]) -> None:
    """Refuse a state dict saved by another optimizer kind or for another dimension."""
    if state.get("name") != name or state.get("dim") != dim:
        raise ValueError(
            f"{name}: state_dict is for optimizer {state.get('name')!r} with dim "
            f"{state.get('dim')!r}, not {name!r} with dim {dim}"
        )


def rng_state(rng: np.random.Generator) -> dict[str, Any]:
    """A copy of the generator's state (plain dict of ints/strings)."""
    return dict(rng.bit_generator.state)


def restore_rng(rng: np.random.Generator, state: dict[str, Any]) -> None:
    """Put a generator back into a state returned by :func:`rng_state`."""
    rng.bit_generator.state = dict(state)
