"""Throughput of population evaluation (DESIGN.md's reference table).

CartPole-v1, LSTM(16) controller, population 64: env steps/s and evaluations (episodes)/s
through the generic path (a list of Gymnasium envs) and the natively vectorised CartPole.
HalfCheetah-v5, MLP(64), population 32: the controller overhead.
Pendulum-v1 (fixed 200-step episodes), LSTM(16), a PGPE population of 64 with observation
normalisation, one episode each (``--pendulum-episodes``): evorl against the raw stepping of the
same envs, on the generic path and with evorl's native vectorised Pendulum.

"overhead" is the time an evaluation spends outside ``env.step``/``env.reset`` (controller
forward passes, bookkeeping) relative to the time inside them, measured within the same
evaluation. "raw env steps/s" steps the same pool with constant actions and no controller
(CartPole, HalfCheetah: through the pool; Pendulum: the envs themselves, in a plain loop, timed
alternately with the evaluation). Targets (issue 29, 2-core machine): the Pendulum generic path
at >= 90% of its raw stepping, the native Pendulum >= 10x the generic path.

Usage:
    python scripts/bench_throughput.py [--repeats 3] [--episodes 4] [--out FILE.json]
    python scripts/bench_throughput.py --quick      # seconds; used by the smoke test
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from evorl.config import ControllerConfig, EnvConfig
from evorl.controllers import build_controller
from evorl.env_factory import env_spec
from evorl.env_pool import make_pool
from evorl.evaluation import RunningObsStats, VectorEvaluator
from evorl.optimizers import make_optimizer


def population(env: EnvConfig, ctrl: ControllerConfig, size: int, scale: float) -> tuple:
    spec = env_spec(env)
    controller = build_controller(ctrl, spec.obs_dim, spec.action_space, seed=1)
    rng = np.random.default_rng(0)
    x0 = controller.get_flat().numpy().astype(np.float64)
    return controller, x0 + scale * rng.standard_normal((size, controller.num_params))


def _rates(result, elapsed: float) -> dict:
    """One timed evaluation's figures; ``controller_overhead`` is the time outside
    env.step/reset (controller, bookkeeping) relative to the time inside."""
    env_time = result.timings["time/env"]
    return {
        "steps_per_s": result.env_steps / elapsed,
        "episodes_per_s": result.returns.size / elapsed,
        "env_steps": result.env_steps,
        "seconds": elapsed,
        "mean_episode_length": float(result.lengths.mean()),
        "controller_overhead": (elapsed - env_time) / env_time,
    }


def time_evaluation(env: EnvConfig, controller, params, episodes: int, repeats: int) -> dict:
    evaluator = VectorEvaluator(env, controller, max_envs=256)
    seeds = np.arange(episodes) + 100
    evaluator.evaluate(params, seeds)  # warm-up: builds the pool
    best = None
    for r in range(repeats):
        start = time.perf_counter()
        result = evaluator.evaluate(params, seeds + 1000 * (r + 1))
        row = _rates(result, time.perf_counter() - start)
        if best is None or row["steps_per_s"] > best["steps_per_s"]:
            best = row
    evaluator.close()
    return best


def time_raw_stepping(env: EnvConfig, num_envs: int, steps: int, space) -> float:
    """Seconds to step ``num_envs`` envs ``steps`` times with fixed actions, no controller."""
    pool = make_pool(env, num_envs)
    active = np.ones(num_envs, bool)
    pool.reset(np.arange(num_envs), np.arange(num_envs))
    if hasattr(space, "n"):
        actions = np.zeros(num_envs, np.int64)
    else:
        actions = np.zeros((num_envs, *space.shape), np.float32)
    start = time.perf_counter()
    for _ in range(steps):
        _, _, terminated, truncated = pool.step(actions, active)
        done = terminated | truncated
        if done.any():
            idx = np.flatnonzero(done)
            pool.reset(idx, idx + 7)
    elapsed = time.perf_counter() - start
    pool.close()
    return elapsed


def cartpole_rows(args) -> list[dict]:
    ctrl = ControllerConfig("lstm", (16,))
    rows = []
    for label, vec in (
        ("generic (Gymnasium envs, sync)", "sync"),
        ("native vectorised CartPole", "native"),
    ):
        env = EnvConfig("CartPole-v1", vectorization=vec)
        controller, params = population(env, ctrl, args.popsize, scale=0.5)
        res = time_evaluation(env, controller, params, args.episodes, args.repeats)
        raw = time_raw_stepping(env, args.popsize, 200, env_spec(env).action_space)
        res.update(
            task="CartPole-v1 LSTM(16)", path=label, raw_steps_per_s=args.popsize * 200 / raw
        )
        rows.append(res)
    return rows


def halfcheetah_row(args) -> dict | None:
    try:
        env = EnvConfig("HalfCheetah-v5", max_episode_steps=args.cheetah_steps)
        space = env_spec(env).action_space
    except Exception as err:  # MuJoCo not installed
        print(f"skipping HalfCheetah-v5: {err}")
        return None
    controller, params = population(env, ControllerConfig("mlp", (64,)), 32, scale=0.1)
    res = time_evaluation(env, controller, params, 1, args.repeats)
    raw = time_raw_stepping(env, 32, args.cheetah_steps, space)
    res.update(
        task="HalfCheetah-v5 MLP(64)",
        path="generic (Gymnasium envs, sync), pop 32",
        raw_steps_per_s=32 * args.cheetah_steps / raw,
    )
    return res


def pendulum_rows(args, episodes: int) -> list[dict]:
    """Pendulum-v1 (fixed 200-step episodes: a pure throughput figure), LSTM(16), a PGPE
    population with observation normalisation: evorl's evaluation and the raw stepping of the
    same envs (a plain loop over the Gymnasium envs, or the native vector env's own ``step``,
    constant actions), alternated repeat by repeat so that the machine's load hits both."""
    rows = []
    for label, vec in (
        ("generic (Gymnasium envs, sync)", "sync"),
        ("native vectorised Pendulum", "native"),
    ):
        env = EnvConfig("Pendulum-v1", vectorization=vec)
        spec = env_spec(env)
        controller = build_controller(
            ControllerConfig("lstm", (16,)), spec.obs_dim, spec.action_space, seed=1
        )
        x0 = controller.get_flat().numpy().astype(np.float64)
        optimizer = make_optimizer("pgpe", x0, sigma=0.1, popsize=args.popsize, seed=1)
        evaluator = VectorEvaluator(env, controller, max_envs=256)
        stats = RunningObsStats.empty(spec.obs_dim)
        seeds = np.arange(episodes) + 100
        num_envs = min(args.popsize * len(seeds), 256)
        raw_pool = make_pool(env, num_envs)
        evaluate = _generation(optimizer, evaluator, stats)
        evaluate(seeds)  # warm-up: builds the pool, the statistics start
        best, raw_best, ratios, bare_ratios = None, 0.0, [], []
        for r in range(args.repeats):
            raw = _raw_steps_per_s(raw_pool, spec.action_space)
            bare = (
                None
                if raw_pool.native
                else _raw_steps_per_s(raw_pool, spec.action_space, bare=True)
            )
            result, elapsed = evaluate(seeds + 1000 * (r + 1))
            row = _rates(result, elapsed)
            raw_best, ratios = max(raw_best, raw), [*ratios, row["steps_per_s"] / raw]
            if bare is not None:
                bare_ratios.append(row["steps_per_s"] / bare)
            if best is None or row["steps_per_s"] > best["steps_per_s"]:
                best = row
        evaluator.close()
        raw_pool.close()
        best.update(
            task="Pendulum-v1 LSTM(16)",
            path=label,
            episodes_per_individual=episodes,
            raw_steps_per_s=raw_best,
            of_raw=best["steps_per_s"] / raw_best,
            of_raw_paired_median=float(np.median(ratios)),
            of_bare_paired_median=float(np.median(bare_ratios)) if bare_ratios else None,
        )
        rows.append(best)
    rows[1]["vs_generic"] = rows[1]["steps_per_s"] / rows[0]["steps_per_s"]
    return rows


def _generation(optimizer, evaluator, stats):
    """One timed generation's evaluation: ask, evaluate with frozen normalisation while the
    observations are summed, then (untimed) tell and merge the statistics."""

    def evaluate(seeds: np.ndarray) -> tuple:
        candidates = optimizer.ask()
        start = time.perf_counter()
        result = evaluator.evaluate(candidates, seeds, stats.normalizer(), collect_obs=True)
        elapsed = time.perf_counter() - start
        optimizer.tell(candidates, result.fitness)
        stats.merge(result.obs_sums)
        return result, elapsed

    return evaluate


def _raw_steps_per_s(pool, space, steps: int = 200, bare: bool = False) -> float:
    """Steps/s of the pool's own envs stepped directly with a constant action, ``steps`` each
    from a reset: a plain loop over the Gymnasium envs as ``gym.make`` made them (``bare``:
    the envs under ``gym.make``'s wrappers, ``env.unwrapped``, which evorl's pool steps), or
    one ``step`` of the vector env."""
    n = pool.num_envs
    pool.reset(np.arange(n), np.arange(n))
    constant = np.zeros((n, *space.shape), space.dtype)
    start = time.perf_counter()
    if pool.native:
        step = pool.vector.step
        for _ in range(steps):
            step(constant)
    else:
        action = constant[0]
        envs = [env.unwrapped for env in pool.envs] if bare else pool.envs
        for _ in range(steps):
            for env in envs:
                env.step(action)
    return n * steps / (time.perf_counter() - start)


def takecover_raw_steps_per_s(episodes: int) -> float:
    """Raw steps/s of one ``evorl/TakeCover-v0`` (64 x 64 x 3 frames), standing still."""
    from evorl.envs.takecover import TakeCoverEnv

    env, steps = TakeCoverEnv(), 0
    start = time.perf_counter()
    for seed in range(episodes):
        env.reset(seed=seed)
        terminated = False
        while not terminated:
            terminated = env.step(1)[2]
            steps += 1
    return steps / (time.perf_counter() - start)


def print_pendulum(rows: list[dict], args) -> None:
    print(
        f"\nPendulum-v1 LSTM(16), PGPE population {args.popsize}, episodes of 200 steps, "
        "observation normalisation ('paired': median of evorl/raw over repeats; 'bare': the "
        "same against the envs under gym.make's wrappers, which evorl's pool steps):"
    )
    print(
        f"{'episodes':>8} {'path':<32} {'evorl steps/s':>14} {'raw steps/s':>12} "
        f"{'% of raw':>9} {'paired':>7} {'bare':>7} {'overhead':>9} {'vs generic':>11}"
    )
    for r in rows:
        versus = f"{r['vs_generic']:.1f}x" if "vs_generic" in r else ""
        bare = r.get("of_bare_paired_median")
        bare = f"{100 * bare:>6.1f}%" if bare is not None else f"{'':>7}"
        print(
            f"{r['episodes_per_individual']:>8} {r['path']:<32} {r['steps_per_s']:>14,.0f} "
            f"{r['raw_steps_per_s']:>12,.0f} "
            f"{100 * r['of_raw']:>8.1f}% {100 * r['of_raw_paired_median']:>6.1f}% {bare} "
            f"{100 * r['controller_overhead']:>8.1f}% {versus:>11}"
        )
    print(
        "targets: generic >= 90% of its raw stepping; native >= 10x generic. "
        "reference (DESIGN.md): EvoTorch VecGymNE ~23,700; raw loop ~89,000 steps/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--popsize", type=int, default=64)
    parser.add_argument("--episodes", type=int, default=4, help="episodes per individual")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats (best is reported)")
    parser.add_argument("--cheetah-steps", type=int, default=1000)
    parser.add_argument(
        "--pendulum-episodes",
        type=int,
        nargs="+",
        default=[1, 4],
        help="Pendulum episodes per individual, one comparison each (1: the issue's setting)",
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for smoke tests")
    parser.add_argument("--out", default="bench_results/throughput.json")
    args = parser.parse_args()
    if args.quick:
        args.popsize, args.episodes, args.repeats, args.cheetah_steps = 8, 1, 1, 20
        args.pendulum_episodes = [1]
    torch.set_num_threads(1)

    load_before = os.getloadavg()
    rows = cartpole_rows(args)
    cheetah = halfcheetah_row(args)
    if cheetah:
        rows.append(cheetah)
    pendulum = [row for n in args.pendulum_episodes for row in pendulum_rows(args, n)]
    load_after = os.getloadavg()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {torch.get_num_threads()} torch "
        f"thread(s); population {args.popsize}, {args.episodes} episode(s) per individual; "
        f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after"
    )
    print(
        f"{'task':<24} {'path':<40} {'env steps/s':>12} {'episodes/s':>11} "
        f"{'raw env steps/s':>16} {'overhead':>9}"
    )
    for r in rows:
        overhead = f"{100 * r['controller_overhead']:.1f}%"
        print(
            f"{r['task']:<24} {r['path']:<40} {r['steps_per_s']:>12,.0f} "
            f"{r['episodes_per_s']:>11,.1f} {r['raw_steps_per_s']:>16,.0f} {overhead:>9}"
        )
    print_pendulum(pendulum, args)
    takecover = takecover_raw_steps_per_s(2 if args.quick else 20)
    print(f"evorl/TakeCover-v0, one env stepped raw (pixels): {takecover:,.0f} steps/s")
    print(
        "reference (DESIGN.md): EvoTorch GymNE ~1,700; VecGymNE ~5,200; numpy LSTM + "
        "SyncVectorEnv ~61,000; numpy LSTM + vectorised CartPole ~256,000 steps/s"
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "rows": rows,
        "pendulum": pendulum,
        "takecover_raw_steps_per_s": takecover,
        "load_average": {"before": load_before, "after": load_after},
        "args": vars(args),
    }
    out.write_text(json.dumps(doc, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
