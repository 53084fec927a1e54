"""The batched rollout loop: many episodes of many individuals, one forward pass per time step.

An *episode task* is (individual, reset seed). A pool of ``num_envs`` environment *slots* runs the
tasks: each slot holds one episode of one individual, the controller steps every slot in one batched
forward pass (each row with its own individual's weights, see
:meth:`~evorl.controllers.Controller.population_params`), and when a slot's episode ends, the slot
takes the next queued task — its weights row is overwritten, its recurrent state reset, its env
reset with the task's seed — or goes idle when the queue is empty. Finished episodes never step
again.

An episode's result depends only on its individual's parameters and its seed: the controller's
batched math is row-independent and bit-exact (see the controller tests), so the same task gives the
same return whichever slot, batch size, evaluator or worker ran it.

This is the hottest loop of the project; keep per-step work to a handful of array operations.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from evorl.controllers import Controller
from evorl.env_pool import EnvPool
from evorl.evaluation.obs_norm import ObsNormalizer, ObsSums


@dataclass
class EpisodeResults:
    """Per-task ``returns`` and ``lengths`` (T,), observation sums (if collected), and the
    seconds spent inside the environments (``env_time``; the rest is controller and bookkeeping)."""

    returns: np.ndarray
    lengths: np.ndarray
    obs_sums: ObsSums | None
    env_time: float = 0.0


class _Batch:
    """The controller's side of the slots: which slots are in the forward pass, their weights
    and recurrent state. Once the task queue is empty, finished slots are dropped from the batch
    (compaction), so the draining tail of a generation costs what its live episodes cost."""

    def __init__(
        self, controller: Controller, params: torch.Tensor, individual: np.ndarray
    ) -> None:
        self.controller = controller
        self.rows = np.arange(len(individual))  # batch row r holds slot rows[r]
        self.weights = params[torch.as_tensor(individual)].clone()
        self.views = controller.population_params(self.weights)
        self.state = controller.initial_state(len(individual))

    def step(self, x: np.ndarray) -> np.ndarray:
        obs = torch.from_numpy(x.astype(np.float32))
        action, self.state = self.controller.step(obs, self.state, self.views)
        return action.numpy()

    def swap_in(self, rows: np.ndarray, params: torch.Tensor, individuals: np.ndarray) -> None:
        """Give batch ``rows`` new individuals' weights and a fresh recurrent state."""
        index = torch.as_tensor(rows)
        self.weights[index] = params[torch.as_tensor(individuals)]
        mask = torch.zeros(len(self.rows), dtype=torch.bool)
        mask[index] = True
        self.state = self.controller.reset_state(self.state, mask)

    def keep(self, rows: np.ndarray) -> None:
        """Drop every batch row not in ``rows``."""
        index = torch.as_tensor(rows)
        self.rows = self.rows[rows]
        self.weights = self.weights[index]
        self.views = self.controller.population_params(self.weights)
        self.state = tuple(s[index] for s in self.state)


def run_episodes(
    controller: Controller,
    pool: EnvPool,
    params: torch.Tensor,
    individual: np.ndarray,
    seeds: np.ndarray,
    normalizer: ObsNormalizer | None = None,
    collect_obs: bool = False,
) -> EpisodeResults:
    """Run every task (``individual[t]``'s parameters, reset seed ``seeds[t]``) to its end.

    Args:
        controller: builds the batched forward pass.
        pool: at least one env; ``min(T, pool.num_envs)`` slots are used.
        params: (P, D) float32 parameters of the individuals.
        individual: (T,) index into ``params`` of each task.
        seeds: (T,) reset seed of each task.
        normalizer: frozen observation normalisation, or ``None``.
        collect_obs: also sum raw observations per task (for running statistics).
    """
    n_tasks = len(individual)
    slots = min(n_tasks, pool.num_envs)
    returns = np.zeros(n_tasks)
    lengths = np.zeros(n_tasks, np.int64)
    sums = ObsSums.zeros(n_tasks, pool.observation_dim) if collect_obs else None

    slot_task = np.arange(slots)
    batch = _Batch(controller, params, individual[:slots])
    active = np.zeros(pool.num_envs, bool)
    active[:slots] = True
    clock = time.perf_counter()
    obs = np.zeros((pool.num_envs, pool.observation_dim))
    obs[:slots] = pool.reset(slot_task, seeds[:slots])
    env_time = time.perf_counter() - clock
    actions: np.ndarray | None = None
    next_task = slots

    with torch.no_grad():
        while True:
            rows = batch.rows
            live = active[rows]
            live_slots = rows[live]
            tasks = slot_task[live_slots]
            raw = obs[rows]
            if sums is not None:
                sums.add(tasks, raw[live])
            action = batch.step(normalizer(raw) if normalizer is not None else raw)
            if actions is None:
                actions = np.zeros((pool.num_envs, *action.shape[1:]), action.dtype)
            actions[rows] = action
            clock = time.perf_counter()
            obs, reward, terminated, truncated = pool.step(actions, active)
            env_time += time.perf_counter() - clock
            returns[tasks] += reward[live_slots]
            lengths[tasks] += 1
            done = terminated[rows] | truncated[rows]
            finished = np.flatnonzero(done & live)  # batch rows
            if finished.size == 0:
                continue
            take = min(finished.size, n_tasks - next_task)
            refill, idle = finished[:take], finished[take:]
            active[rows[idle]] = False
            if take:
                refill_slots = rows[refill]
                slot_task[refill_slots] = np.arange(next_task, next_task + take)
                next_task += take
                batch.swap_in(refill, params, individual[slot_task[refill_slots]])
                clock = time.perf_counter()
                obs = obs.copy()
                obs[refill_slots] = pool.reset(refill_slots, seeds[slot_task[refill_slots]])
                env_time += time.perf_counter() - clock
            if not active.any():
                break
            if next_task == n_tasks and 2 * active[rows].sum() <= len(rows):
                batch.keep(np.flatnonzero(active[rows]))
    return EpisodeResults(returns, lengths, sums, env_time)
