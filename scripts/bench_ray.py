"""Ray evaluation: throughput and overhead against the local vectorised evaluator, and the bytes
that seed-only communication saves.

HalfCheetah-v5 (1000-step episodes) with an MLP(64) controller, population 32, one episode per
individual: env steps/s of the local ``VectorEvaluator`` (one process, one torch thread) and of
``RayEvaluator`` with 1 and 2 workers, the 2-worker speed-up over 1 worker, and Ray's
per-generation overhead (wall time minus the busiest worker's compute time) as a percentage of
that compute time. The same for CartPole-v1 with an LSTM(16), population 64, where a generation
takes milliseconds: there Ray's fixed per-call cost dominates, which is why ``vector`` stays the
default evaluator for cheap envs. Every Ray result is checked to equal the local one bit for bit.

No speed-up can exceed the cores this session actually gets, so the machine's *parallel
capacity* (2 busy processes against 1) is probed after every round of timed generations, under
the same background load, in two ways: processes spinning (pure CPU), and processes doing the
task's own work (each half the population with the local evaluator: what two workers could do
with no Ray at all; two MuJoCo processes on CPUs that share a core get less than two spins). The
2-worker speed-up is printed as a ratio of each. Targets on a 2-core machine (issues 4 and 29):
ratio >= 0.9, overhead <= 10% of evaluation time. Linux's autogroup scheduler shares the CPUs
between sessions, not processes: on a machine busy with other sessions, a second worker adds
little, and the capacity says so.

Then, for a 100,022-parameter controller and population 64, the bytes the driver sends per
generation when the population travels as float32 rows and when it travels as the optimizer's
seeds (PGPE, OpenAI-ES, SNES; Salimans et al. 2017), with the fitness checked equal.

On a cluster started with ``ray start`` (``--ray-address HOST:PORT``, as ``evorl evolve
--ray-address`` joins it) the Ray rows run on that cluster's workers, which need 3 CPUs between
them (the 1- and 2-worker evaluators' actors coexist). ``--kill-worker`` then SIGKILLs one
worker of the 2-worker evaluator halfway through one more generation (on this machine: the
worker's process must be local): that generation is timed apart, and its fitness must still
equal the local evaluator's.

Usage:
    python scripts/bench_ray.py [--generations 4] [--out bench_results/ray.json]
    python scripts/bench_ray.py --ray-address 127.0.0.1:6379 --kill-worker
    python scripts/bench_ray.py --quick      # seconds; smoke test
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import signal
import socket
import threading
import time
from pathlib import Path

import numpy as np
import torch

from evorl.builder import controller_for
from evorl.config import ControllerConfig, EnvConfig, EvalConfig, RunConfig, StopConfig
from evorl.errors import ConfigError
from evorl.evaluation import VectorEvaluator, ray_connect
from evorl.evaluation.ray_evaluator import RayEvaluator
from evorl.optimizers import make_optimizer

SPIN, SPIN_QUICK = 10_000_000, 2_000_000
"""Lengths of a capacity probe's spin (about 0.2 s and 0.04 s on an idle core)."""
WORKERS_FOR_BYTES = 2
CHEETAH = EnvConfig("HalfCheetah-v5")  # its registered time limit: 1000-step episodes
TASKS = {
    # name: (env, controller, popsize, episodes, perturbation scale)
    "HalfCheetah-v5 MLP(64)": (CHEETAH, ControllerConfig("mlp", (64,)), 32, 1, 0.1),
    "CartPole-v1 LSTM(16)": (EnvConfig("CartPole-v1"), ControllerConfig("lstm", (16,)), 64, 4, 0.5),
}


class Capacity:
    """How many cores this machine gives right now: 2 CPU-bound processes' speed-up over 1.

    On a shared machine no speed-up of 2 workers can exceed it, so it is probed between the
    timed generations (:func:`interleaved`), under the same background load as they run, and
    the Ray speed-up is judged against it. A probe times one process spinning alone, then two
    at once; ``value`` is ``2 * sum(alone) / sum(together)`` over the probes taken. The spin is
    the builtin ``sum(range(n))``, so the probe's processes import nothing of the bench.
    """

    def __init__(self, spin: int) -> None:
        self.spin = spin
        self.alone: list[float] = []
        self.together: list[float] = []
        self._pool = multiprocessing.get_context("spawn").Pool(2)

    def probe(self) -> None:
        start = time.perf_counter()
        self._pool.apply(sum, (range(self.spin),))
        self.alone.append(time.perf_counter() - start)
        start = time.perf_counter()
        self._pool.map(sum, [range(self.spin)] * 2, chunksize=1)
        self.together.append(time.perf_counter() - start)

    def value(self, since: int = 0) -> float:
        """Capacity over the probes from index ``since`` on."""
        return 2 * sum(self.alone[since:]) / sum(self.together[since:])

    def close(self) -> None:
        self._pool.terminate()


class WorkloadCapacity(Capacity):
    """The capacity probe with the task's own work instead of a spin: one process evaluating
    half the population with the local evaluator, then two processes at once, each its half.
    That is what two workers could do with no Ray at all (no driver, no transfers, no
    scheduling), so ``speed-up / value`` is the share of it Ray delivers. Two MuJoCo
    processes on a 2-CPU machine whose CPUs share a core get less than two spins do.
    """

    def __init__(
        self, env: EnvConfig, ctrl: ControllerConfig, params: np.ndarray, episodes: int, seed: int
    ) -> None:
        self.halves = np.array_split(params.astype(np.float32), 2)
        self.episodes = episodes
        self.alone, self.together = [], []
        self._pool = multiprocessing.get_context("spawn").Pool(
            2, initializer=_workload_init, initargs=(env, ctrl, self.halves[0], episodes, seed)
        )

    def probe(self, seeds: np.ndarray | None = None) -> None:
        seeds = np.arange(self.episodes) if seeds is None else seeds
        start = time.perf_counter()
        self._pool.apply(_workload_half, (self.halves[0], seeds))
        self.alone.append(time.perf_counter() - start)
        start = time.perf_counter()
        self._pool.starmap(_workload_half, [(half, seeds) for half in self.halves], chunksize=1)
        self.together.append(time.perf_counter() - start)


_WORKLOAD: dict = {}


def _workload_init(
    env: EnvConfig, ctrl: ControllerConfig, half: np.ndarray, episodes: int, seed: int
) -> None:
    """A probe process: one torch thread, the task's controller and local evaluator, warmed
    up (env pools built) on a half population. An error is kept for the first probe to raise
    (a pool whose initializer raises restarts its processes forever)."""
    try:
        torch.set_num_threads(1)
        controller, _ = controller_for(env, ctrl, seed)
        _WORKLOAD["evaluator"] = VectorEvaluator(env, controller)
        _workload_half(half, np.arange(episodes))
    except Exception as err:
        _WORKLOAD["error"] = err


def _workload_half(half: np.ndarray, seeds: np.ndarray) -> None:
    if "error" in _WORKLOAD:
        raise _WORKLOAD["error"]
    _WORKLOAD["evaluator"].evaluate(half, seeds)


def run_config(
    env: EnvConfig, ctrl: ControllerConfig, workers: int, address: str | None = None
) -> RunConfig:
    evaluation = EvalConfig(evaluator="ray", workers=workers, ray_address=address)
    return RunConfig(env=env, controller=ctrl, eval=evaluation, stop=StopConfig(generations=1))


def interleaved(
    evaluators: dict,
    params: np.ndarray,
    episodes: int,
    generations: int,
    capacity: Capacity,
    workload: Capacity | None = None,
) -> dict:
    """Time every evaluator on the same generations, taking turns, with a capacity probe.

    After one warm-up generation each (it builds the env pools), each timed generation (fresh
    seeds) runs on every evaluator in turn, then the machine's parallel capacity is probed, so a
    change in the machine's background load hits all of them alike. Returns
    ``{workers: [(wall seconds, EvalResult), ...]}``.
    """
    for evaluator in evaluators.values():
        evaluator.evaluate(params, np.arange(episodes))
    runs: dict[int, list] = {workers: [] for workers in evaluators}
    for g in range(generations):
        seeds = 1000 * (g + 1) + np.arange(episodes)
        for workers, evaluator in evaluators.items():
            start = time.perf_counter()
            result = evaluator.evaluate(params, seeds)
            runs[workers].append((time.perf_counter() - start, result))
        capacity.probe()
        if workload is not None:
            workload.probe(seeds)
    return runs


def killed_generation(evaluator: RayEvaluator, params: np.ndarray, seeds: np.ndarray, delay: float):
    """One generation during which the evaluator's first worker on this machine is SIGKILLed
    ``delay`` seconds after its chunks are handed out (at once for 0); returns (wall seconds,
    EvalResult, the killed pid)."""
    here = (socket.gethostname(), socket.getfqdn())
    local = [w for w in evaluator.workers if w.host in here]
    if not local:  # a pid names a process on its own host only
        raise SystemExit("error: --kill-worker needs a worker on this machine; none runs here")
    victim = local[0].pid

    def arm(_evaluator: RayEvaluator) -> None:
        if delay > 0:
            threading.Timer(delay, os.kill, (victim, signal.SIGKILL)).start()
        else:  # at once: the worker holds chunks of this generation
            os.kill(victim, signal.SIGKILL)

    evaluator.on_submit = arm
    try:
        start = time.perf_counter()
        result = evaluator.evaluate(params, seeds)
        return time.perf_counter() - start, result, victim
    finally:
        evaluator.on_submit = None


def summarise(runs: list, reference: list) -> dict:
    """Throughput and Ray timings of one evaluator; ``exact``: every result equals the local one."""
    wall = sum(w for w, _ in runs)
    steps = sum(r.env_steps for _, r in runs)
    row = {
        "steps_per_s": steps / wall,
        "seconds_per_gen": wall / len(runs),
        "env_steps": steps,
        "exact": all(
            np.array_equal(r.returns, ref.returns)
            for (_, r), (_, ref) in zip(runs, reference, strict=True)
        ),
    }
    timings = [r.timings for _, r in runs]
    if "time/overhead" in timings[0]:
        compute = sum(t["time/eval"] for t in timings)
        overhead = sum(t["time/overhead"] for t in timings)
        row.update(
            eval_s=compute / len(runs),
            overhead_s=overhead / len(runs),
            overhead_pct=100 * overhead / compute,
            straggler_s=sum(t["time/straggler_wait"] for t in timings) / len(runs),
            chunks=timings[0]["ray/chunks"],
        )
    return row


def bench_task(
    name: str, args, worker_counts: tuple[int, ...] = (1, 2), capacity: Capacity | None = None
) -> list[dict]:
    """Rows for one task: the local evaluator and Ray with each of ``worker_counts`` workers.

    All evaluators exist at once (idle actors cost nothing), so Ray needs ``sum(worker_counts)``
    CPUs; they take turns generation by generation, with a capacity probe after each round.
    """
    env, ctrl, popsize, episodes, scale = TASKS[name]
    if args.quick:
        popsize, episodes = 8, 1
        env = EnvConfig(env.id, max_episode_steps=50)
    try:
        cfg = run_config(env, ctrl, workers=1)
        controller, _ = controller_for(cfg.env, cfg.controller, cfg.seed)
    except Exception as err:  # e.g. MuJoCo not installed
        print(f"skipping {name}: {err}")
        return []
    rng = np.random.default_rng(0)
    x0 = controller.get_flat().numpy().astype(np.float64)
    params = x0 + scale * rng.standard_normal((popsize, controller.num_params))

    own_probe = capacity is None
    capacity = capacity or Capacity(SPIN_QUICK)
    first_probe = len(capacity.alone)
    evaluators = {0: VectorEvaluator(env, controller)}
    workload = WorkloadCapacity(env, ctrl, params, episodes, cfg.seed)
    address = getattr(args, "ray_address", None)
    kill = None
    try:
        for workers in worker_counts:
            evaluators[workers] = RayEvaluator(run_config(env, ctrl, workers, address), controller)
        runs = interleaved(evaluators, params, episodes, args.generations, capacity, workload)
        if getattr(args, "kill_worker", False) and 2 in evaluators:
            seeds = 1000 * (args.generations + 1) + np.arange(episodes)
            reference = evaluators[0].evaluate(params, seeds)
            before = float(np.median([w for w, _ in runs[2]]))
            delay = getattr(args, "kill_delay", None)
            delay = before / 2 if delay is None else delay
            wall, result, pid = killed_generation(evaluators[2], params, seeds, delay)
            kill = {
                "killed_pid": pid,
                "wall_s": wall,
                "median_wall_s_without": before,
                "failures": result.timings["ray/failures"],
                "actors_after": result.timings["ray/actors"],
                "exact": bool(np.array_equal(result.returns, reference.returns)),
            }
    finally:
        for evaluator in evaluators.values():
            evaluator.close()
        workload.close()
        if own_probe:
            capacity.close()
    task_capacity = capacity.value(since=first_probe)
    rows = []
    for workers, records in runs.items():
        row = {"task": name, "evaluator": "ray" if workers else "local vector", "workers": workers}
        rows.append(row | summarise(records, runs[0]) | {"popsize": popsize, "episodes": episodes})
    for row in rows[1:]:
        row["capacity"] = task_capacity
        row["capacity_workload"] = workload.value()
        row["workload_probes"] = {"alone": workload.alone, "together": workload.together}
    if 1 in runs:
        one = next(row["steps_per_s"] for row in rows if row["workers"] == 1)
        for row in rows[1:]:
            row["speedup_vs_1_worker"] = row["steps_per_s"] / one
            if row["workers"] == 2:
                row["speedup_vs_capacity"] = row["speedup_vs_1_worker"] / task_capacity
                row["speedup_vs_workload"] = row["speedup_vs_1_worker"] / workload.value()
    if kill is not None:
        next(row for row in rows if row["workers"] == 2)["killed_worker"] = kill
    return rows


def print_table(rows: list[dict]) -> None:
    head = (
        f"{'task':<24} {'evaluator':<13} {'env steps/s':>12} {'vs 1 worker':>11} "
        f"{'capacity':>8} {'ratio':>6} {'work cap':>8} {'ratio':>6} {'s/gen':>7} "
        f"{'compute s':>9} {'overhead s':>10} {'overhead':>9} {'straggler s':>11} {'chunks':>6} "
        f"{'exact':>5}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        label = "local vector" if r["workers"] == 0 else f"ray x{r['workers']}"
        speed = f"{r['speedup_vs_1_worker']:.2f}x" if "speedup_vs_1_worker" in r else ""
        cap = f"{r['capacity']:.2f}x" if r.get("workers") == 2 and "capacity" in r else ""
        ratio = f"{r['speedup_vs_capacity']:.2f}" if "speedup_vs_capacity" in r else ""
        two = r.get("workers") == 2 and "capacity_workload" in r
        work = f"{r['capacity_workload']:.2f}x" if two else ""
        work_ratio = f"{r['speedup_vs_workload']:.2f}" if "speedup_vs_workload" in r else ""
        ray_cols = (
            f"{r['eval_s']:>9.3f} {r['overhead_s']:>10.4f} {r['overhead_pct']:>8.1f}% "
            f"{r['straggler_s']:>11.4f} {r['chunks']:>6.0f}"
            if "overhead_s" in r
            else f"{'':>9} {'':>10} {'':>9} {'':>11} {'':>6}"
        )
        print(
            f"{r['task']:<24} {label:<13} {r['steps_per_s']:>12,.0f} {speed:>11} {cap:>8} "
            f"{ratio:>6} {work:>8} {work_ratio:>6} {r['seconds_per_gen']:>7.3f} {ray_cols} "
            f"{'yes' if r['exact'] else 'NO':>5}"
        )
    for r in rows:
        if "killed_worker" in r:
            k = r["killed_worker"]
            print(
                f"{r['task']}: ray x2 with worker pid {k['killed_pid']} SIGKILLed halfway: "
                f"{k['wall_s']:.2f} s (median without a kill {k['median_wall_s_without']:.2f} s), "
                f"{k['failures']:.0f} worker lost, {k['actors_after']:.0f} live after, fitness "
                f"{'equal to' if k['exact'] else 'DIFFERENT from'} the local evaluator's"
            )


# ---------------------------------------------------------------------------- seed-only bytes


def bench_seed_bytes(args, workers: int = 2) -> list[dict]:
    """Bytes the driver sends per generation for a ~100,000-parameter controller: the
    population as float32 rows, and as the optimizer's seeds (Salimans et al. 2017).

    One generation of each ES-family optimizer (population 64, as the halfcheetah preset's
    PGPE) on HalfCheetah with MLP(304, 304) (100,022 parameters); episodes are cut to a few
    steps, since the bytes do not depend on them. Both ways must give the same fitness as the
    local evaluator, bit for bit.
    """
    env = EnvConfig(CHEETAH.id, max_episode_steps=5 if args.quick else 20)
    ctrl = ControllerConfig("mlp", (32, 32) if args.quick else (304, 304))
    popsize = 8 if args.quick else 64
    cfg = run_config(env, ctrl, workers)
    try:
        controller, _ = controller_for(cfg.env, cfg.controller, cfg.seed)
    except Exception as err:  # e.g. MuJoCo not installed
        print(f"skipping the seed-only bytes: {err}")
        return []
    x0 = controller.get_flat().numpy().astype(np.float64)
    seeds = np.array([7])
    local = VectorEvaluator(env, controller)
    evaluator = RayEvaluator(cfg, controller)
    rows = []
    try:
        for name in ("pgpe", "openai-es", "snes"):
            opt = make_optimizer(name, x0, sigma=0.1, popsize=popsize, seed=1)
            matrix = opt.ask()
            population = opt.seeded_population()
            reference = local.evaluate(matrix, seeds)
            evaluator.evaluate(population, seeds)  # warm-up: env pools of these chunk sizes
            by_rows = evaluator.evaluate(matrix, seeds)
            by_seeds = evaluator.evaluate(population, seeds)
            rows.append(
                {
                    "optimizer": name,
                    "params": controller.num_params,
                    "popsize": popsize,
                    "bytes_rows": by_rows.timings["ray/bytes_sent"],
                    "bytes_seeds": by_seeds.timings["ray/bytes_sent"],
                    "wall_rows_s": by_rows.timings["time/eval_wall"],
                    "wall_seeds_s": by_seeds.timings["time/eval_wall"],
                    "exact": bool(
                        np.array_equal(by_rows.returns, reference.returns)
                        and np.array_equal(by_seeds.returns, reference.returns)
                    ),
                }
            )
    finally:
        evaluator.close()
        local.close()
    return rows


def print_bytes(rows: list[dict]) -> None:
    if not rows:
        return
    r0 = rows[0]
    print(
        f"\nbytes the driver sends per generation, {r0['params']:,}-parameter controller, "
        f"population {r0['popsize']}, {WORKERS_FOR_BYTES} workers (every chunk's arguments and "
        "the generation's shared object, pickled as Ray ships them):"
    )
    head = (
        f"{'optimizer':<10} {'rows (before)':>14} {'seeds (after)':>14} {'ratio':>7} "
        f"{'wall rows s':>11} {'wall seeds s':>12} {'exact':>5}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{r['optimizer']:<10} {r['bytes_rows']:>14,} {r['bytes_seeds']:>14,} "
            f"{r['bytes_rows'] / r['bytes_seeds']:>6.1f}x {r['wall_rows_s']:>11.3f} "
            f"{r['wall_seeds_s']:>12.3f} {'yes' if r['exact'] else 'NO':>5}"
        )


# ---------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--generations", type=int, default=4, help="timed generations per row")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for smoke tests")
    parser.add_argument(
        "--ray-address",
        help="join this `ray start` cluster (HOST:PORT or auto) instead of a private instance; "
        "its nodes need 3 CPUs for the Ray rows",
    )
    parser.add_argument(
        "--kill-worker",
        action="store_true",
        help="then SIGKILL a worker of the 2-worker evaluator halfway through one more "
        "generation, and check its fitness against the local evaluator's",
    )
    parser.add_argument("--out", default="bench_results/ray.json")
    args = parser.parse_args()
    if args.quick:
        args.generations = 1
    torch.set_num_threads(1)  # the local evaluator gets one core, like each Ray worker
    capacity = Capacity(SPIN_QUICK if args.quick else SPIN)
    # Without an address: a private instance of 3 CPUs, as `evorl evolve --workers 3` starts it
    # (a `ray start` cluster on this machine is left alone). 3 CPUs: the 1-worker and the
    # 2-worker evaluators' actors coexist; only one evaluator runs at a time, so the machine's
    # 2 cores are never asked for more than 2 busy processes.
    try:
        ray_connect.connect(args.ray_address, 3, EvalConfig().ray_timeout, "--ray-address")
    except ConfigError as err:
        raise SystemExit(f"error: {err}") from None
    try:
        rows = [row for name in TASKS for row in bench_task(name, args, capacity=capacity)]
        byte_rows = bench_seed_bytes(args, WORKERS_FOR_BYTES)
    finally:
        ray_connect.disconnect()
        capacity.close()
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
        f"{args.generations} timed generation(s) per row after a warm-up, evaluators taking turns; "
        "overhead = wall - busiest worker's compute, as % of that compute; capacity = 2 busy "
        "processes vs 1, probed after every round of generations (other load on the machine "
        "caps any speed-up): spinning, and 'work cap' doing the task's own work (each half the "
        "population with the local evaluator, no Ray); ratio = speed-up of 2 workers / "
        "capacity (target >= 0.9)"
    )
    print_table(rows)
    print_bytes(byte_rows)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    summary = {
        "rows": rows,
        "seed_bytes": byte_rows,
        "args": vars(args),
        "cpus": os.cpu_count(),
        "capacity_probes": {"alone": capacity.alone, "together": capacity.together},
    }
    out.write_text(json.dumps(summary, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
