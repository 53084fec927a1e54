"""Throughput of population evaluation (DESIGN.md's reference table).

CartPole-v1, LSTM(16) controller, population 64: env steps/s and evaluations (episodes)/s
through the generic path (a list of Gymnasium envs) and the natively vectorised CartPole.
HalfCheetah-v5, MLP(64), population 32: the controller overhead.

"overhead" is the time an evaluation spends outside ``env.step``/``env.reset`` (controller
forward passes, bookkeeping) relative to the time inside them, measured within the same
evaluation. "raw env steps/s" steps the same pool with constant actions and no controller.

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
from evorl.evaluation import VectorEvaluator


def population(env: EnvConfig, ctrl: ControllerConfig, size: int, scale: float) -> tuple:
    spec = env_spec(env)
    controller = build_controller(ctrl, spec.obs_dim, spec.action_space, seed=1)
    rng = np.random.default_rng(0)
    x0 = controller.get_flat().numpy().astype(np.float64)
    return controller, x0 + scale * rng.standard_normal((size, controller.num_params))


def time_evaluation(env: EnvConfig, controller, params, episodes: int, repeats: int) -> dict:
    evaluator = VectorEvaluator(env, controller, max_envs=256)
    seeds = np.arange(episodes) + 100
    evaluator.evaluate(params, seeds)  # warm-up: builds the pool
    best = None
    for r in range(repeats):
        start = time.perf_counter()
        result = evaluator.evaluate(params, seeds + 1000 * (r + 1))
        elapsed = time.perf_counter() - start
        rate = result.env_steps / elapsed
        if best is None or rate > best["steps_per_s"]:
            best = {
                "steps_per_s": rate,
                "episodes_per_s": result.returns.size / elapsed,
                "env_steps": result.env_steps,
                "seconds": elapsed,
                "mean_episode_length": float(result.lengths.mean()),
                # time outside env.step/reset (controller, bookkeeping) relative to time inside
                "controller_overhead": (elapsed - result.timings["time/env"])
                / result.timings["time/env"],
            }
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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--popsize", type=int, default=64)
    parser.add_argument("--episodes", type=int, default=4, help="episodes per individual")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats (best is reported)")
    parser.add_argument("--cheetah-steps", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for smoke tests")
    parser.add_argument("--out", default="bench_results/throughput.json")
    args = parser.parse_args()
    if args.quick:
        args.popsize, args.episodes, args.repeats, args.cheetah_steps = 8, 1, 1, 20
    torch.set_num_threads(1)

    rows = cartpole_rows(args)
    cheetah = halfcheetah_row(args)
    if cheetah:
        rows.append(cheetah)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {torch.get_num_threads()} torch "
        f"thread(s); population {args.popsize}, {args.episodes} episode(s) per individual"
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
    takecover = takecover_raw_steps_per_s(2 if args.quick else 20)
    print(f"evorl/TakeCover-v0, one env stepped raw (pixels): {takecover:,.0f} steps/s")
    print(
        "reference (DESIGN.md): EvoTorch GymNE ~1,700; VecGymNE ~5,200; numpy LSTM + "
        "SyncVectorEnv ~61,000; numpy LSTM + vectorised CartPole ~256,000 steps/s"
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    doc = {"rows": rows, "takecover_raw_steps_per_s": takecover, "args": vars(args)}
    out.write_text(json.dumps(doc, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
