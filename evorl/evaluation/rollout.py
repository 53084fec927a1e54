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
        self.device = params.device
        self.rows = np.arange(len(individual))  # batch row r holds slot rows[r]
        self.weights = params[torch.as_tensor(individual, device=self.device)].clone()
        self.views = controller.population_params(self.weights)
        self.state = controller.initial_state(len(individual), device=self.device)

    def step(self, x: np.ndarray) -> np.ndarray:
        obs = torch.from_numpy(x.astype(np.float32)).to(self.device)
        action, self.state = self.controller.step(obs, self.state, self.views)
        return action.cpu().numpy()

    def swap_in(self, rows: np.ndarray, params: torch.Tensor, individuals: np.ndarray) -> None:
        """Give batch ``rows`` new individuals' weights and a fresh recurrent state."""
        index = torch.as_tensor(rows, device=self.device)
        self.weights[index] = params[torch.as_tensor(individuals, device=self.device)]
        mask = torch.zeros(len(self.rows), dtype=torch.bool, device=self.device)
        mask[index] = True
        self.state = self.controller.reset_state(self.state, mask)

    def keep(self, rows: np.ndarray) -> None:
        """Drop every batch row not in ``rows``."""
        index = torch.as_tensor(rows, device=self.device)
        self.rows = self.rows[rows]
        self.weights = self.weights[index]
        self.views = self.controller.population_params(self.weights)
        self.state = tuple(s[index] for s in self.state)


class _SlotSums:
    """Running sums of the episode in each slot: return, length and (optionally) observation
    sums, added in place, then copied to the slot's task when its episode ends.

    A task runs in one slot from reset to end, so its sums receive the same additions in the
    same order as sums kept per task would: the results are the same bits, and a step costs a
    few in-place additions over all slots instead of scattered ones. An observation with a NaN
    or infinite entry is counted in ``nonfinite`` and left out of the observation sums."""

    def __init__(self, slots: int, dim: int, collect_obs: bool) -> None:
        self.returns = np.zeros(slots)
        self.lengths = np.zeros(slots, np.int64)
        self.total = np.zeros((slots, dim)) if collect_obs else None
        self.squares = np.zeros((slots, dim)) if collect_obs else None
        self.nonfinite = np.zeros(slots, np.int64)

    def add_obs(self, index: slice | np.ndarray, obs: np.ndarray) -> None:
        if self.total is None:
            return
        finite = np.isfinite(obs).all(axis=1)
        if not finite.all():
            slots = np.arange(len(self.returns))[index]
            self.nonfinite[slots[~finite]] += 1
            index, obs = slots[finite], obs[finite]
        self.total[index] += obs
        self.squares[index] += obs * obs

    def flush(self, slots: np.ndarray, tasks: np.ndarray, out: EpisodeResults) -> None:
        """Copy the finished ``slots``' sums to their ``tasks`` and zero them for the next."""
        out.returns[tasks] = self.returns[slots]
        out.lengths[tasks] = self.lengths[slots]
        self.returns[slots] = 0.0
        self.lengths[slots] = 0
        if self.total is not None:
            out.obs_sums.nonfinite[tasks] = self.nonfinite[slots]
            out.obs_sums.count[tasks] = out.lengths[tasks] - self.nonfinite[slots]
            out.obs_sums.total[tasks] = self.total[slots]
            out.obs_sums.squares[tasks] = self.squares[slots]
            self.total[slots] = 0.0
            self.squares[slots] = 0.0
            self.nonfinite[slots] = 0


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
        params: (P, D) float32 parameters of the individuals, on the device the forward pass
            runs on (observations go there, actions come back to the CPU).
        individual: (T,) index into ``params`` of each task.
        seeds: (T,) reset seed of each task.
        normalizer: frozen observation normalisation, or ``None``.
        collect_obs: also sum raw observations per task (for running statistics).
    """
    n_tasks = len(individual)
    slots = min(n_tasks, pool.num_envs)
    dim = pool.observation_dim
    sums = ObsSums.zeros(n_tasks, dim) if collect_obs else None
    out = EpisodeResults(np.zeros(n_tasks), np.zeros(n_tasks, np.int64), sums)
    running = _SlotSums(pool.num_envs, dim, collect_obs)

    slot_task = np.arange(slots)
    active = np.zeros(pool.num_envs, bool)
    active[:slots] = True
    clock = time.perf_counter()
    obs = np.zeros((pool.num_envs, dim))
    obs[:slots] = pool.reset(slot_task, seeds[:slots])
    out.env_time = time.perf_counter() - clock
    actions: np.ndarray | None = None
    next_task = slots
    # Dense: batch row r is slot r and every slot runs an episode (until the queue runs dry);
    # each step is then whole-array operations, with no index arrays.
    dense = True
    whole = slice(0, slots)

    # Inference mode: no autograd bookkeeping at all (nothing here is differentiated); it
    # takes ~15% off each small tensor operation of the controller's step.
    with torch.inference_mode():
        batch = _Batch(controller, params, individual[:slots])
        while True:
            rows = batch.rows
            if dense:
                live = live_slots = whole
                raw = obs[whole]
            else:
                live = active[rows]
                live_slots = rows[live]
                raw = obs[rows]
            running.add_obs(live_slots, raw if dense else raw[live])
            action = batch.step(normalizer(raw) if normalizer is not None else raw)
            if actions is None:
                actions = np.zeros((pool.num_envs, *action.shape[1:]), action.dtype)
            actions[whole if dense else rows] = action
            clock = time.perf_counter()
            obs, reward, terminated, truncated = pool.step(actions, active)
            out.env_time += time.perf_counter() - clock
            running.returns[live_slots] += reward[live_slots]
            running.lengths[live_slots] += 1
            done = terminated | truncated  # False for inactive slots
            if not np.count_nonzero(done):  # cheaper than done.any() on small arrays
                continue
            finished = np.flatnonzero(done[rows] & active[rows])  # batch rows
            finished_slots = rows[finished]
            running.flush(finished_slots, slot_task[finished_slots], out)
            take = min(finished.size, n_tasks - next_task)
            refill, idle = finished[:take], finished[take:]
            active[rows[idle]] = False
            dense = dense and idle.size == 0
            if take:
                refill_slots = rows[refill]
                slot_task[refill_slots] = np.arange(next_task, next_task + take)
                next_task += take
                batch.swap_in(refill, params, individual[slot_task[refill_slots]])
                clock = time.perf_counter()
                obs = obs.copy()
                obs[refill_slots] = pool.reset(refill_slots, seeds[slot_task[refill_slots]])
                out.env_time += time.perf_counter() - clock
            if not active.any():
                break
            if next_task == n_tasks and 2 * active[rows].sum() <= len(rows):
                batch.keep(np.flatnonzero(active[rows]))
    return out
