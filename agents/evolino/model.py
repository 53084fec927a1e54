"""Evolino: LSTM hidden weights evolved by ESP, the linear readout computed by least squares.

Schmidhuber, Wierstra, Gagliolo & Gomez, "Training recurrent networks by Evolino", Neural
Computation 19(3), 757-779, 2007. For each network that ESP assembles (one memory cell per
subpopulation, :meth:`evorl.controllers.Controller.unit_index` without the readout):

1. the training sequence is fed in with teacher forcing (for generative prediction the input at
   t is the true value x(t), the target x(t+1));
2. after a washout, the features φ(t) = [h(t), x(t)] (+ 1) are collected and the readout is
   solved by the pseudo-inverse (or ridge regression),
   :func:`~evorl.agents.evolino.readout.solve_readout`;
3. with that readout the network runs free (its output fed back as its input) over the held-out
   end of the training sequence; fitness = -log NRMSE there (the log keeps ESP's averaging of
   credit from being dominated by a few diverging networks).

The whole ESP generation (trials × subpop_size networks) is one population batch: one LSTM
forward pass per time step for all of them (:class:`~evorl.agents.evolino.network.LSTMPopulation`).
Steps 1-3 are deterministic, so fitness is exact. At the end the few best networks are checked
once more in float64 with free runs started all along the training series, and the best of them
is kept (a guard against networks that are stable only on the validation segment).

Options beyond the paper, all off by default unless noted: the cell states in the readout
features (``readout_cells``), noise on the teacher-forced inputs (``teacher_noise``), a
rescaled input (``input_std``), a positive forget-gate bias at the start (``forget_bias``), the
search on the end of a long series only (``train_steps``), float32 arithmetic during the
search (``dtype``, on by default; final model in float64), free runs in the final check
started as test runs start (``restarts``), and a gradient polish of the final network's hidden
weights through free runs (``polish_steps``, :mod:`~evorl.agents.evolino.polish`).

Example:
    >>> from evorl.tasks.timeseries import make_task
    >>> task = make_task("sines2")
    >>> model = Evolino(EvolinoConfig(hidden=10, generations=3), task.dim)
    >>> result = model.fit(task.train, task.washout)
    >>> model.forecast(task.test_context, 5).shape
    (1, 5, 1)
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import torch

from evorl.agents.evolino.islands import Workers
from evorl.agents.evolino.network import (
    DTYPE,
    READOUT_CELLS,
    LSTMPopulation,
    fit_and_validate,
    forecast,
    one_step,
)
from evorl.agents.evolino.polish import polish
from evorl.optimizers.esp import ESP, ESPSettings
from evorl.seeding import STREAM_TEACHER_NOISE, stream
from evorl.training import Budget, search

Callback = Callable[[int, float], None]
"""``callback(generation, best_fitness)`` after each generation (progress display)."""


@dataclass(frozen=True)
class EvolinoConfig:
    """Architecture, search and readout settings of :class:`Evolino`."""

    hidden: int = 10
    """Memory cells (one ESP subpopulation each)."""
    peepholes: bool = True
    """Peephole connections (Evolino's LSTM cells have them)."""
    forget_gate: bool = True
    """Forget gates."""
    readout_input: bool = True
    """Readout also sees the input x(t) (a direct input-output connection)."""
    readout_cells: bool | str = False
    """Readout also sees the cell states c(t) (an extension; Evolino reads the cell outputs);
    "tanh": sees tanh(c(t)), bounded, so that a cell that integrates without limit (its state
    growing with the time since the run began) cannot make the readout depend on where a run
    started."""
    ridge: float = 0.0
    """0: pseudo-inverse readout; > 0: ridge regression."""
    teacher_noise: float = 0.0
    """Standard deviation, relative to the training series' own (per component), of Gaussian
    noise added to the teacher-forced inputs from which the readout is solved (all steps before
    the validation segment; targets clean), so that the readout learns to pull a perturbed
    state back onto the series, as a free run needs (Jaeger's noise insertion, GMD Report 148).
    One draw per fit, from the run's seed (:meth:`Evolino.input_noise`), shared by all networks
    and generations, so fitness stays deterministic. Applies to the search, the final check,
    the final readout and the polish; 0: none (the paper)."""
    subpop_size: int = 20
    """ESP members per subpopulation."""
    trials: int = 3
    """Networks each member takes part in per generation (population = trials * subpop_size)."""
    sigma: float = 0.3
    """Spread of the initial subpopulations (normal, around the start point)."""
    forget_bias: float = 0.0
    """Start value of the forget-gate biases (Gers et al. 2000 suggest positive: remember)."""
    mutation_scale: float = 0.1
    """Cauchy scale of ESP's mutation."""
    gene_rate: float | None = 0.1
    """Per-gene mutation rate of a mutated child (None: one gene, as in ESP)."""
    burst_scale: float = 0.05
    """Cauchy scale of burst mutation around the best network."""
    stagnation: int = 20
    """Generations without improvement before a burst mutation."""
    burst_decay: float = 0.5
    """Burst scale factor after each fruitless burst (ESP setting ``burst_decay``)."""
    burst_floor: float = 1e-3
    """Relative burst scale below which bursts start wide again (ESP setting ``burst_floor``)."""
    credit: str = "mean"
    """ESP credit assignment: "mean" (ESP) or "max" over the networks a member was in."""
    generations: int = 200
    """Generation budget."""
    time_limit: float | None = None
    """Wall-clock budget in seconds (whichever of the two ends first)."""
    valid: int = 100
    """Validation steps at the end of the training sequence (free-running, not used to fit)."""
    valid_horizon: int | None = None
    """Free-running runs of this length tile the validation segment, each restarted from the
    teacher-forced state; None: one run over the whole segment."""
    train_steps: int | None = None
    """Evolve on the last ``train_steps`` samples of the training series only (faster
    generations on long series); None: all of it. The final readout uses all of it."""
    input_std: float | None = None
    """Feed the network the series shifted to zero mean and scaled to this standard deviation
    (training statistics), outputs mapped back; None: as given. NRMSE does not change under this
    map; which weight scales work does."""
    dtype: str = "float32"
    """Network arithmetic during the search ("float32": about twice as fast); the final
    network's readout is re-solved and run in float64."""
    fit_region_runs: bool = False
    """Search fitness also counts free runs started inside the readout's segment (stability
    over the whole series, at the cost of a larger free-running batch)."""
    score_last_step: bool = False
    """Validation scores only the last step of each free run (matches NRMSE84-type metrics)."""
    finalists: int = 8
    """Best distinct networks of the search re-checked at the end (see :meth:`Evolino.fit`)."""
    final_horizon: int | None = None
    """Length of the free runs of that final check (None: ``valid_horizon``); longer than the
    search's runs it prefers networks that stay accurate longer."""
    restarts: int = 0
    """Free runs added to the final check that start as a test run starts: from the zero state,
    teacher-forced over ``restart_context`` steps of the training series at this many evenly
    spaced offsets. They catch a network whose memory cells latch differently depending on
    where it starts, which runs from one teacher-forced pass cannot see (0: none, the paper)."""
    restart_context: int = 300
    """Teacher-forced steps before each of those runs."""
    polish_steps: int = 0
    """Adam steps of the gradient polish of the final network after the search (0: none, the
    paper's Evolino; see :mod:`~evorl.agents.evolino.polish`)."""
    polish_time: float | None = None
    """Wall-clock budget of the polish in seconds (whichever of it and ``polish_steps`` ends
    first); not part of ``time_limit``."""
    polish_lr: float = 1e-3
    """Adam's learning rate in the polish."""
    polish_warmup: int = 0
    """Polish steps over which the learning rate ramps linearly up to ``polish_lr``, at the
    start and after each setback (0: none)."""
    polish_horizon: int | None = None
    """Free-run length of the polish loss (None: ``valid_horizon``, else ``valid``)."""
    polish_check: int = 10
    """Polish steps between final-check scorings (the best-scoring iterate is kept)."""
    workers: int = 1
    """Independent searches run in parallel processes, seeds ``workers * seed + k`` for k <
    ``workers`` (fits with different seeds share no search); their finalists are pooled, and
    each one's best network is polished in parallel (:mod:`~evorl.agents.evolino.islands`).
    ``time_limit`` applies to each search."""
    seed: int = 0
    """Seed of ESP's generator."""

    def __post_init__(self) -> None:
        positive = ("hidden", "subpop_size", "trials", "workers", "polish_check", "restart_context")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"EvolinoConfig.{name} must be >= 1, got {getattr(self, name)}")
        if min(self.polish_steps, self.polish_warmup, self.restarts) < 0 or self.polish_lr <= 0:
            raise ValueError(
                "EvolinoConfig: polish_steps, polish_warmup and restarts must be >= 0, "
                "polish_lr > 0"
            )
        if not self.teacher_noise >= 0:
            raise ValueError(f"EvolinoConfig.teacher_noise must be >= 0, got {self.teacher_noise}")
        if self.readout_cells not in READOUT_CELLS:
            raise ValueError(
                f"EvolinoConfig.readout_cells must be False, True or 'tanh', "
                f"got {self.readout_cells!r}"
            )
        for name in ("time_limit", "polish_time", "polish_horizon"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"EvolinoConfig.{name} must be > 0 or None, got {value}")


@dataclass
class FitResult:
    """What :meth:`Evolino.fit` found."""

    fitness: float
    """Final network's fitness (-log validation NRMSE, float64, all training data)."""
    generations: int
    """Generations run (by the longest search, with ``workers`` > 1)."""
    evaluations: int
    """Networks evaluated (by all searches)."""
    seconds: float
    """Wall time of the whole fit (searches, final check, polish)."""
    history: list[float]
    """Best search fitness after each generation (of any search)."""
    search_fitness: float
    """Fitness of the search's pick, before any gradient polish."""
    polish_steps: int = 0
    """Adam steps of the gradient polish (0: not polished)."""
    polish_setbacks: int = 0
    """Setbacks of the polish that produced the model (see :mod:`~evorl.agents.evolino.polish`)."""


@dataclass
class Search:
    """What one ESP search (:meth:`Evolino.search`) found."""

    genomes: np.ndarray
    """The ``finalists`` best distinct genomes, best first."""
    generations: int
    """Generations run."""
    evaluations: int
    """Networks evaluated."""
    history: list[float]
    """Best fitness after each generation."""


def _best_of(histories: Iterable[list[float]]) -> list[float]:
    """Per generation, the best of several searches' histories (a finished one keeps its last)."""
    runs = [h for h in histories if h]
    length = max((len(h) for h in runs), default=0)
    return [max(h[min(i, len(h) - 1)] for h in runs) for i in range(length)]


class _HallOfFame:
    """The best distinct genomes seen so far, and the best fitness after each generation."""

    def __init__(self, size: int) -> None:
        self.size, self.history = max(1, size), []
        self._fitness, self._genomes = np.empty(0), np.empty((0, 0))

    @property
    def best(self) -> float:
        return float(self._fitness[0])

    def add(self, genomes: np.ndarray, fitness: np.ndarray) -> None:
        genomes = genomes if not self._genomes.size else np.vstack([self._genomes, genomes])
        fitness = np.concatenate([self._fitness, fitness])
        _, first = np.unique(genomes, axis=0, return_index=True)
        keep = first[np.argsort(-fitness[first], kind="stable")][: self.size]
        self._genomes, self._fitness = genomes[keep], fitness[keep]
        self.history.append(self.best)

    def genomes(self) -> np.ndarray:
        return self._genomes.copy()


class Evolino:
    """Evolino for sequence prediction (generative, with output feedback) and classification.

    Args:
        config: Settings.
        in_dim: Input width; for generative prediction the series dimension.
        out_dim: Output width (defaults to ``in_dim``).
    """

    def __init__(self, config: EvolinoConfig, in_dim: int, out_dim: int | None = None) -> None:
        self.config = config
        self.in_dim, self.out_dim = in_dim, out_dim or in_dim
        nets = [
            LSTMPopulation(
                (config.hidden,),
                in_dim,
                self.out_dim,
                peepholes=config.peepholes,
                forget_gate=config.forget_gate,
                readout_input=config.readout_input,
                readout_cells=config.readout_cells,
                dtype=dtype,
            )
            for dtype in (getattr(torch, config.dtype), DTYPE)
        ]
        self.search_net, self.net = nets  # search in config.dtype, final model in float64
        units = self.net.controller.unit_index(readout=False)
        self.genes = np.flatnonzero(units >= 0)  # evolved: everything but w_out, b_out
        self.unit_index = units[self.genes]
        self.genome: np.ndarray | None = None  # best hidden genes
        self.readout: torch.Tensor | None = None  # (F + 1, out_dim)
        self.unpolished: tuple[np.ndarray, torch.Tensor] | None = None  # search's pick, if polished
        self.clip = 1e3  # free-running outputs are clipped to ±clip (set from the data by fit)
        self.shift, self.scale = np.zeros(in_dim), np.ones(in_dim)  # standardisation

    @property
    def dim(self) -> int:
        """Number of evolved parameters."""
        return self.genes.size

    def make_optimizer(self, seed: int | None = None) -> ESP:
        """The ESP instance searching the hidden weights (seed: the config's)."""
        c = self.config
        settings = ESPSettings(
            subpop_size=c.subpop_size,
            trials=c.trials,
            unit_index=tuple(self.unit_index.tolist()),
            mutation_scale=c.mutation_scale,
            gene_rate=c.gene_rate,
            burst_scale=c.burst_scale,
            stagnation=c.stagnation,
            credit=c.credit,
            burst_decay=c.burst_decay,
            burst_floor=c.burst_floor,
        )
        seed = c.seed if seed is None else seed
        return ESP(self.start_point(), sigma=c.sigma, seed=seed, settings=settings)

    def start_point(self) -> np.ndarray:
        """Centre of the initial subpopulations: zeros, forget-gate biases ``forget_bias``."""
        full = np.zeros(self.net.controller.num_params)
        if self.config.forget_gate:
            offset, h = 0, self.config.hidden
            for name, p in self.net.controller.named_parameters():
                if name == "b0":
                    full[offset + h : offset + 2 * h] = self.config.forget_bias
                offset += p.numel()
        return full[self.genes]

    def flat(self, genomes: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Full controller parameter rows (B, D) from evolved genomes (B, dim); readout zero.
        Differentiable in a tensor ``genomes``."""
        genomes = torch.as_tensor(genomes, dtype=DTYPE).reshape(-1, self.genes.size)
        out = torch.zeros(genomes.shape[0], self.net.controller.num_params, dtype=DTYPE)
        out[:, self.genes] = genomes
        return out

    # ------------------------------------------------------------------ generative prediction

    def input_noise(self, series: np.ndarray) -> np.ndarray | None:
        """The noise (T, d) added to the teacher-forced inputs of ``series`` (T, d), or None
        when ``teacher_noise`` is 0: standard normal draws from stream
        :data:`~evorl.seeding.STREAM_TEACHER_NOISE` of the config's seed, times
        ``teacher_noise`` times the series' standard deviation per component."""
        c = self.config
        if c.teacher_noise == 0:
            return None
        rng = np.random.default_rng(stream(c.seed, STREAM_TEACHER_NOISE))
        series = np.asarray(series, dtype=np.float64)
        return c.teacher_noise * series.std(axis=0) * rng.standard_normal(series.shape)

    def evaluate(
        self, genomes: np.ndarray, train: np.ndarray, washout: int, final: bool = False
    ) -> tuple[np.ndarray, torch.Tensor]:
        """Fitness (B,) = -log validation NRMSE, and readouts (B, F + 1, d), of genomes (B, dim)
        on a training series (T, d); see :func:`~evorl.agents.evolino.network.fit_and_validate`.
        ``final``: in float64 and with free runs over the whole series (the finalists' check);
        else in the search dtype, as configured."""
        c = self.config
        genomes = np.atleast_2d(genomes)
        net = self.net if final else self.search_net
        horizon = (c.final_horizon or c.valid_horizon) if final else c.valid_horizon
        nrmse, readout = fit_and_validate(
            net,
            net.params(self.flat(genomes)),
            genomes.shape[0],
            torch.as_tensor(train),
            washout,
            c.valid,
            horizon,
            c.ridge,
            self.clip,
            fit_region_runs=final or c.fit_region_runs,
            last_only=c.score_last_step,
            restarts=c.restarts if final else 0,
            restart_context=c.restart_context,
            noise=self.input_noise(train),
        )
        return -np.log(np.minimum(nrmse, 1e6) + 1e-12), readout

    def search(
        self,
        series: np.ndarray,
        washout: int,
        callback: Callback | None = None,
        seed: int | None = None,
    ) -> Search:
        """One ESP search on a series (T, d) in network coordinates (seed: the config's)."""
        c = self.config
        opt, hall = self.make_optimizer(seed), _HallOfFame(c.finalists)

        def fitness(genomes: np.ndarray, _: np.ndarray) -> np.ndarray:
            f = self.evaluate(genomes, series, washout)[0]
            hall.add(genomes, f)
            return f

        hooks = [] if callback is None else [lambda trainer, row: callback(row["step"], hall.best)]
        budget = Budget(iterations=c.generations, wall_time=c.time_limit)
        gens = search(opt, fitness, budget, hooks).state.iteration
        return Search(hall.genomes(), gens, gens * opt.popsize, hall.history)

    def fit(self, train: np.ndarray, washout: int, callback: Callback | None = None) -> FitResult:
        """Evolve on a training series (T, d) of network coordinates.

        Keeps the ``finalists`` best networks of the search (of each search, with ``workers``
        > 1); the one with the lowest free-running error over the whole training series
        (float64, readout solved on all of it but the validation segment) becomes the model,
        unless the gradient polish (``polish_steps``) of the best network of each search finds
        a better one.
        """
        c, start = self.config, time.perf_counter()
        self.unpolished = None
        train = self._standardize(np.asarray(train, dtype=np.float64), fit=True)
        steps = c.train_steps
        series = train if steps is None or steps >= len(train) else train[-steps:]
        with Workers(c.workers) if c.workers > 1 else contextlib.nullcontext() as workers:
            if workers is not None:
                searches = workers.searches(self, series, washout, callback)
            else:
                searches = [self.search(series, washout, callback)]
            result, starts = self._choose(searches, train, washout)
            if c.polish_steps > 0:
                self._polish(result, starts, train, washout, callback, workers)
        result.seconds = time.perf_counter() - start
        return result

    def _choose(
        self, searches: list[Search], train: np.ndarray, washout: int
    ) -> tuple[FitResult, list[tuple[np.ndarray, float]]]:
        """Final check of the pooled finalists; the best becomes the model. Returns the result
        so far and each search's best (genome, final fitness), the polish's starts."""
        finalists = np.vstack([s.genomes for s in searches])
        final_f, readouts = self.evaluate(finalists, train, washout, final=True)
        bounds = np.cumsum([0] + [len(s.genomes) for s in searches])
        picks = [int(a + np.argmax(final_f[a:b])) for a, b in itertools.pairwise(bounds)]
        best = max(picks, key=lambda i: final_f[i])
        self.genome, self.readout = finalists[best], readouts[best]
        result = FitResult(
            float(final_f[best]),
            max(s.generations for s in searches),
            sum(s.evaluations for s in searches),
            0.0,
            _best_of(s.history for s in searches),
            float(final_f[best]),
        )
        return result, [(finalists[i], float(final_f[i])) for i in picks]

    def _polish(
        self,
        result: FitResult,
        starts: list[tuple[np.ndarray, float]],
        train: np.ndarray,
        washout: int,
        callback: Callback | None,
        workers: Workers | None,
    ) -> None:
        """Gradient polish of each (genome, fitness) in ``starts``, in parallel with workers;
        the best result replaces the model if it scores better."""
        gens = result.generations
        on_check = None if callback is None else (lambda step, best: callback(gens + step, best))
        if workers is not None:
            done = workers.polish(self, starts, train, washout, on_check)
        else:
            done = [polish(self, *starts[0], train, washout, on_check)]
        top = max(done, key=lambda d: d.fitness)
        result.polish_steps = max(d.steps for d in done)
        if top.fitness > result.fitness:
            result.polish_setbacks = top.setbacks
            self.unpolished = (self.genome, self.readout)
            self.genome, result.fitness = top.genome, top.fitness
            self.readout = self.evaluate(top.genome, train, washout, final=True)[1][0]

    def without_polish(self) -> Evolino:
        """This model with the network the search chose, before the gradient polish replaced it
        (a shallow copy; ``self`` when nothing was polished)."""
        if self.unpolished is None:
            return self
        twin = copy.copy(self)
        twin.genome, twin.readout = self.unpolished
        twin.unpolished = None
        return twin

    def _standardize(self, x: np.ndarray, fit: bool = False) -> np.ndarray:
        """Series → network input coordinates (statistics taken from ``x`` when ``fit``)."""
        if fit and self.config.input_std is not None:
            self.shift = x.mean(axis=0)
            self.scale = (x.std(axis=0) + 1e-12) / self.config.input_std
        if fit:
            self.clip = 2.0 * float(np.abs((x - self.shift) / self.scale).max()) + 1e-9
        return (x - self.shift) / self.scale

    def _require_fit(self) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        if self.genome is None or self.readout is None:
            raise RuntimeError("Evolino: call fit() first")
        return self.net.params(self.flat(self.genome)), self.readout

    @torch.no_grad()
    def forecast(self, context: np.ndarray, steps: int) -> np.ndarray:
        """Teacher-force each context (K, W, d), then run free ``steps``: (K, steps, d)."""
        _, readout = self._require_fit()
        params = self.net.params(self.flat(self.genome).expand(len(context), -1))
        out = forecast(self.net, params, readout, self._standardize(context), steps, self.clip)
        return out * self.scale + self.shift

    @torch.no_grad()
    def one_step(self, series: np.ndarray, washout: int) -> np.ndarray:
        """Teacher-forced one-step predictions of ``series[washout + 1:]`` from (T, d)."""
        params, readout = self._require_fit()
        out = one_step(self.net, params, readout, self._standardize(series), washout)
        return out * self.scale + self.shift
