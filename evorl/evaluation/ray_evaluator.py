"""Population evaluation on Ray: long-lived workers, balanced chunks, no result lost to a failure.

:class:`RayEvaluator` has the interface of the local evaluators and gives bit-identical results
for the same parameters and seeds, on one worker or many. Each worker (a Ray actor, see
:mod:`evorl.evaluation.ray_actors`) builds its controller and env pools once, from the run config;
per generation only parameter rows (float32, the evaluators' compute dtype), the reset seeds and
the frozen observation normaliser travel. The population is split *by individual* into one
contiguous chunk per live worker (sizes differ by at most one), every chunk is evaluated as one
batch, and the chunks' results are concatenated in population order, so observation sums stay
individual-major and merge into the running statistics exactly as a local run's do.

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
import logging
import time
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
from evorl.controllers import Controller
from evorl.errors import ConfigError, TrainingError
from evorl.evaluation import ray_connect
from evorl.evaluation.evaluators import EvalResult
from evorl.evaluation.obs_norm import ObsNormalizer, ObsSums
from evorl.evaluation.ray_actors import ChunkResult, EvalWorker

log = logging.getLogger(__name__)

STARTUP_TIMEOUT_S = 180.0
"""Start-up's wait for a first worker: an autoscaling cluster may have to add a node first."""
LOST_TIMEOUT_S = 60.0
"""A run's wait for a replacement once every worker is lost (the time docs/ray.md promises)."""
POLL_S = 1.0
"""How often a waiting driver looks for replacement workers that have come up."""

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
        controller: the driver's controller; workers build their own from ``config`` and must
            agree with it on the number of parameters.
        timeout_s: how long start-up waits for the first worker before giving up with
            :class:`evorl.errors.TrainingError`.
        lost_timeout_s: how long a run whose workers are all lost waits for a replacement
            before giving up the same way.

    Attributes:
        on_submit: called with the evaluator right after a call's chunks are submitted (tests use
            it to kill a worker mid-generation).
        failures: workers lost since the evaluator started.
    """

    def __init__(
        self,
        config: RunConfig,
        controller: Controller,
        timeout_s: float = STARTUP_TIMEOUT_S,
        lost_timeout_s: float = LOST_TIMEOUT_S,
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
        self._payload = to_dict(config)
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
        params: np.ndarray,
        seeds: np.ndarray,
        normalizer: ObsNormalizer | None = None,
        collect_obs: bool = False,
    ) -> EvalResult:
        """Fitness of ``params`` (P, D), each individual run once per reset seed in ``seeds``."""
        start = time.perf_counter()
        failures_before = self.failures
        rows = np.asarray(params, dtype=np.float32)  # what every evaluator computes in
        args = (np.asarray(seeds), normalizer, collect_obs)
        self._adopt_started(timeout=0.0)
        if not self._live:
            self._wait_for_worker()
        chunks = [rows[idx] for idx in np.array_split(np.arange(len(rows)), len(self._live))]
        chunks = [c for c in chunks if len(c)]
        pending: dict[ray.ObjectRef, tuple[int, WorkerInfo]] = {}
        for i, chunk in enumerate(chunks):
            self._submit(pending, i, self._live[i], chunk, args)
        if self.on_submit is not None:
            self.on_submit(self)
        results, arrivals, compute = self._collect(pending, chunks, args)
        return self._result(results, arrivals, compute, start, failures_before)

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

    def _submit(self, pending, index: int, worker: WorkerInfo, chunk: np.ndarray, args) -> None:
        ref = worker.handle.evaluate.remote(chunk, *args)
        pending[ref] = (index, worker)

    def _collect(self, pending, chunks, args) -> tuple[list[ChunkResult], list[float], dict]:
        """Wait for every chunk; re-submit those whose worker was lost."""
        results: list[ChunkResult | None] = [None] * len(chunks)
        arrivals: list[float] = []
        compute: dict[WorkerInfo, float] = {}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1, timeout=POLL_S)
            if not done:
                self._adopt_started(timeout=0.0)
                continue
            index, worker = pending.pop(done[0])
            try:
                out: ChunkResult = ray.get(done[0])
            except WORKER_LOST as err:
                self._lose(worker, err, len(chunks[index]))
                target = self._least_busy(pending)
                self._submit(pending, index, target, chunks[index], args)
                continue
            arrivals.append(time.perf_counter())
            results[index] = out
            compute[worker] = compute.get(worker, 0.0) + out.compute_s
        return results, arrivals, compute  # type: ignore[return-value]

    def _result(self, results, arrivals, compute, start: float, failures_before: int) -> EvalResult:
        wall = time.perf_counter() - start
        busiest = max(compute.values())
        obs_sums = None
        if results[0].obs_sums is not None:
            obs_sums = ObsSums.concat([r.obs_sums for r in results])
        timings = {
            "time/eval": busiest,
            "time/eval_mean": float(np.mean(list(compute.values()))),
            "time/overhead": max(wall - busiest, 0.0),
            "time/straggler_wait": arrivals[-1] - arrivals[0],
            "time/eval_wall": wall,
            "ray/actors": len(self._live),
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
        handle = self._actor_class.remote(self._payload)
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

    def _least_busy(self, pending) -> WorkerInfo:
        """The live worker with the fewest chunks in flight (waiting for one if none is live)."""
        self._adopt_started(timeout=0.0)
        if not self._live:
            self._wait_for_worker()
        load = dict.fromkeys(self._live, 0)
        for _, worker in pending.values():
            if worker in load:
                load[worker] += 1
        return min(self._live, key=load.__getitem__)

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
