"""Optimizer cost per generation at large dimensions (the speed claims the unit tests do not make).

For each registered optimizer that scales to the dimension (the O(d) methods at 10,000; all at
2,000 except the O(d^3) xNES), times ``ask`` + ``tell`` on a sphere over a few generations and
prints milliseconds per generation. The fitness is trivial, so this is the optimizer's own cost.

Usage:
    python scripts/bench_optimizers.py             # d = 2,000 and 10,000, 10 generations
    python scripts/bench_optimizers.py --quick     # d = 500, 2 generations (smoke test)
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from evorl.optimizers import OPTIMIZERS, make_optimizer

FULL_COVARIANCE = {"cmaes": 2_000, "xnes": 500}
"""Largest dimension timed for the O(d^2)-memory methods."""


def time_one(name: str, dim: int, generations: int) -> float:
    """Seconds per generation of ``name`` at ``dim``, population 16."""
    popsize = 20 if name == "esp" else 16
    settings = {"subpop_size": 20, "units": 10} if name == "esp" else {}
    opt = make_optimizer(name, np.zeros(dim), sigma=0.1, popsize=popsize, seed=1, **settings)
    start = time.perf_counter()
    for _ in range(generations):
        x = opt.ask()
        opt.tell(x, -np.sum((x - 1.0) ** 2, axis=1))
    return (time.perf_counter() - start) / generations


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="d = 500, 2 generations")
    parser.add_argument("--out", default="bench_results/optimizers.json", help="JSON output")
    args = parser.parse_args(argv)
    dims, generations = ((500,), 2) if args.quick else ((2_000, 10_000), 10)
    rows = []
    print(f"{'optimizer':<12}" + "".join(f"{f'd={d:,}':>14}" for d in dims) + "   (ms/generation)")
    for name in OPTIMIZERS:
        cells = []
        for dim in dims:
            if dim > FULL_COVARIANCE.get(name, dim):
                cells.append(f"{'—':>14}")
                continue
            ms = 1000 * time_one(name, dim, generations)
            rows.append({"optimizer": name, "dim": dim, "ms_per_generation": ms})
            cells.append(f"{ms:>14.1f}")
        print(f"{name:<12}" + "".join(cells))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"rows": rows, "generations": generations}, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
