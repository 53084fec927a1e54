"""Gradient training vs evolution on three memory tasks: env steps and wall time to solve.

Tasks (each solved by a deterministic test of the controller, as in every evorl run):

* ``cartpole``: CartPole-v1 without velocities; solved = mean return >= 475 over 20 test
  episodes. Issue target: recurrent PPO >= 450 within 50,000 env steps (sb3-contrib's test).
* ``tmaze50``: Bakker's T-maze, corridor 50; solved = mean test return >= 3.8, which implies
  >= 95% of test episodes in the correct arm.
* ``dpnv``: non-Markov double pole, standard fitness (1 per step); solved = balancing the
  1,000-step test episode from the standard start. Literature target: RPG within ~5,600
  episodes (Wierstra et al. 2010); the winning controller is also tried for 100,000 steps.

Methods: ``rpg`` and ``ppo`` (evorl.gradient presets, ``--algo`` switched) and ``evolution``
(evorl.builder.build_trainer; CMA-ES, the best evolution method we found for these tasks —
see EVOLUTION below). Each (task, method) runs ``--seeds`` seeds until solved or out of budget;
the table gives the fraction solved and, over solved runs, the mean env steps, episodes and wall
seconds to solve. Writes the table as JSON (``--out``) and a PNG beside it.

Usage:
    python scripts/bench_gradient_vs_evolution.py                     # 5 seeds, all (~10 min)
    python scripts/bench_gradient_vs_evolution.py --seeds 2 --jobs 2  # a shorter run
    python scripts/bench_gradient_vs_evolution.py --quick             # seconds; smoke test
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

TASKS = {
    # gradient preset, gradient budget (env steps), literature/issue note
    "cartpole": ("cartpole-novel", 300_000, "PPO target: >= 450 within 50k steps"),
    "tmaze50": ("tmaze-50", 1_500_000, "solved = >= 95% correct arm"),
    "dpnv": ("dpnv", 1_500_000, "RPG target: ~5,600 episodes"),
}
EVOLUTION: dict[str, dict[str, Any]] = {
    "cartpole": {"preset": "cartpole-novel", "overrides": ["stop.wall_time=null",
                                                           "stop.evaluations=30000"]},
    "tmaze50": {"preset": "cartpole-novel", "overrides": [
        "name=tmaze50-evo", "env.id=evorl/TMaze-v0", "env.observe=null",
        "env.kwargs={corridor_length: 50}", "controller.hidden=[4]", "optimizer.sigma=1.0",
        "eval.episodes=6", "eval.test_every=2", "stop.target=3.8", "stop.wall_time=null",
        "stop.evaluations=60000"]},
    "dpnv": {"preset": "cartpole-novel", "overrides": [
        "name=dpnv-evo", "env.id=evorl/DoublePoleNV-v0", "env.observe=null",
        "controller.hidden=[4]", "optimizer.sigma=0.5", "eval.episodes=1",
        "eval.test_every=1", "eval.test_episodes=1", "stop.target=1000",
        "stop.wall_time=null", "stop.evaluations=30000"]},
}  # fmt: skip
"""Evolution configs: the cartpole-novel preset (LSTM + CMA-ES) moved to each task."""
METHODS = ("rpg", "ppo", "evolution")
QUICK = {
    "gradient": ["stop.env_steps=600", "eval.test_every=1", "eval.test_episodes=2",
                 "ppo.num_envs=2", "ppo.steps=32", "ppo.bptt=16", "ppo.minibatches=2",
                 "ppo.epochs=1", "rpg.episodes=2",
                 "env.max_episode_steps=100"],
    "evolution": ["optimizer.popsize=4", "stop.evaluations=8", "eval.test_every=1",
                  "eval.test_episodes=2", "env.max_episode_steps=100"],
}  # fmt: skip


def run_one(task: str, method: str, seed: int, quick: bool, max_seconds: float) -> dict:
    """One run to its stopping rule; returns what the table needs."""
    import torch

    torch.set_num_threads(1)
    start = time.perf_counter()
    from evorl.builder import build_trainer, controller_for

    if method == "evolution":
        from evorl.config import load_config

        spec = EVOLUTION[task]
        extra = QUICK["evolution"] if quick else []
        over = [*spec["overrides"], f"seed={seed}", f"stop.wall_time={max_seconds}", *extra]
        config = load_config(spec["preset"], over)
    else:
        from evorl.gradient import load_gradient_config

        preset, budget, _ = TASKS[task]
        extra = QUICK["gradient"] if quick else []
        over = [f"algo={method}", f"seed={seed}", f"stop.env_steps={budget}",
                f"stop.wall_time={max_seconds}", *extra]  # fmt: skip
        config = load_gradient_config(preset, over)
    trainer = build_trainer(config)
    try:
        st = trainer.run()
    finally:
        trainer.close()
    steps, episodes, champion = st.env_steps, st.episodes, trainer.champion
    solved, score = st.solved, st.champion_score
    controller = controller_for(config.env, config.controller, config.seed)[0]
    row = {
        "task": task,
        "method": method,
        "seed": seed,
        "solved": bool(solved),
        "env_steps": int(steps),
        "episodes": int(episodes),
        "wall_s": time.perf_counter() - start,  # setup included, the 100k check below not
        "best_test": float(score),
    }
    if task == "dpnv" and solved and not quick:
        row["balances_100k"] = balances(config.env, controller, champion, 100_000)
    return row


def balances(env_cfg, controller, params: np.ndarray, steps: int) -> bool:
    """Whether the controller balances ``steps`` steps from the standard start."""
    import dataclasses

    from evorl.evaluation import VectorEvaluator

    env = dataclasses.replace(env_cfg, max_episode_steps=steps)
    evaluator = VectorEvaluator(env, controller, 1)
    try:
        result = evaluator.evaluate(np.asarray(params)[None], np.array([0]))
    finally:
        evaluator.close()
    return bool(result.lengths[0, 0] >= steps)


def summarise(rows: list[dict]) -> list[dict]:
    table = []
    for task in dict.fromkeys(r["task"] for r in rows):
        for method in dict.fromkeys(r["method"] for r in rows if r["task"] == task):
            runs = [r for r in rows if r["task"] == task and r["method"] == method]
            ok = [r for r in runs if r["solved"]]

            def mean(key: str, pool: list[dict] = ok) -> float:
                return float(np.mean([r[key] for r in pool])) if pool else math.nan

            entry = {
                "task": task,
                "method": method,
                "solved": f"{len(ok)}/{len(runs)}",
                "env_steps": mean("env_steps"),
                "episodes": mean("episodes"),
                "wall_s": mean("wall_s"),
                "best_test_mean": mean("best_test", runs),
            }
            if task == "dpnv":
                entry["balances_100k"] = (
                    f"{sum(r.get('balances_100k', False) for r in ok)}/{len(ok)}"
                )
            table.append(entry)
    return table


def print_table(table: list[dict]) -> None:
    head = f"{'task':<9} {'method':<10} {'solved':>6} {'env steps':>11} {'episodes':>9} {'wall s':>8} {'best test':>10}"  # noqa: E501
    print(head)
    print("-" * len(head))
    for e in table:
        extra = f"  (100k-step balance: {e['balances_100k']})" if "balances_100k" in e else ""
        print(
            f"{e['task']:<9} {e['method']:<10} {e['solved']:>6} {_num(e['env_steps']):>11} "
            f"{_num(e['episodes']):>9} {_num(e['wall_s'], 1):>8} "
            f"{e['best_test_mean']:>10.4g}{extra}"
        )
    print("env steps / episodes / wall s: means over solved runs; best test: mean over all runs")


def _num(x: float, digits: int = 0) -> str:
    return "—" if math.isnan(x) else f"{x:,.{digits}f}"


def plot(table: list[dict], path: Path) -> None:
    """Bars of env steps and wall seconds to solve (means over solved runs), one column a task."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = list(dict.fromkeys(e["task"] for e in table))
    fig, axes = plt.subplots(2, len(tasks), figsize=(4 * len(tasks), 6), squeeze=False)
    for col, task in enumerate(tasks):
        rows = [e for e in table if e["task"] == task]
        names = [f"{e['method']}\n({e['solved']})" for e in rows]
        for row, (key, label) in enumerate((("env_steps", "env steps"), ("wall_s", "wall s"))):
            ax = axes[row][col]
            values = [0.0 if e[key] is None or math.isnan(e[key]) else e[key] for e in rows]
            ax.bar(names, values, color=["C0", "C1", "C2"][: len(rows)])
            ax.set_title(f"{task}: {label} to solve")
            ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default=",".join(TASKS), help="comma-separated tasks")
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated methods")
    parser.add_argument("--seeds", type=int, default=5, help="seeds per (task, method)")
    parser.add_argument("--jobs", type=int, default=1, help="runs in parallel (processes)")
    parser.add_argument("--max-seconds", type=float, default=900.0, help="wall cap per run")
    parser.add_argument("--quick", action="store_true", help="seconds-long smoke run")
    parser.add_argument("--out", default="bench_results/gradient_vs_evolution.json")
    args = parser.parse_args()
    tasks, methods = args.tasks.split(","), args.methods.split(",")
    seeds = 1 if args.quick else args.seeds
    jobs = [(t, m, s, args.quick, args.max_seconds) for t in tasks for m in methods
            for s in range(1, seeds + 1)]  # fmt: skip
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        rows = []
        for row in pool.map(run_one, *zip(*jobs, strict=True)):
            rows.append(row)
            status = "solved" if row["solved"] else "not solved"
            print(f"  {row['task']:<9} {row['method']:<10} seed {row['seed']}: {status}, "
                  f"{row['env_steps']:,} steps, {row['episodes']:,} episodes, "
                  f"{row['wall_s']:.1f} s", flush=True)  # fmt: skip
    table = summarise(rows)
    print()
    print_table(table)
    total = time.perf_counter() - start
    print(f"total wall time {total:.0f} s, {args.jobs} job(s), {os.cpu_count()} CPUs")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"seeds": seeds, "jobs": args.jobs, "quick": args.quick, "wall_s": total,
            "platform": platform.platform(), "notes": {t: TASKS[t][2] for t in tasks}}  # fmt: skip
    clean = [{k: None if isinstance(v, float) and math.isnan(v) else v for k, v in e.items()}
             for e in table]  # fmt: skip
    out.write_text(json.dumps({"meta": meta, "table": clean, "rows": rows}, indent=2))
    plot(table, out.with_suffix(".png"))
    print(f"wrote {out} and {out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
