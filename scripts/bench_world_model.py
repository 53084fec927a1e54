"""World model on the take-cover task: real-env scores of random, real-evolved and dream-evolved C.

Runs the ``take-cover`` world-model preset (collect → V → M), then evolves the controller on
[z, h] (a) not at all — a uniformly random policy —, (b) in the real env seen through V and M, and
(c) only inside M's dream at each temperature τ of ``--temperatures``, and tests every controller
for ``--episodes`` real episodes (mean ± std), beside its score in the dream it was trained in —
the layout of Ha & Schmidhuber's (2018) take-cover table, where a low τ lets the controller
exploit M (high dream score, low real score). Also reported: the wall time of the whole pipeline
(collect, V, M, one dream evolution at τ = 1.15, the real test) on this machine.

Usage:
    python scripts/bench_world_model.py                  # ~30 minutes on a 2-core CPU
    python scripts/bench_world_model.py --quick          # seconds; used by the smoke test
    python scripts/bench_world_model.py --set vae.epochs=10 --set evolve.generations=100
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from evorl.agents.worldmodel.config import WorldModelConfig
from evorl.agents.worldmodel.evolve import (
    evaluate_dream,
    evaluate_real,
    evolve,
    final_params,
    run_name,
)
from evorl.agents.worldmodel.pipeline import (
    open_pipeline,
    stage_collect,
    stage_train_rnn,
    stage_train_vae,
)
from evorl.agents.worldmodel.preprocess import make_real_env

QUICK = [
    "collect.episodes=6",
    "collect.max_steps=40",
    "vae.epochs=1",
    "vae.channels=[4,8,8,8]",
    "vae.z_dim=4",
    "rnn.hidden=8",
    "rnn.epochs=1",
    "evolve.generations=2",
    "evolve.popsize=6",
    "evolve.episodes=2",
    "evolve.test_every=0",
    "evolve.max_steps=50",
]
REAL_EVOLUTION = {"popsize": 32, "episodes": 4, "generations": 25}
"""Real-env evolution budget of row (b): every step of it runs V on a real frame."""


def random_scores(config: WorldModelConfig, episodes: int, seed: int) -> np.ndarray:
    """Real returns of a uniformly random policy on reset seeds ``seed, seed+1, ...``."""
    env = make_real_env(config.env)
    env.action_space.seed(seed)
    returns = []
    for k in range(episodes):
        env.reset(seed=seed + k)
        total, done = 0.0, False
        while not done:
            _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    env.close()
    return np.asarray(returns)


def _fmt(values: np.ndarray | None) -> str:
    return "" if values is None else f"{values.mean():.0f} ± {values.std():.0f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny budget (seconds)")
    parser.add_argument("--dir", default="runs/bench-world-model", help="pipeline directory")
    parser.add_argument("--episodes", type=int, default=100, help="real test episodes per row")
    parser.add_argument("--temperatures", default="0.1,1.0,1.15,1.3", help="dream τ values")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--out", default="bench_results/world_model.json", help="JSON results")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    overrides = (QUICK if args.quick else []) + args.set
    episodes = 3 if args.quick else args.episodes
    temperatures = [float(t) for t in args.temperatures.split(",")]
    directory = Path(args.dir)
    source = None if (directory / "config.yaml").exists() else "take-cover"
    config = open_pipeline(directory, source, overrides)
    quiet = not sys.stderr.isatty()

    timings: dict[str, float] = {}
    for name, stage in (
        ("collect", stage_collect),
        ("vae", stage_train_vae),
        ("rnn", stage_train_rnn),
    ):
        clock = time.perf_counter()
        print(stage(config, directory, quiet), flush=True)
        timings[name] = time.perf_counter() - clock

    rows = [{"policy": "random", "real": random_scores(config, episodes, 10_000), "dream": None}]
    real_budget = {k: min(v, 2) if args.quick else v for k, v in REAL_EVOLUTION.items()}
    evolutions = [(False, 1.0, real_budget)] + [(True, t, {}) for t in temperatures]
    for dream, tau, budget in evolutions:
        cfg = config if not budget else _with_evolve(config, budget)
        clock = time.perf_counter()
        evolve(cfg, directory, dream, tau)
        seconds = time.perf_counter() - clock
        clock = time.perf_counter()
        run, params = final_params(directory / run_name(dream, tau))
        real = evaluate_real(directory, run, params, episodes)
        timings[f"{run_name(dream, tau)}: real test"] = time.perf_counter() - clock
        virtual = evaluate_dream(run, params, episodes) if dream else None
        label = f"evolved in dream, τ={tau:g}" if dream else "evolved in real env"
        rows.append({"policy": label, "real": real, "dream": virtual})
        timings[run_name(dream, tau)] = seconds
        print(f"{label}: real {_fmt(real)}  dream {_fmt(virtual)}  ({seconds:.0f} s)", flush=True)

    pipeline = ["collect", "vae", "rnn", "evolve-dream-t1.15", "evolve-dream-t1.15: real test"]
    pipeline_s = sum(timings.get(k, 0.0) for k in pipeline)
    _report(rows, timings, pipeline_s, episodes, Path(args.out))
    return 0


def _with_evolve(config: WorldModelConfig, budget: dict) -> WorldModelConfig:
    return dataclasses.replace(config, evolve=dataclasses.replace(config.evolve, **budget))


def _report(rows, timings, pipeline_s, episodes, out: Path) -> None:
    print()
    print(
        f"take-cover, {episodes} real test episodes per row (reward = steps survived, limit 1000)"
    )
    print(f"{'controller':<28} {'real score':>14} {'dream score':>14}")
    for row in rows:
        print(f"{row['policy']:<28} {_fmt(row['real']):>14} {_fmt(row['dream']):>14}")
    print(
        f"\nfull pipeline (collect, V, M, dream evolution at τ=1.15, real test): {pipeline_s:.0f} s"
    )
    print("stage seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in timings.items()))
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "rows": [
            {
                "policy": r["policy"],
                "real_mean": float(r["real"].mean()),
                "real_std": float(r["real"].std()),
                "dream_mean": None if r["dream"] is None else float(r["dream"].mean()),
                "dream_std": None if r["dream"] is None else float(r["dream"].std()),
            }
            for r in rows
        ],
        "episodes": episodes,
        "pipeline_seconds": pipeline_s,
        "stage_seconds": timings,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}",
    }
    out.write_text(json.dumps(payload, indent=2))
    print(f"results: {out}")


if __name__ == "__main__":
    sys.exit(main())
