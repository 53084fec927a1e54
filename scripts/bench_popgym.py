"""POPGym as the outside test of memory: neuroevolution, recurrent PPO and sb3-contrib's
RecurrentPPO under one budget of env steps per task.

POPGym (Morad et al., ICLR 2023) has 15 partially observable tasks, returns scaled to [-1, 1].
Methods, each on the same env steps and seeds:

* ``evolution``: evorl's neuroevolution with the task's preset (``evorl/presets/popgym-*``: the
  cell and optimizer chosen per kind of task as docs/popgym.md says — SNES with a GRU(8) on the
  card and game tasks, CMA-ES with an LSTM(4-8) on control);
* ``ppo``: evorl's recurrent PPO with the task's gradient preset (``evorl/gradient/presets/
  popgym-*``: LSTM(64), the same settings on every task);
* ``sb3``: sb3-contrib's ``RecurrentPPO`` with its default ``MlpLstmPolicy`` and default
  settings, the outside reference. It sees exactly the rows evorl's controllers see (the
  observation flattened by :class:`evorl.spaces.ObservationMap`, with the previous action
  where the preset appends it), as a Box.

Per run: the mean return of the final policy over ``--test-episodes`` test episodes (the
deterministic action: argmax / mean / ``predict(deterministic=True)``; reset seeds shared by all
methods) and, for the two PPO learners, over the same episodes with actions sampled from the policy
(``predict(deterministic=False)``; on games that need exploration, such as the bandit, a PPO
policy's mode can be far worse than the policy), the max mean return during training (evolution:
the population's mean of a generation; ppo: the mean of the last 8 finished episodes after an
update; sb3: its ``rollout/ep_rew_mean``, the last 100 episodes), env steps and wall seconds of
training. Each run is written to ``OUT/runs/TASK-METHOD-sSEED.json`` as it finishes; finished runs
of the same budget are skipped, so the bench runs in parts and resumes (use a fresh ``--out`` after
changing a preset). The table (per task and method, mean ± std over seeds) is printed and written
to ``OUT/summary.json`` and a bar chart ``OUT/popgym.png``.

sb3-contrib's RecurrentPPO runs at ~150 env steps/s on a 2-core machine, so the full bench
(12 tasks × 3 methods × 3 seeds × 100,000 steps) takes hours; split it with ``--tasks``,
``--methods`` and ``--seeds``.

Usage:
    python scripts/bench_popgym.py                                   # all, 3 seeds (hours)
    python scripts/bench_popgym.py --tasks RepeatPrevious --methods evolution ppo
    python scripts/bench_popgym.py --quick                           # ~30 s; smoke test
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

TASKS = [
    "RepeatPrevious",
    "RepeatFirst",
    "CountRecall",
    "Autoencode",
    "HigherLower",
    "MultiarmedBandit",
    "Battleship",
    "Concentration",
    "MineSweeper",
    "PositionOnlyCartPole",
    "PositionOnlyPendulum",
    "NoisyPositionOnlyCartPole",
]
METHODS = ("evolution", "ppo", "sb3")
QUICK_TASKS = ["Battleship"]  # MultiDiscrete actions, the previous action appended
TEST_SEED = 10_000_000
"""Test episodes of seed s use reset seeds TEST_SEED + 1000 s + k (all methods alike)."""


def preset(task: str) -> str:
    """The preset name of a task (the same for evolution and PPO)."""
    words = "".join("-" + c.lower() if c.isupper() else c for c in task).lstrip("-")
    return f"popgym-{words}-easy"


def test_seeds(seed: int, episodes: int) -> np.ndarray:
    return TEST_SEED + 1000 * seed + np.arange(episodes)


# --------------------------------------------------------------------------- evorl


def _evorl_config(task: str, method: str, seed: int, budget: int, run_dir: Path):
    common = [f"--seed={seed}", f"--stop.env_steps={budget}", f"--out={run_dir.parent}"]
    if method == "evolution":
        from evorl.config import load_config

        return load_config(preset(task), [*common, "--eval.test_every=0"])
    from evorl.gradient.config import load_gradient_config

    return load_gradient_config(preset(task), [*common, "--eval.test_every=0"])


def run_evorl(task: str, method: str, seed: int, budget: int, episodes: int, out: Path) -> dict:
    """One evorl run (its run directory under OUT/rundirs) and its final test."""
    import torch

    from evorl.builder import controller_for, start_run
    from evorl.evaluation import VectorEvaluator

    torch.set_num_threads(1)
    run_dir = out / "rundirs" / f"{task}-{method}-s{seed}"
    if run_dir.exists():  # an unfinished run (no result file): start it again
        shutil.rmtree(run_dir)
    config = _evorl_config(task, method, seed, budget, run_dir)
    start = time.perf_counter()
    trainer = start_run(config, run_dir)
    try:
        state = trainer.run()
        wall = time.perf_counter() - start
        params = trainer.learner.policy_params()
        norm = trainer.learner.normalizer()
        sampled = None
        if method == "ppo":
            sampled = _sampled_test(trainer.learner.policy, config.env, norm, seed, episodes)
    finally:
        trainer.close()
    controller, _ = controller_for(config.env, config.controller, config.seed)
    evaluator = VectorEvaluator(config.env, controller, 100)
    try:
        result = evaluator.evaluate(params[None], test_seeds(seed, episodes), norm)
    finally:
        evaluator.close()
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    means = [r["fitness/mean"] for r in rows if _finite(r.get("fitness/mean"))]
    returns = result.returns[0]
    return {
        "env_steps": int(state.env_steps),
        "wall_time": wall,
        "final_return": float(returns.mean()),
        "final_std": float(returns.std()),
        **_sampled_fields(sampled),
        "max_mean_return": max(means) if means else math.nan,
        "iterations": int(state.iteration),
        "settings": _settings(config),
    }


def _sampled_test(policy: Any, env: Any, norm: Any, seed: int, episodes: int) -> np.ndarray:
    """evorl PPO's final policy on the test episodes, actions sampled (one episode a slot)."""
    import torch

    from evorl.env_pool import make_pool
    from evorl.gradient.rollouts import collect_episodes

    pool = make_pool(env, episodes)
    generator = torch.Generator().manual_seed(TEST_SEED + seed)
    try:
        with torch.no_grad():
            batch = collect_episodes(policy, pool, test_seeds(seed, episodes), generator, norm)
    finally:
        pool.close()
    return batch.returns


def _sampled_fields(returns: np.ndarray | None) -> dict:
    if returns is None:  # evolution: a deterministic controller
        return {"sampled_return": None, "sampled_std": None}
    return {"sampled_return": float(returns.mean()), "sampled_std": float(returns.std())}


def _settings(config: Any) -> dict:
    from evorl.config import to_dict

    data = to_dict(config)
    keep = ("env", "controller", "optimizer", "ppo", "eval", "obs_norm", "reward_scale")
    return {k: data[k] for k in keep if k in data}


def _finite(x: Any) -> bool:
    return isinstance(x, int | float) and math.isfinite(x)


# --------------------------------------------------------------------------- sb3-contrib


def _sb3_env(task: str):
    """The task as sb3 sees it: evorl's controller rows (ObservationMap) as a Box."""
    import gymnasium as gym

    from evorl.env_factory import make_env
    from evorl.gradient.config import load_gradient_config
    from evorl.spaces import ObservationMap

    cfg = load_gradient_config(preset(task)).env

    class EvorlRows(gym.Wrapper):
        """Observations as evorl's rows (flattened; previous action where the preset asks)."""

        def __init__(self, env: gym.Env) -> None:
            super().__init__(env)
            self.view = ObservationMap.for_env(cfg, env.observation_space, env.action_space)
            self.observation_space = gym.spaces.Box(-np.inf, np.inf, (self.view.dim,))

        def reset(self, **kwargs):
            obs, info = self.env.reset(**kwargs)
            return self.view.one(obs).astype(np.float32), info

        def step(self, action):
            obs, reward, term, trunc, info = self.env.step(action)
            row = self.view.one(obs, action, reward) if self.view.extra else self.view.one(obs)
            return row.astype(np.float32), reward, term, trunc, info

    return EvorlRows(make_env(cfg))


def run_sb3(task: str, seed: int, budget: int, episodes: int) -> dict:
    """sb3-contrib's RecurrentPPO, default MlpLstmPolicy and settings, and its final test."""
    import torch
    from sb3_contrib import RecurrentPPO
    from stable_baselines3.common.callbacks import BaseCallback

    torch.set_num_threads(1)
    means: list[float] = []

    class Means(BaseCallback):
        def _on_rollout_end(self) -> None:
            buffer = self.model.ep_info_buffer
            if buffer:
                means.append(float(np.mean([e["r"] for e in buffer])))

        def _on_step(self) -> bool:
            return True

    env = _sb3_env(task)
    model = RecurrentPPO("MlpLstmPolicy", env, seed=seed, verbose=0, device="cpu")
    start = time.perf_counter()
    model.learn(total_timesteps=budget, callback=Means())
    wall = time.perf_counter() - start
    seeds = test_seeds(seed, episodes)
    returns = np.array([_sb3_episode(model, env, int(s), True) for s in seeds])
    torch.manual_seed(TEST_SEED + seed)  # sb3 samples from torch's global generator
    sampled = np.array([_sb3_episode(model, env, int(s), False) for s in seeds])
    env.close()
    return {
        "env_steps": int(model.num_timesteps),
        "wall_time": wall,
        "final_return": float(returns.mean()),
        "final_std": float(returns.std()),
        **_sampled_fields(sampled),
        "max_mean_return": max(means) if means else math.nan,
        "iterations": len(means),
        "settings": {"policy": "MlpLstmPolicy", "defaults": True},
    }


def _sb3_episode(model: Any, env: Any, seed: int, deterministic: bool) -> float:
    obs, _ = env.reset(seed=seed)
    state, start, total, done = None, np.ones((1,), bool), 0.0, False
    while not done:
        action, state = model.predict(
            obs, state=state, episode_start=start, deterministic=deterministic
        )
        obs, reward, term, trunc, _ = env.step(action)
        total += float(reward)
        start, done = np.zeros((1,), bool), bool(term or trunc)
    return total


# --------------------------------------------------------------------------- the bench


def run_one(task: str, method: str, seed: int, budget: int, episodes: int, out: Path) -> dict:
    if method == "sb3":
        result = run_sb3(task, seed, budget, episodes)
    else:
        result = run_evorl(task, method, seed, budget, episodes, out)
    return {"task": task, "method": method, "seed": seed, "budget": budget,
            "test_episodes": episodes, **result}  # fmt: skip


def summarise(rows: list[dict]) -> list[dict]:
    table = []
    for task in dict.fromkeys(r["task"] for r in rows):
        for method in METHODS:
            runs = [r for r in rows if r["task"] == task and r["method"] == method]
            if not runs:
                continue
            final = np.array([r["final_return"] for r in runs])
            sampled = [r.get("sampled_return") for r in runs]
            sampled = np.array(sampled) if None not in sampled else None
            table.append({
                "task": task,
                "method": method,
                "seeds": len(runs),
                "final_return": float(final.mean()),
                "final_return_std": float(final.std()),
                "sampled_return": None if sampled is None else float(sampled.mean()),
                "sampled_return_std": None if sampled is None else float(sampled.std()),
                "max_mean_return": float(np.mean([r["max_mean_return"] for r in runs])),
                "env_steps": float(np.mean([r["env_steps"] for r in runs])),
                "wall_time": float(np.mean([r["wall_time"] for r in runs])),
            })  # fmt: skip
    return table


def print_table(table: list[dict]) -> None:
    head = f"{'task':<26}{'method':<11}{'seeds':>5}{'final return':>17}{'sampled':>17}"
    print(f"{head}{'MMER':>8}{'env steps':>11}{'wall s':>8}")
    for r in table:
        final = f"{r['final_return']:+.3f} ± {r['final_return_std']:.3f}"
        sampled = "" if r["sampled_return"] is None else (
            f"{r['sampled_return']:+.3f} ± {r['sampled_return_std']:.3f}"
        )  # fmt: skip
        print(
            f"{r['task']:<26}{r['method']:<11}{r['seeds']:>5}{final:>17}{sampled:>17}"
            f"{r['max_mean_return']:>+8.3f}{r['env_steps']:>11,.0f}{r['wall_time']:>8.0f}"
        )


def plot(table: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = list(dict.fromkeys(r["task"] for r in table))
    fig, ax = plt.subplots(figsize=(max(6, 1.3 * len(tasks)), 4))
    width = 0.8 / len(METHODS)
    for i, method in enumerate(METHODS):
        rows = {r["task"]: r for r in table if r["method"] == method}
        x = [k + (i - 1) * width for k, t in enumerate(tasks) if t in rows]
        y = [rows[t]["final_return"] for t in tasks if t in rows]
        err = [rows[t]["final_return_std"] for t in tasks if t in rows]
        if x:
            ax.bar(x, y, width, yerr=err, capsize=2, label=method)
    ax.set_xticks(range(len(tasks)), [t.replace("PositionOnly", "PosOnly") for t in tasks],
                  rotation=30, ha="right", fontsize=8)  # fmt: skip
    ax.axhline(0.0, color="black", linewidth=0.5)
    ax.set_ylabel("final return (100 test episodes)")
    ax.set_title("POPGym Easy, equal env steps per run")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _finished(path: Path, method: str, budget: int) -> bool:
    """A run of this budget is on file (a run of another budget is done again, and so is an
    evorl PPO run from before the sampled test; an sb3 run from before it is kept, its sampled
    column left empty: it costs half an hour)."""
    if not path.exists():
        return False
    row = json.loads(path.read_text())
    return row["budget"] == budget and (method != "ppo" or "sampled_return" in row)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", choices=TASKS, default=None)
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--seeds", nargs="+", type=int, default=None, help="default 1 2 3")
    parser.add_argument("--budget", type=int, default=None, help="env steps (default 100,000)")
    parser.add_argument("--test-episodes", type=int, default=None, help="default 100")
    parser.add_argument(
        "--quick", action="store_true", help="Battleship, 1 seed, 600 steps, 2 tests"
    )
    parser.add_argument("--out", type=Path, default=Path("bench-popgym"))
    args = parser.parse_args()
    try:
        import popgym  # noqa: F401
    except ModuleNotFoundError:
        raise SystemExit("bench_popgym needs popgym: pip install 'evorl-toolkit[popgym]'") from None
    if "sb3" in args.methods:
        try:
            import sb3_contrib  # noqa: F401
        except ModuleNotFoundError:
            raise SystemExit(
                "--methods sb3 needs sb3-contrib: pip install 'evorl-toolkit[bench]'"
            ) from None
    tasks = args.tasks or (QUICK_TASKS if args.quick else TASKS)
    seeds = args.seeds or ([1] if args.quick else [1, 2, 3])
    budget = args.budget or (600 if args.quick else 100_000)
    episodes = args.test_episodes or (2 if args.quick else 100)
    runs_dir = args.out / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    for task in tasks:
        for method in args.methods:
            for seed in seeds:
                path = runs_dir / f"{task}-{method}-s{seed}.json"
                if _finished(path, method, budget):
                    continue
                print(f"... {task} {method} seed {seed}", flush=True)
                row = run_one(task, method, seed, budget, episodes, args.out)
                tmp = path.with_suffix(".tmp")
                tmp.write_text(json.dumps(row, indent=1))
                os.replace(tmp, path)
    rows = [json.loads(p.read_text()) for p in sorted(runs_dir.glob("*.json"))]
    rows = [r for r in rows if r["task"] in tasks and r["method"] in args.methods]
    rows = [r for r in rows if r["seed"] in seeds and r["budget"] == budget]
    table = summarise(rows)
    print_table(table)
    summary = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "budget": budget,
        "test_episodes": episodes,
        "table": table,
    }
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1))
    plot(table, args.out / "popgym.png")
    print(f"wrote {args.out / 'summary.json'} and {args.out / 'popgym.png'}")


if __name__ == "__main__":
    main()
