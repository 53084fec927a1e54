"""Ray evaluation: throughput and overhead against the local vectorised evaluator.

HalfCheetah-v5 (1000-step episodes) with an MLP(64) controller, population 32, one episode per
individual: env steps/s of the local ``VectorEvaluator`` (one process, one torch thread) and of
``RayEvaluator`` with 1 and 2 workers, the 2-worker speed-up over 1 worker, and Ray's
per-generation overhead (wall time minus the busiest worker's compute time) as a percentage of
that compute time. The same for CartPole-v1 with an LSTM(16), population 64, where a generation
takes milliseconds: there Ray's fixed per-call cost dominates, which is why ``vector`` stays the
default evaluator for cheap envs. Every Ray result is checked to equal the local one bit for bit.

Targets on a 2-core machine (issue 4): 2 workers >= 1.7x one worker on HalfCheetah, overhead
<= 10% of evaluation time. The evaluators take turns generation by generation, so a change in
background load hits them alike; still, no speed-up can exceed the cores this session actually
gets, so that "parallel capacity" (2 busy processes against 1) is measured and printed too.
Linux's autogroup scheduler shares the CPUs between sessions, not processes: on a machine busy
with other sessions, a second worker adds little.

Usage:
    python scripts/bench_ray.py [--generations 3] [--out bench_results/ray.json]
    python scripts/bench_ray.py --quick      # seconds; smoke test
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import time
from pathlib import Path

import numpy as np
import ray
import torch

from evorl.builder import controller_for
from evorl.config import ControllerConfig, EnvConfig, EvalConfig, RunConfig, StopConfig
from evorl.evaluation import VectorEvaluator
from evorl.evaluation.ray_evaluator import RayEvaluator

CHEETAH = EnvConfig("HalfCheetah-v5")  # its registered time limit: 1000-step episodes
TASKS = {
    # name: (env, controller, popsize, episodes, perturbation scale)
    "HalfCheetah-v5 MLP(64)": (CHEETAH, ControllerConfig("mlp", (64,)), 32, 1, 0.1),
    "CartPole-v1 LSTM(16)": (EnvConfig("CartPole-v1"), ControllerConfig("lstm", (16,)), 64, 4, 0.5),
}


def _spin(n: int) -> float:
    start = time.perf_counter()
    x = 0
    for i in range(n):
        x += i
    return time.perf_counter() - start


def parallel_capacity(n: int = 5_000_000) -> float:
    """How many cores this machine gives right now: 2 CPU-bound processes' speed-up over 1.

    On a shared machine the Ray speed-up cannot exceed this, so it is printed with the table.
    """
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        alone = pool.apply(_spin, (n,))
        together = max(pool.map(_spin, [n, n]))
    return 2 * alone / together


def run_config(env: EnvConfig, ctrl: ControllerConfig, workers: int) -> RunConfig:
    evaluation = EvalConfig(evaluator="ray", workers=workers)
    return RunConfig(env=env, controller=ctrl, eval=evaluation, stop=StopConfig(generations=1))


def interleaved(evaluators: dict, params: np.ndarray, episodes: int, generations: int) -> dict:
    """Time every evaluator on the same generations, taking turns.

    After one warm-up generation each (it builds the env pools), each timed generation (fresh
    seeds) runs on every evaluator in turn, so a change in the machine's background load hits all
    of them alike. Returns ``{workers: [(wall seconds, EvalResult), ...]}``.
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
    return runs


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
        )
    return row


def bench_task(name: str, args, worker_counts: tuple[int, ...] = (1, 2)) -> list[dict]:
    """Rows for one task: the local evaluator and Ray with each of ``worker_counts`` workers.

    All evaluators exist at once (idle actors cost nothing), so Ray needs ``sum(worker_counts)``
    CPUs; they take turns generation by generation.
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

    evaluators = {0: VectorEvaluator(env, controller)}
    try:
        for workers in worker_counts:
            evaluators[workers] = RayEvaluator(run_config(env, ctrl, workers), controller)
        runs = interleaved(evaluators, params, episodes, args.generations)
    finally:
        for evaluator in evaluators.values():
            evaluator.close()
    rows = []
    for workers, records in runs.items():
        row = {"task": name, "evaluator": "ray" if workers else "local vector", "workers": workers}
        rows.append(row | summarise(records, runs[0]) | {"popsize": popsize, "episodes": episodes})
    if 1 in runs:
        one = next(row["steps_per_s"] for row in rows if row["workers"] == 1)
        for row in rows[1:]:
            row["speedup_vs_1_worker"] = row["steps_per_s"] / one
    return rows


def print_table(rows: list[dict]) -> None:
    head = (
        f"{'task':<24} {'evaluator':<13} {'env steps/s':>12} {'vs 1 worker':>11} {'s/gen':>7} "
        f"{'compute s':>9} {'overhead s':>10} {'overhead':>9} {'straggler s':>11} {'exact':>5}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        label = "local vector" if r["workers"] == 0 else f"ray x{r['workers']}"
        speed = f"{r['speedup_vs_1_worker']:.2f}x" if "speedup_vs_1_worker" in r else ""
        ray_cols = (
            f"{r['eval_s']:>9.3f} {r['overhead_s']:>10.4f} {r['overhead_pct']:>8.1f}% "
            f"{r['straggler_s']:>11.4f}"
            if "overhead_s" in r
            else f"{'':>9} {'':>10} {'':>9} {'':>11}"
        )
        print(
            f"{r['task']:<24} {label:<13} {r['steps_per_s']:>12,.0f} {speed:>11} "
            f"{r['seconds_per_gen']:>7.3f} {ray_cols} {'yes' if r['exact'] else 'NO':>5}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--generations", type=int, default=3, help="timed generations per row")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for smoke tests")
    parser.add_argument("--out", default="bench_results/ray.json")
    args = parser.parse_args()
    if args.quick:
        args.generations = 1
    torch.set_num_threads(1)  # the local evaluator gets one core, like each Ray worker
    spin = 1_000_000 if args.quick else 5_000_000
    capacity = [parallel_capacity(spin)]
    # 3 CPUs: the 1-worker and the 2-worker evaluators' actors coexist; only one evaluator runs
    # at a time, so the machine's 2 cores are never asked for more than 2 busy processes.
    ray.init(num_cpus=3, include_dashboard=False, object_store_memory=200 * 2**20)
    try:
        rows = [row for name in TASKS for row in bench_task(name, args)]
    finally:
        ray.shutdown()
    capacity.append(parallel_capacity(spin))
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
        f"{args.generations} timed generation(s) per row after a warm-up, evaluators taking turns; "
        "overhead = wall - busiest worker's compute, as % of that compute; "
        f"parallel capacity {capacity[0]:.2f}x before, {capacity[1]:.2f}x after "
        "(2 busy processes vs 1: other load on the machine caps any speed-up)"
    )
    print_table(rows)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    summary = {"rows": rows, "args": vars(args), "cpus": os.cpu_count(), "capacity": capacity}
    out.write_text(json.dumps(summary, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
