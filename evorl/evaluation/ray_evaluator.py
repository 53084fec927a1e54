"""Population evaluation on Ray: long-lived workers, balanced chunks, no result lost to a failure.

:class:`RayEvaluator` has the interface of the local evaluators and gives bit-identical results
for the same parameters and seeds, on one worker or many. Each worker (a Ray actor, see
:mod:`evorl.evaluation.ray_actors`) builds its controller and env pools once, from the run config;
per generation the reset seeds and the frozen observation normaliser travel once (a
``Generation`` in the object store), and per chunk an individual range with its parameter rows
(float32, the evaluators' compute dtype) — or, for the ES family's seeded populations, no rows at
all: the worker rebuilds them from the centre and the noise seeds. The population is split *by
individual* into contiguous chunks by guided self-scheduling (each chunk 1/(2·workers) of what
is left, largest first, two in flight per worker, handed out as workers free up), every chunk is
evaluated as one batch, and the chunks' results are put back in population order, so
observation sums stay individual-major and merge into the running statistics exactly as a local
run's do.

Fault tolerance (the workers run with ``max_restarts=0``; recovery is done here, where it can be
logged and counted):

* a worker found dead (process killed, node removed, result lost) while holding a chunk: the
  chunk is re-submitted to the live worker with the fewest chunks in flight, the event is logged
  (``logging`` warning) and counted in ``timings["ray/failures"]``, and a replacement worker is
  started; it is pending until the cluster has a free CPU for it and joins the pool when ready.
  A chunk's result depends only on its parameters and seeds, so the generation's result is the
  one it would have been without the failure.
* no live worker at all and none started within ``lost_timeout_s`` (60 s; ``timeout_s``, 180 s,
  at start-up, when a cluster may still be adding nodes): :class:`evorl.errors.TrainingError`
  (one line); the trainer's last checkpoint stays resumable. How soon a dead *node* is noticed
  at all is up to the head node's health checks (from about 2 s for a crashed raylet to about
  60 s for a machine gone silent, with Ray's defaults; docs/ray.md says how to shorten it).

Timings per call (merged into the trainer's metrics row): ``time/eval`` is the busiest worker's
compute time and ``time/eval_mean`` the mean over workers; ``time/overhead`` is wall time minus
``time/eval`` (serialisation, transfer, scheduling, driver work, recovery);
``time/straggler_wait`` the time between the first and the last chunk arriving; ``time/eval_wall``
the call's wall time; ``ray/actors`` the live workers; ``ray/failures`` (this call) and
``ray/failures_total`` the workers lost.

Example:
    >>> overrides = ["--eval.evaluator=ray", "--eval.workers=2"]
    >>> cfg = load_config("halfcheetah", overrides)  # doctest: +SKIP
    >>> controller, _ = controller_for(cfg.env, cfg.controller, cfg.seed)  # doctest: +SKIP
    >>> with RayEvaluator(cfg, controller) as evaluator:  # doctest: +SKIP
    ...     result = evaluator.evaluate(params, seeds=np.array([7]))
    >>> result.timings["ray/actors"]  # doctest: +SKIP
    2
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import ray
from ray.exceptions import (
    NodeDiedError,
    ObjectLostError,
    RayActorError,
    RayError,
    WorkerCrashedError,
)

from evorl.config import RunConfig, to_dict
from evorl.errors import ConfigError, TrainingError
from evorl.evaluation import ray_connect
from evorl.evaluation.evaluators import EvalResult
from evorl.evaluation.obs_norm import ObsNormalizer, ObsSums
from evorl.evaluation.ray_actors import (
    ChunkResult,
    EvalWorker,
    Generation,
    WorkerBuild,
    payload_bytes,
    run_evaluator,
)
from evorl.optimizers.seeded import SeededPopulation

log = logging.getLogger(__name__)

STARTUP_TIMEOUT_S = 180.0
"""Start-up's wait for a first worker: an autoscaling cluster may have to add a node first."""
LOST_TIMEOUT_S = 60.0
"""A run's wait for a replacement once every worker is lost (the time docs/ray.md promises)."""
POLL_S = 1.0
"""How often a waiting driver looks for replacement workers that have come up."""
SPLIT = 2
"""Chunks are ``1 / (SPLIT * workers)`` of what is left (see :func:`plan_chunks`)."""
IN_FLIGHT = 2
"""Chunks queued on a worker at once: it starts its next chunk without waiting for the driver."""

# Errors that mean "the worker (or its node, or the result it held) is gone": retry elsewhere.
# An exception raised by evaluation code itself (RayTaskError) is a bug and propagates.
WORKER_LOST = (RayActorError, ObjectLostError, WorkerCrashedError, NodeDiedError)


@dataclass(eq=False)
class WorkerInfo:
    """A live worker: its actor handle and where it runs (compared by identity)."""

    handle: Any
    pid: int
    host: str
    node_id: str


class RayEvaluator:
    """Evaluates populations on Ray actors; same interface and results as ``VectorEvaluator``.

    Args:
        config: the run config; ``eval.workers`` (0: one per CPU of the local instance or the
            cluster), ``eval.ray_address`` (None: start a local instance; ``auto`` or
            ``HOST:PORT``: join a cluster) and ``eval.max_envs`` (per worker) are read.
        controller: the driver's controller (anything with ``num_params``); workers build their
            own and must agree with it on the number of parameters.
        timeout_s: how long start-up waits for the first worker before giving up with
            :class:`evorl.errors.TrainingError`.
        lost_timeout_s: how long a run whose workers are all lost waits for a replacement
            before giving up the same way.
        build: how a worker builds its evaluator (see
            :data:`~evorl.evaluation.ray_actors.WorkerBuild`); default: the run's controller
            and a ``VectorEvaluator`` from ``config`` (:func:`~.ray_actors.run_evaluator`).

    Attributes:
        on_submit: called with the evaluator right after a call's chunks are submitted (tests use
            it to kill a worker mid-generation).
        failures: workers lost since the evaluator started.
    """

    def __init__(
        self,
        config: RunConfig,
        controller: Any,
        timeout_s: float = STARTUP_TIMEOUT_S,
        lost_timeout_s: float = LOST_TIMEOUT_S,
        build: WorkerBuild | None = None,
    ) -> None:
        self.config = config
        self.controller = controller
        self.timeout_s = timeout_s
        self.lost_timeout_s = lost_timeout_s
        self.on_submit: Callable[[RayEvaluator], None] | None = None
        self.failures = 0
        self._live: list[WorkerInfo] = []
        self._starting: dict[ray.ObjectRef, Any] = {}
        self._owns_ray = ray_connect.connect(
            config.eval.ray_address, config.eval.workers, config.eval.ray_timeout
        )
        self._build = build or functools.partial(run_evaluator, to_dict(config))
        self._actor_class = ray.remote(EvalWorker).options(
            num_cpus=1, max_restarts=0, max_task_retries=0, scheduling_strategy="SPREAD"
        )
        try:
            self.num_workers = config.eval.workers or _cluster_cpus()
            for _ in range(self.num_workers):
                self._spawn()
            self._adopt_started(timeout=self.timeout_s, wait_all=True)
            if not self._live:
                _raise_lost(f"no Ray worker started within {self.timeout_s:.0f} s")
        except BaseException:
            self.close()
            raise
        nodes = len({w.node_id for w in self._live})
        log.info("Ray evaluator: %d workers on %d node(s)", len(self._live), nodes)
        if len(self._live) < self.num_workers:
            log.warning(
                "%d of %d Ray workers started; the rest join when the cluster has room",
                len(self._live),
                self.num_workers,
            )

    # ------------------------------------------------------------------ public

    @property
    def workers(self) -> list[WorkerInfo]:
        """The live workers, in the order chunks are handed out."""
        return list(self._live)

    def evaluate(
        self,
        params: np.ndarray | SeededPopulation,
        seeds: np.ndarray,
        normalizer: ObsNormalizer | None = None,
        collect_obs: bool = False,
    ) -> EvalResult:
        """Fitness of ``params`` (P, D), each individual run once per reset seed in ``seeds``.

        A :class:`~evorl.optimizers.seeded.SeededPopulation` is sent as its seeds (workers
        rebuild their rows); a matrix is sent as float32 rows, chunk by chunk.
        """
        start = time.perf_counter()
        failures_before = self.failures
        self._adopt_started(timeout=0.0)
        if not self._live:
            self._wait_for_worker()
        seeded = params if isinstance(params, SeededPopulation) else None
        rows = None if seeded is not None else np.asarray(params, dtype=np.float32)
        generation = Generation(np.asarray(seeds), normalizer, collect_obs, seeded)
        job = _Job(ray.put(generation), rows, plan_chunks(len(params), len(self._live)))
        job.bytes_sent = payload_bytes(generation)
        for _ in range(IN_FLIGHT):  # every worker gets its first chunks in turn
            for worker in list(self._live):
                self._hand_out(job, worker)
        if self.on_submit is not None:
            self.on_submit(self)
        self._collect(job)
        return self._result(job, start, failures_before)

    def close(self) -> None:
        """Kill the workers; shut Ray down (or disconnect) only if this evaluator started it."""
        for handle in [w.handle for w in self._live] + list(self._starting.values()):
            with contextlib.suppress(Exception):  # already dead, or Ray already gone
                ray.kill(handle, no_restart=True)
        self._live.clear()
        self._starting.clear()
        if self._owns_ray:
            ray_connect.disconnect()
        self._owns_ray = False

    def __enter__(self) -> RayEvaluator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ one call

    def _hand_out(self, job: _Job, worker: WorkerInfo) -> None:
        """Give ``worker`` the next queued chunk, if any."""
        if not job.queue:
            return
        index = job.queue.popleft()
        first, stop = job.chunks[index]
        rows = None if job.rows is None else job.rows[first:stop]
        job.bytes_sent += 0 if rows is None else payload_bytes(rows)
        ref = worker.handle.evaluate.remote(job.generation, first, stop, rows)
        job.pending[ref] = (index, worker)

    def _collect(self, job: _Job) -> None:
        """Wait for every chunk, handing out queued ones as workers free up; chunks of a lost
        worker go back to the front of the queue."""
        while job.pending:
            done, _ = ray.wait(list(job.pending), num_returns=1, timeout=POLL_S)
            if done:
                self._receive(job, done[0])
            else:
                self._adopt_started(timeout=0.0)
            if job.queue and not self._live:
                self._wait_for_worker()
            for worker in self._live:  # the worker just freed, and any replacement that joined
                while job.queue and job.in_flight(worker) < IN_FLIGHT:
                    self._hand_out(job, worker)

    def _receive(self, job: _Job, ref: ray.ObjectRef) -> None:
        index, worker = job.pending.pop(ref)
        try:
            out: ChunkResult = ray.get(ref)
        except WORKER_LOST as err:
            first, stop = job.chunks[index]
            self._lose(worker, err, stop - first)
            job.queue.appendleft(index)
            return
        job.results[index] = out
        job.compute[worker] = job.compute.get(worker, 0.0) + out.compute_s
        job.finished[worker] = time.perf_counter()

    def _result(self, job: _Job, start: float, failures_before: int) -> EvalResult:
        wall = time.perf_counter() - start
        busiest = max(job.compute.values())
        results = job.results
        obs_sums = None
        if results[0].obs_sums is not None:
            obs_sums = ObsSums.concat([r.obs_sums for r in results])
        finished = list(job.finished.values())
        timings = {
            "time/eval": busiest,
            "time/eval_mean": float(np.mean(list(job.compute.values()))),
            "time/overhead": max(wall - busiest, 0.0),
            "time/straggler_wait": max(finished) - min(finished),
            "time/eval_wall": wall,
            "ray/actors": len(self._live),
            "ray/chunks": len(job.chunks),
            "ray/bytes_sent": job.bytes_sent,
            "ray/failures": self.failures - failures_before,
            "ray/failures_total": self.failures,
        }
        return EvalResult(
            np.concatenate([r.returns for r in results]),
            np.concatenate([r.lengths for r in results]),
            obs_sums,
            timings,
        )

    # ------------------------------------------------------------------ the worker pool

    def _spawn(self) -> None:
        """Start one worker; it joins ``_live`` once its ``info()`` answers."""
        handle = self._actor_class.remote(self._build)
        self._starting[handle.info.remote()] = handle

    def _adopt_started(self, timeout: float, wait_all: bool = False) -> None:
        """Move workers that have come up from ``_starting`` to ``_live``."""
        if not self._starting:
            return
        want = len(self._starting) if wait_all else 1
        ready, _ = ray.wait(list(self._starting), num_returns=want, timeout=timeout)
        if not wait_all and timeout > 0:  # pick up any others that are ready too
            ready = ray.wait(list(self._starting), num_returns=len(self._starting), timeout=0)[0]
        for ref in ready:
            handle = self._starting.pop(ref)
            try:
                info = ray.get(ref)
            except RayActorError as err:
                if err.actor_init_failed:
                    raise ConfigError(f"a Ray worker failed to start: {_one_line(err)}") from None
                log.warning("a starting Ray worker was lost (%s); starting another", _one_line(err))
                self._spawn()
                continue
            except WORKER_LOST as err:
                log.warning("a starting Ray worker was lost (%s); starting another", _one_line(err))
                self._spawn()
                continue
            self._check_worker(info)
            self._live.append(WorkerInfo(handle, info["pid"], info["host"], info["node_id"]))

    def _check_worker(self, info: dict[str, Any]) -> None:
        if info["num_params"] != self.controller.num_params:
            raise ConfigError(
                f"Ray worker on {info['host']} built a controller with {info['num_params']} "
                f"parameters, the driver's has {self.controller.num_params}: "
                "is the same evorl installed on every node?"
            )

    def _lose(self, worker: WorkerInfo, err: Exception, chunk_size: int) -> None:
        """Drop a lost worker (once), log and count it, and start its replacement."""
        if worker in self._live:
            self._live.remove(worker)
            self.failures += 1
            log.warning("Ray worker pid %d on %s lost: %s", worker.pid, worker.host, _one_line(err))
            with contextlib.suppress(Exception):  # already gone
                ray.kill(worker.handle, no_restart=True)
            if len(self._live) + len(self._starting) < self.num_workers:
                self._spawn()
        log.warning("re-running a chunk of %d individuals on another Ray worker", chunk_size)

    def _wait_for_worker(self) -> None:
        """Block until a worker is live; TrainingError after ``lost_timeout_s``."""
        deadline = time.monotonic() + self.lost_timeout_s
        try:
            while not self._live:
                if len(self._starting) < self.num_workers:
                    self._spawn()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._adopt_started(timeout=min(remaining, POLL_S))
        except RayError as err:
            _raise_lost(f"Ray failed while replacing workers ({_one_line(err)})")
        if not self._live:
            _raise_lost(
                f"all Ray workers lost and none restarted within {self.lost_timeout_s:.0f} s"
            )


# ---------------------------------------------------------------------- helpers


def plan_chunks(popsize: int, workers: int, split: int = SPLIT) -> list[tuple[int, int]]:
    """Contiguous individual ranges ``(first, stop)``, largest first.

    Each chunk is ``1 / (split * workers)`` of the individuals not yet planned, at least one
    (guided self-scheduling: Polychronopoulos & Kuck, IEEE Trans. Computers 36(12), 1987). The
    large first chunks keep each worker's batch large, where the forward pass is cheapest per
    individual; the small last ones, handed to whichever worker frees up first, let the
    workers finish together even when one of them is slower (a busy core, a longer episode).

    Example:
        >>> plan_chunks(10, 2)
        [(0, 3), (3, 5), (5, 7), (7, 8), (8, 9), (9, 10)]
    """
    chunks, first = [], 0
    while first < popsize:
        size = max(1, -(-(popsize - first) // (split * workers)))
        chunks.append((first, first + size))
        first += size
    return chunks


@dataclass(eq=False)
class _Job:
    """One call's chunks: which are queued, in flight (on which worker) and done."""

    generation: ray.ObjectRef
    rows: np.ndarray | None
    chunks: list[tuple[int, int]]
    bytes_sent: int = 0

    def __post_init__(self) -> None:
        self.queue = deque(range(len(self.chunks)))
        self.pending: dict[ray.ObjectRef, tuple[int, WorkerInfo]] = {}
        self.results: list[ChunkResult | None] = [None] * len(self.chunks)
        self.compute: dict[WorkerInfo, float] = {}
        self.finished: dict[WorkerInfo, float] = {}

    def in_flight(self, worker: WorkerInfo) -> int:
        return sum(1 for _, w in self.pending.values() if w is worker)


def _cluster_cpus() -> int:
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def _one_line(err: BaseException) -> str:
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    return f"{type(err).__name__}: {lines[0]}" if lines else type(err).__name__


def _raise_lost(reason: str) -> None:
    # Imported here: evorl.training imports evorl.evaluation, so a module-level import would make
    # the evaluation layer depend on the training layer.
    raise TrainingError(
        f"{reason}; the Ray cluster looks gone. The last checkpoint is intact: "
        "resume with `evorl resume RUN_DIR` once the cluster is back"
    )
