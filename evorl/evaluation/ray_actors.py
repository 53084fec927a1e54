"""The Ray side of :class:`~evorl.evaluation.ray_evaluator.RayEvaluator`: one long-lived worker.

A worker builds its evaluator once, from plain data (never from a pickled torch module): for an
evorl run, :func:`run_evaluator` makes the run's controller and a
:class:`~evorl.evaluation.VectorEvaluator` from its config; an agent with a forward pass of its
own (the glimpse agent) names another builder. Then it evaluates chunks of the population for as
long as the run lasts. Per generation a :class:`Generation` (reset seeds, frozen observation
normaliser, and, for the ES family, the population as seeds) is put in Ray's object store once;
per chunk only an individual range travels, with the chunk's parameter rows unless the worker
rebuilds them from the seeds. Only returns, lengths, observation sums and a compute time travel
back.

Kept apart from the evaluator so that the code Ray ships to worker processes is small and imports
nothing of the driver's fault-handling logic.
"""

from __future__ import annotations

import os
import pickle
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from evorl.config import RunConfig, from_dict
from evorl.evaluation.evaluators import Evaluator, VectorEvaluator
from evorl.evaluation.obs_norm import ObsNormalizer, ObsSums
from evorl.optimizers.seeded import SeededPopulation

WorkerBuild = Callable[[], tuple[Evaluator, int]]
"""What a worker calls once to get its evaluator and the number of parameters it expects (a
picklable callable: a module-level function, or a ``functools.partial`` of one)."""


@dataclass
class Generation:
    """What every chunk of one generation shares (put in the object store once)."""

    seeds: np.ndarray
    normalizer: ObsNormalizer | None
    collect_obs: bool
    population: SeededPopulation | None
    """The candidates as seeds (seed-only communication), or None: rows travel with chunks."""


@dataclass
class ChunkResult:
    """What one worker sends back for one chunk of individuals."""

    returns: np.ndarray
    """(k, N) returns of the chunk's k individuals on the N seeds."""
    lengths: np.ndarray
    """(k, N) episode lengths."""
    obs_sums: ObsSums | None
    """Per-episode observation sums (k·N episodes, individual-major), if collected."""
    compute_s: float
    """Seconds the worker spent evaluating (excludes queueing and transfer)."""


def run_evaluator(config: dict[str, Any]) -> tuple[Evaluator, int]:
    """An evorl run's worker evaluator: its controller and a ``VectorEvaluator``, from the plain
    config (validated again here, so a node with a mismatched evorl fails loudly at start-up)."""
    from evorl.builder import controller_for  # the driver's builder: the same controller

    cfg = from_dict(RunConfig, config)
    controller, _ = controller_for(cfg.env, cfg.controller, cfg.seed)
    evaluator = VectorEvaluator(cfg.env, controller, cfg.eval.max_envs, cfg.eval.device)
    return evaluator, controller.num_params


def payload_bytes(obj: Any) -> int:
    """Bytes ``obj`` serialises to with pickle protocol 5, as Ray ships it (arrays uncopied)."""
    buffers: list[pickle.PickleBuffer] = []
    head = pickle.dumps(obj, protocol=5, buffer_callback=buffers.append)
    return len(head) + sum(b.raw().nbytes for b in buffers)


class EvalWorker:
    """Evaluates population chunks with a private evaluator (wrapped by Ray).

    Args:
        build: called once here; returns the evaluator and its number of parameters.
    """

    def __init__(self, build: WorkerBuild) -> None:
        # One core per actor: Ray sizes the cluster in actors, and intra-op threads of several
        # actors on one machine would only fight over its cores.
        torch.set_num_threads(1)
        self.evaluator, self.num_params = build()

    def info(self) -> dict[str, Any]:
        """Identity of this worker: pid, host, Ray node id, and the controller's size."""
        import ray

        return {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "node_id": ray.get_runtime_context().get_node_id(),
            "num_params": self.num_params,
        }

    def evaluate(
        self, generation: Generation, first: int, stop: int, rows: np.ndarray | None
    ) -> ChunkResult:
        """Evaluate individuals ``first:stop`` on every seed, as one batch; their parameter
        ``rows`` (k, D), or None to rebuild them from ``generation.population``'s seeds."""
        start = time.perf_counter()
        if rows is None:
            rows = generation.population.rows(np.arange(first, stop))
        # Ray hands over arguments as read-only views of its object store; torch wants to own.
        params = np.array(rows, dtype=np.float32)
        g = generation
        result = self.evaluator.evaluate(params, g.seeds, g.normalizer, g.collect_obs)
        return ChunkResult(
            result.returns, result.lengths, result.obs_sums, time.perf_counter() - start
        )

    def close(self) -> None:
        """Close the evaluator (the actor is killed right after)."""
        self.evaluator.close()
