"""How large must the glimpse agent's evolution step size be for a population to differ?

The glimpse agent acts greedily when evolved (argmax action, mean location), so a candidate
whose weights barely differ from the centre plays exactly the same episodes and scores exactly
the same: a population of such candidates gives the optimizer nothing to rank. For each step
size σ this script samples one SNES population (32 candidates) around the agent's initial
weights and scores every candidate on the same 32 Catch episodes (landing shaping, the CLI's
fitness), then prints how many distinct scores the population has, their spread, and the catch
rate of the search centre after a short evolution from there (greedy, 200 fresh balls).

Usage:
    python scripts/bench_glimpse_sigma.py            # small and CLI-sized agents, 30 generations
    python scripts/bench_glimpse_sigma.py --quick    # small agent, 1 sigma, 1 generation
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from evorl import seeding
from evorl.agents.glimpse.agent import GlimpseAgent
from evorl.agents.glimpse.catch import catch_config, catch_rate
from evorl.agents.glimpse.evolve import (
    EPISODES,
    EvolveConfig,
    catch_fitness,
    evolve,
    population_fitness,
)
from evorl.builder import optimizer_for
from evorl.config import OptimizerConfig

AGENTS = {
    "small": {"what": 8, "where": 4, "features": 16, "hidden": 16},
    "cli": {},
}
"""Agent sizes: the tests' small agent and the size ``evorl glimpse train catch`` builds."""
SIGMAS = (0.005, 0.02, 0.05, 0.1, 0.2, 0.5)
TEST_EPISODES = 200


def spread(size: str, sigma: float, seed: int, popsize: int) -> dict:
    """Distinct scores and spread of one population at ``sigma`` on one generation's seeds."""
    agent = GlimpseAgent(catch_config(**AGENTS[size]), 3, seed=seed)
    x0 = agent.get_flat().double().numpy()
    opt = optimizer_for(OptimizerConfig("snes", popsize, sigma), seed, x0, None)
    seeds = seeding.episode_seeds(seed, seeding.STREAM_TRAIN_EPISODES, 0, EPISODES)
    scores = population_fitness(agent, catch_fitness())(opt.ask(), seeds)
    distinct = len(np.unique(np.round(scores, 9)))
    return {
        "agent": size,
        "params": len(x0),
        "sigma": sigma,
        "distinct": distinct,
        "std": float(scores.std()),
        "range": float(scores.max() - scores.min()),
    }


def progress(size: str, sigma: float, seed: int, generations: int, popsize: int) -> float:
    """Catch rate of the search centre after a short SNES run at ``sigma`` (greedy play on
    fresh balls, as ``evorl glimpse eval`` tests)."""
    agent = GlimpseAgent(catch_config(**AGENTS[size]), 3, seed=seed)
    cfg = EvolveConfig("snes", sigma, popsize, generations, seed)
    evolve(agent, catch_fitness(), cfg)
    return catch_rate(agent, TEST_EPISODES, seed + 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small agent, 1 sigma, 1 generation")
    parser.add_argument("--generations", type=int, default=30, help="short-evolution budget")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="bench_results/glimpse_sigma.json", help="JSON output")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    sizes = ("small",) if args.quick else tuple(AGENTS)
    sigmas = (0.1,) if args.quick else SIGMAS
    generations = 1 if args.quick else args.generations
    popsize = 8 if args.quick else 32
    print(
        f"{'agent':<6} {'params':>7} {'sigma':>6} {'distinct':>9} {'std':>8} {'range':>7} "
        f"{f'caught after {generations} gens':>22} {'s':>5}"
    )
    rows = []
    for size in sizes:
        for sigma in sigmas:
            start = time.perf_counter()
            row = spread(size, sigma, args.seed, popsize)
            row["caught"] = progress(size, sigma, args.seed, generations, popsize)
            row["seconds"] = time.perf_counter() - start
            rows.append(row)
            print(
                f"{size:<6} {row['params']:>7,} {sigma:>6g} {row['distinct']:>6}/{popsize:<2} "
                f"{row['std']:>8.4f} {row['range']:>7.3f} {row['caught']:>22.1%} "
                f"{row['seconds']:>5.0f}",
                flush=True,
            )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"rows": rows, "generations": generations}, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
