"""CMA-ES through pycma, with IPOP/BIPOP restarts; full ("cmaes") or diagonal ("sep-cmaes").

CMA-ES is not re-implemented here: this adapter wraps ``cma.CMAEvolutionStrategy`` (pycma, by
N. Hansen, the reference implementation) in evorl's ask/tell protocol.

- Hansen & Ostermeier, "Completely Derandomized Self-Adaptation in Evolution Strategies",
  Evolutionary Computation 9(2), 2001 (CMA-ES).
- Ros & Hansen, "A Simple Modification in CMA-ES Achieving Linear Time and Space Complexity",
  PPSN 2008 (sep-CMA-ES; pycma option ``CMA_diagonal=True``): O(d) memory, for large controllers.
- Auger & Hansen, "A Restart CMA Evolution Strategy With Increasing Population Size", CEC 2005
  (IPOP: each restart multiplies the population size by ``incpopsize``).
- Hansen, "Benchmarking a BI-Population CMA-ES on the BBOB-2009 Function Testbed", GECCO 2009
  (BIPOP): after the first run, the regime that has spent fewer evaluations runs next. A large
  run uses ``popsize_default * incpopsize**k`` for its k-th large run and the initial sigma; a small
  run draws ``popsize = floor(popsize_default * (lambda_large / (2 popsize_default)) ** U1**2)`` and
  ``sigma = sigma0 * 10 ** (-2 U2)`` (U1, U2 uniform on [0, 1), drawn from *our* generator) and is
  stopped after half the large runs' evaluations, as in pycma's own ``cma.fmin``.

A restart starts a fresh pycma instance at ``x0`` when ``es.stop()`` fires, at most
``max_restarts`` times. pycma minimises, so ``tell`` hands it ``-fitness``.

Randomness: pycma samples through its ``randn`` option, which we point at a small picklable
callable drawing from our own ``numpy.random.Generator``; pycma's ``seed`` option is then unused
and is set to NaN ("do nothing") so that pycma never reseeds numpy's *global* RNG (its seeds
0/None would mean "seed from the clock"). pycma 4.5 still draws from the global RNG in one
place: the step-size adaptation used from dimension 300 on (TPA) runs a consistency check with
``np.random.randint`` on every ``tell``. Every pycma call therefore runs inside a save/restore
of ``np.random.get_state()``, so the caller's global RNG is left exactly as it was.
"""

from __future__ import annotations

import contextlib
import pickle
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import cma
import numpy as np

from evorl.optimizers import base
from evorl.optimizers.base import Optimizer

_RESERVED_OPTIONS = {
    "randn": "randomness comes from the optimizer's seed",
    "seed": "randomness comes from the optimizer's seed",
    "popsize": "use the optimizer's popsize argument",
}


class _GeneratorRandn:
    """pycma's ``randn(lam, N)`` option, drawing from a numpy Generator; picklable."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng

    def __call__(self, *shape: int) -> np.ndarray:
        return self.rng.standard_normal(shape)


@contextlib.contextmanager
def _global_rng_untouched() -> Iterator[None]:
    state = np.random.get_state()  # noqa: NPY002 (protecting the caller's global RNG from pycma)
    try:
        yield
    finally:
        np.random.set_state(state)  # noqa: NPY002


@dataclass(frozen=True)
class CMAESSettings:
    """Settings of :class:`CMAES` and :class:`SepCMAES`."""

    restarts: Literal["none", "ipop", "bipop"] = "none"
    """Restart strategy when pycma's termination criteria fire (``none``: keep going)."""
    max_restarts: int = 9
    """Most restarts (small and large BIPOP runs both count)."""
    incpopsize: float = 2.0
    """Population size factor per (large) restart."""
    cma_options: dict[str, Any] = field(default_factory=dict)
    """Extra pycma options for experts, e.g. ``{"tolfun": 1e-6, "CMA_active": False}``; see
    ``cma.CMAOptions()``. ``randn``, ``seed`` and ``popsize`` are set by the adapter."""

    def __post_init__(self) -> None:
        if self.max_restarts < 0:
            raise ValueError("cmaes: max_restarts must be >= 0")
        if not self.incpopsize >= 1:
            raise ValueError("cmaes: incpopsize must be >= 1")
        known = cma.CMAOptions()
        for key in self.cma_options:
            if key in _RESERVED_OPTIONS:
                raise ValueError(
                    f"cmaes: cma_options may not set {key!r}: {_RESERVED_OPTIONS[key]}"
                )
            if key not in known:
                raise ValueError(f"cmaes: unknown pycma option {key!r} in cma_options")


class CMAES(Optimizer):
    """CMA-ES (Hansen & Ostermeier 2001) via pycma, with optional IPOP/BIPOP restarts.

    Full covariance: O(d^2) memory, for controllers up to a few thousand parameters. After a
    restart ``center`` is the new run's mean (which starts again at ``x0``); keep the best
    solution seen so far yourself (the trainer does).

    Example:
        >>> opt = CMAES(np.zeros(5), sigma=0.5, seed=1, settings=CMAESSettings(restarts="ipop"))
        >>> x = opt.ask()
        >>> metrics = opt.tell(x, -np.sum((x - 1.0) ** 2, axis=1))
        >>> opt.popsize, metrics["opt/restarts"]
        (8, 0.0)
    """

    name = "cmaes"
    Settings = CMAESSettings
    diagonal = False
    quadratic_memory = True
    state = ("restarts", "_maxiter0", "_regime", "_evals", "_n_large", "_last_large_popsize")
    state += ("popsize_default",)

    def _init(self, popsize: int | None) -> None:
        if popsize is not None:
            popsize = base.check_popsize(self.name, popsize, self.dim)
        self._randn = _GeneratorRandn(self.rng)
        self._es = self._new_es(self.sigma0, popsize, maxiter=None)
        self.popsize_default = int(self._es.popsize)
        self._maxiter0 = float(self._es.opts["maxiter"])
        self.restarts = 0
        self._regime = "small"  # the first run's budget counts for the small regime (pycma fmin)
        self._evals = {"small": 0, "large": 0}
        self._n_large = 0
        self._last_large_popsize = self.popsize_default

    def _new_es(self, sigma: float, popsize: int | None, maxiter: int | None) -> Any:
        opts: dict[str, Any] = {"verbose": -9, "verb_disp": 0, "verb_log": 0}
        if self.diagonal:
            opts["CMA_diagonal"] = True
        opts.update(self.settings.cma_options)
        opts.update(seed=np.nan, randn=self._randn)
        if popsize is not None:
            opts["popsize"] = popsize
        if maxiter is not None:
            opts["maxiter"] = maxiter
        with _global_rng_untouched():
            return cma.CMAEvolutionStrategy(self.x0, sigma, opts)

    @property
    def popsize(self) -> int:
        return int(self._es.popsize)

    @property
    def center(self) -> np.ndarray:
        es = self._es
        return np.array(es.gp.pheno(es.mean, into_bounds=es.boundary_handler.repair), dtype=float)

    @property
    def stop_conditions(self) -> dict[str, Any]:
        """pycma's termination criteria that currently hold (empty while the run goes on)."""
        with _global_rng_untouched():
            return dict(self._es.stop())

    def _ask(self) -> np.ndarray:
        with _global_rng_untouched():
            return np.array(self._es.ask(), dtype=np.float64)

    def _tell(self, candidates: np.ndarray, fitness: np.ndarray) -> dict[str, float]:
        old_center = self.center
        with _global_rng_untouched():
            self._es.tell(list(candidates), (-fitness).tolist())
            stop = dict(self._es.stop())
        metrics = {
            "opt/sigma": float(self._es.sigma),
            "opt/step_norm": float(np.linalg.norm(self.center - old_center)),
            "opt/stopped": 0.0,
        }
        if stop:
            s = self.settings
            if s.restarts != "none" and self.restarts < s.max_restarts:
                self._restart()
            else:
                metrics["opt/stopped"] = 1.0
        metrics["opt/restarts"] = float(self.restarts)
        metrics["opt/popsize"] = float(self.popsize)
        return metrics

    def _restart(self) -> None:
        s = self.settings
        self._evals[self._regime] += int(self._es.countevals)
        self.restarts += 1
        sigma, maxiter = self.sigma0, None
        if s.restarts == "bipop" and self._evals["small"] < max(1, self._evals["large"]):
            u1, u2 = self.rng.random(2)
            base_ratio = 0.5 * self._last_large_popsize / self.popsize_default
            popsize = max(2, int(self.popsize_default * base_ratio ** (u1**2)))
            sigma = self.sigma0 * 10 ** (-2 * u2)
            maxiter = max(1, int(min(self._maxiter0, 0.5 * self._evals["large"] / popsize)))
            self._regime = "small"
        else:
            self._n_large += 1
            popsize = round(self.popsize_default * s.incpopsize**self._n_large)
            self._last_large_popsize = popsize
            self._regime = "large"
        self._es = self._new_es(sigma, popsize, maxiter)

    def _state_extra(self) -> dict[str, Any]:
        # One pickle for both, so the restored es keeps sampling from the restored randn.
        return {"es": pickle.dumps((self._es, self._randn))}

    def _load_state_extra(self, state: dict[str, Any]) -> None:
        self._es, self._randn = pickle.loads(state["es"])
        self.rng = self._randn.rng  # the base restores its state next


class SepCMAES(CMAES):
    """Separable (diagonal) CMA-ES (Ros & Hansen 2008) via pycma; O(d) memory and time per sample.

    Same settings and restarts as :class:`CMAES`.

    Example:
        >>> opt = SepCMAES(np.zeros(2000), sigma=0.1, seed=1)
        >>> x = opt.ask()
        >>> x.shape
        (26, 2000)
    """

    name = "sep-cmaes"
    diagonal = True
    quadratic_memory = False
