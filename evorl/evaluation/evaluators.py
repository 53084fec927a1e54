"""Evaluators: the fitness of a population, one interface for serial, vectorised and Ray evaluation.

Every evaluator runs each individual for the same ``N`` episodes (reset seeds shared by the whole
generation) and returns per-episode returns; fitness is their mean. The same parameters and seeds
give bit-identical results whichever evaluator runs them and however the work is split.

Example:
    >>> import gymnasium as gym
    >>> from evorl.controllers import ControllerConfig, build_controller
    >>> lstm = ControllerConfig("lstm", (4,))
    >>> controller = build_controller(lstm, 4, gym.spaces.Discrete(2), seed=0)
    >>> params = np.repeat(controller.get_flat().numpy()[None], 5, axis=0)
    >>> evaluator = VectorEvaluator(EnvConfig("CartPole-v1"), controller)
    >>> result = evaluator.evaluate(params, seeds=np.array([1, 2, 3]))
    >>> result.fitness.shape, result.returns.shape
    ((5,), (5, 3))
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import torch

from evorl.config import EnvConfig
from evorl.controllers import Controller
from evorl.env_pool import EnvPool
from evorl.evaluation.obs_norm import ObsNormalizer, ObsSums
from evorl.evaluation.rollout import run_episodes


@dataclass
class EvalResult:
    """Returns and lengths, shape (P, N); observation sums per episode (individual-major)."""

    returns: np.ndarray
    lengths: np.ndarray
    obs_sums: ObsSums | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def fitness(self) -> np.ndarray:
        """Mean return per individual, shape (P,)."""
        return self.returns.mean(axis=1)

    @property
    def env_steps(self) -> int:
        return int(self.lengths.sum())


class Evaluator(Protocol):
    """What the trainer needs from an evaluator."""

    def evaluate(
        self,
        params: np.ndarray,
        seeds: np.ndarray,
        normalizer: ObsNormalizer | None = None,
        collect_obs: bool = False,
    ) -> EvalResult:
        """Fitness of ``params`` (P, D), each individual run once per reset seed in ``seeds``."""
        ...

    def close(self) -> None: ...


def episode_tasks(popsize: int, seeds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Individual index and reset seed of every episode, individual-major."""
    return np.repeat(np.arange(popsize), len(seeds)), np.tile(np.asarray(seeds), popsize)


class VectorEvaluator:
    """All episodes of a population stepped as one batch (see :mod:`evorl.evaluation.rollout`);
    the forward pass runs on ``device`` (:mod:`evorl.device`), the environments on the CPU."""

    def __init__(
        self, env: EnvConfig, controller: Controller, max_envs: int = 256, device: str = "cpu"
    ) -> None:
        from evorl.device import resolve

        self.env_config = env
        self.controller = controller
        self.max_envs = max_envs
        self.device = resolve(device)
        self._pools: dict[int, EnvPool] = {}
        if env.vectorization == "native":  # refused now, not at the first generation
            self._pools[1] = EnvPool.make(env, 1)

    def _pool(self, size: int) -> EnvPool:
        if size not in self._pools:
            self._pools[size] = EnvPool.make(self.env_config, size)
        return self._pools[size]

    def evaluate(
        self,
        params: np.ndarray,
        seeds: np.ndarray,
        normalizer: ObsNormalizer | None = None,
        collect_obs: bool = False,
    ) -> EvalResult:
        start = time.perf_counter()
        popsize = len(params)
        individual, task_seeds = episode_tasks(popsize, seeds)
        pool = self._pool(min(len(individual), self.max_envs))
        flat = torch.as_tensor(np.asarray(params), dtype=torch.float32, device=self.device)
        out = run_episodes(
            self.controller, pool, flat, individual, task_seeds, normalizer, collect_obs
        )
        shape = (popsize, len(seeds))
        return EvalResult(
            out.returns.reshape(shape),
            out.lengths.reshape(shape),
            out.obs_sums,
            {"time/eval": time.perf_counter() - start, "time/env": out.env_time},
        )

    def close(self) -> None:
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()


class FunctionEvaluator:
    """Fitness from a function of the population, for searches whose fitness is not the return of
    episodes (Evolino's least-squares readout, a minibatch loss, any black-box function).

    Args:
        fitness: ``fitness(params (P, D), seeds) -> (P,)``; ``seeds`` are the generation's
            episode seeds (use them for anything random, e.g. choosing a minibatch).

    Example:
        >>> evaluator = FunctionEvaluator(lambda x, seeds: -np.sum(x**2, axis=1))
        >>> evaluator.evaluate(np.ones((3, 2)), np.array([0])).fitness.tolist()
        [-2.0, -2.0, -2.0]
    """

    def __init__(self, fitness: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> None:
        self.fitness = fitness

    def evaluate(
        self,
        params: np.ndarray,
        seeds: np.ndarray,
        normalizer: ObsNormalizer | None = None,
        collect_obs: bool = False,
    ) -> EvalResult:
        start = time.perf_counter()
        f = np.asarray(self.fitness(np.asarray(params), np.asarray(seeds)), dtype=np.float64)
        lengths = np.zeros((len(f), 1), np.int64)
        return EvalResult(f[:, None], lengths, None, {"time/eval": time.perf_counter() - start})

    def close(self) -> None:
        pass


class SerialEvaluator:
    """One episode at a time in one Gymnasium env: slow, plain, and the reference.

    Written as the textbook loop so that the batched evaluators can be checked against it.
    """

    def __init__(self, env: EnvConfig, controller: Controller) -> None:
        self.controller = controller
        self.pool = EnvPool.make(dataclasses.replace(env, vectorization="sync"), 1)

    def evaluate(
        self,
        params: np.ndarray,
        seeds: np.ndarray,
        normalizer: ObsNormalizer | None = None,
        collect_obs: bool = False,
    ) -> EvalResult:
        start = time.perf_counter()
        popsize, n = len(params), len(seeds)
        returns, lengths = np.zeros((popsize, n)), np.zeros((popsize, n), np.int64)
        dim = self.pool.observation_dim
        sums = ObsSums.zeros(popsize * n, dim) if collect_obs else None
        flat = torch.as_tensor(np.asarray(params), dtype=torch.float32)
        for i in range(popsize):
            weights = self.controller.population_params(flat[i : i + 1])
            for k, seed in enumerate(seeds):
                task = i * n + k
                returns[i, k], lengths[i, k] = self._episode(
                    weights, int(seed), normalizer, sums, task
                )
        return EvalResult(returns, lengths, sums, {"time/eval": time.perf_counter() - start})

    def _episode(self, weights, seed, normalizer, sums, task) -> tuple[float, int]:
        slot, one = np.zeros(1, np.intp), np.ones(1, bool)
        obs = self.pool.reset(slot, np.array([seed]))
        state = self.controller.initial_state(1)
        total, steps, done = 0.0, 0, False
        with torch.no_grad():
            while not done:
                raw = np.array(obs, dtype=np.float64)
                if sums is not None:
                    sums.add(np.array([task]), raw)
                x = normalizer(raw) if normalizer is not None else raw
                action, state = self.controller.step(
                    torch.from_numpy(x.astype(np.float32)), state, weights
                )
                obs, reward, terminated, truncated = self.pool.step(action.numpy(), one)
                total += float(reward[0])
                steps += 1
                done = bool(terminated[0] or truncated[0])
        return total, steps

    def close(self) -> None:
        self.pool.close()
