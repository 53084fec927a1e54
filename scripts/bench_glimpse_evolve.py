"""How much faster is one generation of glimpse evolution scored as a batch than one by one?

For the agent ``evorl glimpse train TASK --method evolution`` builds by default (GRU core, 6
glimpses; Catch: 6×6 retina × 3 scales, 128 units; translated digits: 12×12 × 3, 256 units) and
its fitness (Catch: 32 greedy episodes with landing shaping; digits: cross-entropy on a 256-canvas
minibatch), this script times one generation's evaluation of a 32-candidate SNES population
(σ = 0.05) two ways:

* **loop**: the way evolution scored before: each candidate's weights loaded into the agent
  (``set_flat``), then its episodes or minibatch through the agent's ordinary forward;
* **batched**: the fitness evolution uses now, the whole population at once
  (:class:`~evorl.agents.glimpse.agent.Population`: ``torch.func.vmap`` over the candidates).

It also prints the largest difference between the two ways' scores (see the ``Population``
docstring for why they need not be bitwise equal). Canvases hold random 28×28 "digits": the
time does not depend on the pixels. One torch thread, as the command's ``--threads`` default.

Usage:
    python scripts/bench_glimpse_evolve.py            # CLI-sized agents, population 32
    python scripts/bench_glimpse_evolve.py --quick    # small agents, population 4: a smoke run
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from evorl import seeding
from evorl.agents.glimpse.agent import GlimpseAgent, GlimpseConfig, classify
from evorl.agents.glimpse.catch import catch_config, make_envs, play, shaped_rewards
from evorl.agents.glimpse.data import make_canvases
from evorl.agents.glimpse.evolve import (
    EPISODES,
    EvolveConfig,
    catch_fitness,
    classification_fitness,
)
from evorl.builder import optimizer_for
from evorl.config import OptimizerConfig

MINIBATCH = 256
"""Canvases per digits generation (as ``evorl glimpse train``)."""
SMALL = {"what": 8, "where": 4, "features": 16, "hidden": 16}
"""--quick: the tests' small agent."""


def agent_for(task: str, quick: bool) -> GlimpseAgent:
    """The CLI's default evolution agent for ``task`` (small with ``quick``)."""
    changes = {"glimpses": 6, "core": "gru", **(SMALL if quick else {})}
    if task == "catch":
        return GlimpseAgent(catch_config(**changes), 3, seed=0)
    return GlimpseAgent(GlimpseConfig(size=12, scales=3, **changes), 10, seed=0)


def catch_loop(agent: GlimpseAgent, params: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """Each candidate alone: its weights loaded, its episodes played, the mean shaped return."""
    envs, scores = make_envs(len(seeds)), []
    for flat in params:
        agent.set_flat(torch.from_numpy(flat))
        eps = play(agent, envs, seeds, None)
        scores.append(float(shaped_rewards(eps, "landing").double().sum()) / len(seeds))
    return np.array(scores)


def digits_loop(
    agent: GlimpseAgent, params: np.ndarray, images: torch.Tensor, labels: torch.Tensor
) -> np.ndarray:
    """Each candidate alone: minus its cross-entropy on the minibatch."""
    scores = []
    for flat in params:
        agent.set_flat(torch.from_numpy(flat))
        logits = classify(agent, images, None).logits
        scores.append(-F.cross_entropy(logits, labels, reduction="none").double().mean().item())
    return np.array(scores)


def best_time(run, repeats: int) -> tuple[float, np.ndarray]:
    """The fastest of ``repeats`` timed calls of ``run()`` (after one untimed warm-up call)."""
    scores, times = run(), []
    for _ in range(repeats):
        start = time.perf_counter()
        scores = run()
        times.append(time.perf_counter() - start)
    return min(times), scores


@torch.no_grad()
def bench(task: str, popsize: int, repeats: int, quick: bool) -> dict:
    """One row: loop and batched seconds for one generation of ``task``."""
    agent = agent_for(task, quick)
    x0 = agent.get_flat().double().numpy()
    params = optimizer_for(
        OptimizerConfig("snes", popsize, EvolveConfig().sigma), 0, x0, None
    ).ask()
    episodes = 4 if quick else EPISODES
    seeds = seeding.episode_seeds(0, seeding.STREAM_TRAIN_EPISODES, 0, EPISODES)[:episodes]
    if task == "catch":
        fitness = catch_fitness(episodes)
        loop = lambda: catch_loop(agent, params, seeds)  # noqa: E731
    else:
        rng = np.random.default_rng(0)
        count = 64 if quick else 2 * MINIBATCH
        digits = rng.random((count, 28, 28), dtype=np.float32)
        labels = rng.integers(0, 10, count)
        canvases = make_canvases(digits, "translated", 0, 60)
        batch = 16 if quick else MINIBATCH
        fitness = classification_fitness(canvases, labels, batch)
        idx = np.random.default_rng(seeds).choice(count, size=batch, replace=False)
        x, y = torch.from_numpy(canvases[idx]), torch.from_numpy(labels[idx])
        loop = lambda: digits_loop(agent, params, x, y)  # noqa: E731
    loop_s, loop_scores = best_time(loop, repeats)
    batched_s, batched_scores = best_time(lambda: fitness(agent, params, seeds), repeats)
    return {
        "task": task,
        "params": len(x0),
        "popsize": popsize,
        "episodes_or_batch": episodes if task == "catch" else batch,
        "loop_s": loop_s,
        "batched_s": batched_s,
        "speedup": loop_s / batched_s,
        "max_abs_diff": float(np.abs(loop_scores - batched_scores).max()),
        "equal": bool(np.array_equal(loop_scores, batched_scores)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small agents, population 4")
    parser.add_argument("--popsize", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3, help="timed calls; the best is kept")
    parser.add_argument("--tasks", nargs="+", default=["catch", "translated"])
    parser.add_argument("--out", default="bench_results/glimpse_evolve.json", help="JSON output")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    popsize, repeats = (4, 1) if args.quick else (args.popsize, args.repeats)
    print(
        f"{'task':<11} {'params':>8} {'pop':>4} {'loop s':>8} {'batched s':>10} {'speed-up':>9} "
        f"{'max |Δ fitness|':>16}"
    )
    rows = []
    for task in args.tasks:
        row = bench(task, popsize, repeats, args.quick)
        rows.append(row)
        print(
            f"{task:<11} {row['params']:>8,} {popsize:>4} {row['loop_s']:>8.3f} "
            f"{row['batched_s']:>10.3f} {row['speedup']:>8.2f}× {row['max_abs_diff']:>16.2e}",
            flush=True,
        )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"threads": 1, "torch": torch.__version__, "repeats": repeats}
    out.write_text(json.dumps({"rows": rows, **meta}, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
