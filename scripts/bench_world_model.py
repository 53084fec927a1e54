"""World model (take-cover by default) over several seeds: random, real-evolved, dream-evolved C.

For every seed, one world-model pipeline (``<dir>/seed-<s>``, ``--preset``, ``take-cover`` by
default, with ``seed=s``), and its controllers' real-env scores over ``--episodes`` test episodes
(reset seeds 10,000 …):

* **random**: a uniformly random policy;
* **dream, round 0, τ**: C evolved only in M's dream at each τ of ``--temperatures``, with V and
  M trained on the random policy's episodes — the layout of Ha & Schmidhuber's (2018)
  take-cover table, where a low τ lets C exploit M (high dream score, low real score);
* **dream, round r**: the iterative procedure (``evorl wm iterate``, their appendix) at
  τ = ``--tau``: collect with the last round's C, retrain V and M on all data, evolve C again;
* **real**: C evolved in the real env seen through the final round's V and M, for as many
  generations as one dream evolution (CMA-ES 32 × 4 rollouts: every real step runs V).

Each row is a seed's mean over the test episodes; the table gives the mean ± std of the seed
means, the ratio to random, the mean wall time of the row's stage (round 0 at ``--tau``: the
whole pipeline, collection, V, M and the dream evolution; another τ: its evolution; a round:
its collection, retraining and evolution; not the test) and the per-seed means, and the
targets of issue 25: the last
round's C at >= 3x random and >= 80% of the real-trained C. Controllers are tested as soon as
they are evolved, before a later round retrains the V and M they were evolved with.

Everything resumes: the pipeline stages continue where they stopped, and every finished row is
kept in ``<dir>/seed-<s>/bench.json``, so the script can be stopped and run again (``--seeds``
or ``--rounds`` raised later adds the missing rows). Order: round 0 and the τ rows of every
seed, then the iterate rounds of every seed, then the real-trained rows.

Usage:
    python scripts/bench_world_model.py --seeds 1,2,3,4,5     # hours on a 2-core CPU (resumes)
    python scripts/bench_world_model.py --quick                # seconds; the smoke test
    python scripts/bench_world_model.py --report               # print what is done, run nothing
    python scripts/bench_world_model.py --preset carracing --seeds 1 --rounds 0 --tau 1.0 \
        --temperatures "" --no-real --set collect.episodes=24 ...   # CarRacing, scaled down
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
from evorl.agents.worldmodel.iterate import round_episodes
from evorl.agents.worldmodel.pipeline import open_pipeline, stage_evolve, stage_iterate
from evorl.agents.worldmodel.preprocess import make_real_env
from evorl.agents.worldmodel.shards import shard_name
from evorl.agents.worldmodel.train import DATA
from evorl.errors import ConfigError, StopNow
from evorl.rundir import atomic_write_text

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
    "iterate.episodes=3",
    "iterate.rnn_epochs=1",
    "iterate.vae_epochs=0",
    "iterate.generations=1",
]
REAL_EVOLUTION = {"popsize": 32, "episodes": 4}
"""Real-env evolution budget of the real row (generations: the dream's ``evolve.generations``)."""
RESULTS = "bench.json"
TEST_SEED = 10_000


def random_scores(config: WorldModelConfig, episodes: int, action_seed: int) -> np.ndarray:
    """Real returns of a uniformly random policy on reset seeds 10,000, 10,001, ...; its
    actions drawn from ``action_seed``."""
    env = make_real_env(config.env)
    env.action_space.seed(action_seed)
    returns = []
    for k in range(episodes):
        env.reset(seed=TEST_SEED + k)
        total, done = 0.0, False
        while not done:
            _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    env.close()
    return np.asarray(returns)


class SeedBench:
    """One seed's pipeline directory and its finished rows (``bench.json``, written atomically
    after every row)."""

    def __init__(
        self, root: Path, seed: int, overrides: list[str], episodes: int, preset: str
    ) -> None:
        self.seed, self.episodes = seed, episodes
        self.directory = root / f"seed-{seed}"
        fresh = not (self.directory / "config.yaml").exists()
        self.config = open_pipeline(
            self.directory, preset if fresh else None, [*overrides, f"seed={seed}"]
        )
        path = self.directory / RESULTS
        self.rows: dict[str, dict] = json.loads(path.read_text()) if path.exists() else {}

    def has(self, key: str) -> bool:
        return key in self.rows

    def save(self, key: str, row: dict) -> None:
        self.rows[key] = row
        atomic_write_text(self.directory / RESULTS, json.dumps(self.rows, indent=1))
        real = np.asarray(row["real"])
        print(f"seed {self.seed} {key}: real {real.mean():.1f} ± {real.std():.1f}", flush=True)

    def test(self, key: str, dream: bool, tau: float, round_index: int, seconds: float) -> None:
        """Real (and dream) test of an evolution's final search centre, saved as row ``key``."""
        clock = time.perf_counter()
        run, params = final_params(self.directory / run_name(dream, tau, round_index))
        real = evaluate_real(self.directory, run, params, self.episodes, TEST_SEED)
        virtual = evaluate_dream(run, params, self.episodes) if dream else None
        row = {
            "real": real.tolist(),
            "dream": None if virtual is None else virtual.tolist(),
            "seconds": seconds,
            "test_seconds": time.perf_counter() - clock,
            "retrained_since": self.later_round_started(round_index) if dream else False,
        }
        self.save(key, row)

    def later_round_started(self, round_index: int) -> bool:
        """Whether round ``round_index + 1`` has collected data (V and M then change)."""
        later = round_episodes(self.config, round_index + 1)
        return any((self.directory / DATA / shard_name(i)).exists() for i in later)


def phase_round0(bench: SeedBench, tau: float, temperatures: list[float], quiet: bool) -> None:
    """Random row, round 0 at ``tau`` and the other τ rows (all on round 0's V and M)."""
    if not bench.has("random"):
        scores = random_scores(bench.config, bench.episodes, bench.seed)
        bench.save("random", {"real": scores.tolist(), "dream": None, "seconds": 0.0})
    if not bench.has(f"dream t{tau:g} r0"):
        clock = time.perf_counter()
        stage_iterate(bench.config, bench.directory, 0, tau, quiet)
        bench.test(f"dream t{tau:g} r0", True, tau, 0, time.perf_counter() - clock)
    for t in temperatures:
        key = f"dream t{t:g} r0"
        if bench.has(key):
            continue
        if bench.later_round_started(0):
            print(f"seed {bench.seed}: {key} skipped: round 1 has retrained V and M", flush=True)
            continue
        clock = time.perf_counter()
        stage_evolve(bench.config, bench.directory, True, t, quiet)
        bench.test(key, True, t, 0, time.perf_counter() - clock)


def phase_rounds(bench: SeedBench, tau: float, rounds: int, quiet: bool) -> None:
    """Iterate rounds 1 … ``rounds`` at ``tau``, each tested before the next retrains V, M."""
    for r in range(1, rounds + 1):
        key = f"dream t{tau:g} r{r}"
        if bench.has(key):
            continue
        clock = time.perf_counter()
        stage_iterate(bench.config, bench.directory, r, tau, quiet)
        bench.test(key, True, tau, r, time.perf_counter() - clock)


def phase_real(bench: SeedBench) -> None:
    """C evolved in the real env (through the final V and M), as many generations as a dream
    evolution."""
    if bench.has("real"):
        return
    config = bench.config
    budget = dataclasses.replace(config.evolve, **REAL_EVOLUTION)
    clock = time.perf_counter()
    evolve(dataclasses.replace(config, evolve=budget), bench.directory, False, 1.0)
    bench.test("real", False, 1.0, 0, time.perf_counter() - clock)


def run_phases(
    benches: list[SeedBench],
    tau: float,
    rounds: int,
    temperatures: list[float],
    quiet: bool,
    real: bool = True,
) -> None:
    """Round 0 and the τ rows of every seed, then the iterate rounds, then the real rows
    (unless ``real`` is False)."""
    for bench in benches:
        phase_round0(bench, tau, [t for t in temperatures if t != tau], quiet)
    for bench in benches:
        phase_rounds(bench, tau, rounds, quiet)
    for bench in benches if real else ():
        phase_real(bench)


def _stats(values: list[float]) -> str:
    v = np.asarray(values)
    return f"{v.mean():.1f} ± {v.std():.1f}" if v.size else "—"


def report(
    benches: list[SeedBench],
    tau: float,
    rounds: int,
    temperatures: list[float],
    real: bool = True,
):
    """The table over seeds (mean ± std of the seed means), printed and returned as a dict."""
    keys = ["random", *[f"dream t{t:g} r0" for t in sorted({tau, *temperatures})]]
    keys += [f"dream t{tau:g} r{r}" for r in range(1, rounds + 1)] + (["real"] if real else [])
    table, random_mean = [], None
    name, episodes = benches[0].config.name, benches[0].episodes
    print(f"\n{name}, {episodes} real test episodes a controller; per seed its mean")
    print(
        f"{'controller':<18} {'seeds':>5} {'real, mean ± std':>17} {'x random':>8} "
        f"{'dream score':>14} {'wall s':>7}  per-seed real means"
    )
    for key in keys:
        done = [b for b in benches if b.has(key)]
        means = [float(np.mean(b.rows[key]["real"])) for b in done]
        dreams = [float(np.mean(b.rows[key]["dream"])) for b in done if b.rows[key]["dream"]]
        if key == "random" and means:
            random_mean = float(np.mean(means))
        # a ratio says nothing where random scores <= 0 (CarRacing: -0.1 a frame)
        ratio = np.mean(means) / random_mean if means and (random_mean or 0) > 0 else None
        seconds = [b.rows[key].get("seconds", 0.0) for b in done]
        wall = f"{np.mean(seconds):.0f}" if key != "random" and seconds else ""
        print(
            f"{key:<18} {len(means):>5} {_stats(means):>17} "
            f"{'' if ratio is None else f'{ratio:.2f}':>8} {_stats(dreams):>14} {wall:>7}  "
            + " ".join(f"{m:.0f}" for m in means)
        )
        table.append(
            {
                "row": key,
                "seeds": [b.seed for b in done],
                "real_means": means,
                "dream_means": dreams,
                "x_random": ratio,
                "seconds": seconds,
            }
        )
    last = f"dream t{tau:g} r{rounds}"
    pairs = [
        (
            np.mean(b.rows[last]["real"]),
            np.mean(b.rows["real"]["real"]),
            np.mean(b.rows["random"]["real"]),
        )
        for b in benches
        if b.has(last) and b.has("real") and b.has("random")
    ]
    if pairs:
        shares = [d / r for d, r, _ in pairs]
        times = [d / x for d, _, x in pairs]
        print(
            f"\n{last} against the real-trained C, per seed: "
            + ", ".join(f"{s:.0%}" for s in shares)
            + "; against random: "
            + ", ".join(f"{t:.2f}x" for t in times)
            + "  (targets: >= 80%, >= 3x)"
        )
    return {"rows": table, "tau": tau, "rounds": rounds}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny budget (seconds)")
    parser.add_argument(
        "--preset", default="take-cover", help="world-model preset of new seed folders"
    )
    parser.add_argument("--seeds", default="1,2,3,4,5", help="pipeline seeds, comma-separated")
    parser.add_argument("--rounds", type=int, default=3, help="iterate rounds after round 0")
    parser.add_argument("--tau", type=float, default=1.15, help="temperature of the iterate rows")
    parser.add_argument("--temperatures", default="0.1,1.0,1.3", help="other round-0 τ rows")
    parser.add_argument("--dir", default="runs/bench-world-model", help="folder of the seeds")
    parser.add_argument("--episodes", type=int, default=100, help="real test episodes per row")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument(
        "--no-real",
        action="store_true",
        help="skip the real-trained row (CarRacing: ~20 core-minutes a generation)",
    )
    parser.add_argument("--report", action="store_true", help="print the table, run nothing")
    parser.add_argument("--out", default="bench_results/world_model.json", help="JSON results")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    seeds = [1] if args.quick else [int(s) for s in args.seeds.split(",")]
    rounds = 1 if args.quick else args.rounds
    temperatures = [0.1] if args.quick else [float(t) for t in args.temperatures.split(",") if t]
    overrides = (QUICK if args.quick else []) + args.set
    episodes = 3 if args.quick else args.episodes
    root, quiet = Path(args.dir), not sys.stderr.isatty()
    try:
        benches = [SeedBench(root, s, overrides, episodes, args.preset) for s in seeds]
    except ConfigError as err:  # an unknown preset, a bad --set: one line, exit 2
        parser.error(str(err))
    clock = time.perf_counter()
    if not args.report:
        try:
            run_phases(benches, args.tau, rounds, temperatures, quiet, not args.no_real)
        except (KeyboardInterrupt, StopNow):
            print(f"interrupted: finished rows are kept in {root}; run again to resume")
            return 130
    result = report(benches, args.tau, rounds, temperatures, not args.no_real)
    result.update(
        episodes=episodes,
        seconds_this_run=time.perf_counter() - clock,
        machine=f"{platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}",
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
