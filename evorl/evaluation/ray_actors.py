"""The Ray side of :class:`~evorl.evaluation.ray_evaluator.RayEvaluator`: one long-lived worker.

A worker is built once from the run's plain config (never from a pickled torch module): it makes
its own controller and env pools, then evaluates chunks of the population for as long as the run
lasts. Only parameter rows, reset seeds and the frozen observation normaliser travel to it; only
returns, lengths, observation sums and a compute time travel back.

Kept apart from the evaluator so that the code Ray ships to worker processes is small and imports
nothing of the driver's fault-handling logic.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from evorl.config import RunConfig, from_dict
from evorl.evaluation.evaluators import VectorEvaluator
from evorl.evaluation.obs_norm import ObsNormalizer, ObsSums


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


class EvalWorker:
    """Evaluates population chunks with a private :class:`VectorEvaluator` (wrapped by Ray).

    Args:
        config: the run config as plain data (:func:`evorl.config.to_dict`); validated again here,
            so a node with a mismatched evorl version fails loudly at start-up.
    """

    def __init__(self, config: dict[str, Any]) -> None:
        # One core per actor: Ray sizes the cluster in actors, and intra-op threads of several
        # actors on one machine would only fight over its cores.
        torch.set_num_threads(1)
        from evorl.builder import controller_for  # the driver's builder: the same controller

        self.config = from_dict(RunConfig, config)
        self.controller, _ = controller_for(
            self.config.env, self.config.controller, self.config.seed
        )
        ev = self.config.eval
        self.evaluator = VectorEvaluator(self.config.env, self.controller, ev.max_envs, ev.device)

    def info(self) -> dict[str, Any]:
        """Identity of this worker: pid, host, Ray node id, and the controller's size."""
        import ray

        return {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "node_id": ray.get_runtime_context().get_node_id(),
            "num_params": self.controller.num_params,
        }

    def evaluate(
        self,
        params: np.ndarray,
        seeds: np.ndarray,
        normalizer: ObsNormalizer | None,
        collect_obs: bool,
    ) -> ChunkResult:
        """Evaluate a chunk of individuals (k, D) on every seed, as one batch."""
        start = time.perf_counter()
        # Ray hands over arguments as read-only views of its object store; torch wants to own.
        params = np.array(params, dtype=np.float32)
        result = self.evaluator.evaluate(params, seeds, normalizer, collect_obs)
        return ChunkResult(
            result.returns, result.lengths, result.obs_sums, time.perf_counter() - start
        )

    def close(self) -> None:
        """Close the env pools (the actor is killed right after)."""
        self.evaluator.close()
