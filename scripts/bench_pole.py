"""Pole balancing: evaluations to solve, beside the published numbers (DESIGN.md).

For each task — single pole (Markov), double pole (Markov), double pole without velocities with
Gruau's damping fitness — run the task's preset (``evorl/presets/{single-pole,double-pole,dpnv}``)
with ``--seeds`` seeds under the solve-and-count protocol of :mod:`evorl.pole` (1,000-step
episodes count as evaluations; a candidate must balance 100,000 steps; the non-Markov champions'
generalisation over Gruau's 625 start states is reported) and print evaluations to solve (mean,
median, success rate) beside CoSyNE, CMA-ES, NEAT and ESP (Gomez, Schmidhuber & Miikkulainen,
JMLR 2008: means of 50 runs). The seeds of a task run in lockstep (:func:`run_lockstep`): one
batch per generation for all populations, one batch for all long tests; each run's numbers are
those it gets alone with ``evorl.pole.PoleTester``.

Usage:
    python scripts/bench_pole.py                       # 20 seeds per task, the presets
    python scripts/bench_pole.py --seeds 50 --tasks dpnv
    python scripts/bench_pole.py --method cosyne       # another optimizer, same controllers
    python scripts/bench_pole.py --set optimizer.popsize=24 --tasks double-pole
    python scripts/bench_pole.py --quick               # seconds; used by the smoke test
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from evorl.config import RunConfig, apply_overrides, from_dict, read_source, to_dict
from evorl.pole import PoleProtocol, RunResult, run_lockstep

PUBLISHED_METHODS = ("CoSyNE", "CMA-ES", "NEAT", "ESP")


@dataclass(frozen=True)
class Task:
    """One row of the table."""

    label: str
    preset: str
    protocol: PoleProtocol
    published: tuple[int, int, int, int]
    """Mean evaluations to solve of :data:`PUBLISHED_METHODS` (DESIGN.md)."""


TASKS: dict[str, Task] = {
    "single-pole": Task(
        "single pole, Markov",
        "single-pole",
        PoleProtocol(candidates="balanced", generalization=False),
        (98, 283, 743, 289),
    ),
    "double-pole": Task(
        "double pole, Markov",
        "double-pole",
        PoleProtocol(candidates="balanced", generalization=False),
        (954, 895, 3600, 3800),
    ),
    "dpnv": Task(
        "double pole, non-Markov, damping",
        "dpnv",
        PoleProtocol(candidates="balanced", generalization=True),
        (3416, 6061, 6929, 26342),
    ),
}

METHODS: dict[str, dict[str, list[str]]] = {
    "preset": {},
    "cosyne": {
        task: ["optimizer.name=cosyne", "optimizer.settings={}", "optimizer.popsize=16"]
        for task in TASKS
    },
    "snes": {task: ["optimizer.name=snes", "optimizer.settings={}"] for task in TASKS},
}
"""Named alternatives: config overrides per task on top of the presets (``--method``)."""

QUICK = {
    "seeds": 2,
    "overrides": ["stop.evaluations=400"],
    "test_steps": 2000,
}
"""``--quick``: two seeds per task, a 400-evaluation budget and a 2,000-step long test."""


def task_configs(task: Task, seeds: list[int], overrides: list[str]) -> list[RunConfig]:
    """The preset with ``overrides`` for every seed (``eval.test_every=0`` under the protocol)."""
    data = apply_overrides(read_source(task.preset), [*overrides, "eval.test_every=0"])
    return [from_dict(RunConfig, {**data, "seed": seed}) for seed in seeds]


def summarize(results: list[RunResult]) -> dict[str, Any]:
    """Mean/median evaluations (unsolved runs count with what they spent), success, scores."""
    evals = np.array([r.evaluations for r in results], dtype=float)
    serial = np.array(
        [r.solution.evaluations_serial if r.solved else r.evaluations for r in results], float
    )
    solved = [r for r in results if r.solved]
    scores = [r.solution.generalization for r in solved if r.solution.generalization is not None]
    return {
        "runs": len(results),
        "solved": len(solved),
        "success_rate": len(solved) / len(results),
        "evaluations_mean": float(evals.mean()),
        "evaluations_median": float(np.median(evals)),
        "evaluations_std": float(evals.std(ddof=1)) if len(evals) > 1 else 0.0,
        "evaluations_min": int(evals.min()),
        "evaluations_max": int(evals.max()),
        "evaluations_serial_mean": float(serial.mean()),
        "restarted_runs": sum(r.restarts > 0 for r in results),
        "generalization_min": min(scores) if scores else None,
        "generalization_mean": float(np.mean(scores)) if scores else None,
        "generalization_at_least_200": sum(s >= 200 for s in scores) if scores else None,
    }


def _status_printer(name: str, every: float):
    """A progress callback printing the lockstep status line at most every ``every`` seconds."""
    last = -math.inf

    def show(line: str) -> None:
        nonlocal last
        now = time.perf_counter()
        if now - last >= every:
            last = now
            print(f"  {name}: {line}", file=sys.stderr, flush=True)

    return show


def _result_printer(name: str):
    """A callback printing one line per settled run."""

    def show(result: RunResult) -> None:
        if result.solved:
            score = result.solution.generalization
            what = f"solved at {result.evaluations:,} evaluations" + (
                "" if score is None else f", generalisation {score}/625"
            )
        else:
            what = f"not solved in {result.evaluations:,} evaluations"
        if result.restarts:
            what += f" ({result.restarts} restart{'s' if result.restarts > 1 else ''})"
        print(f"  {name} seed {result.seed}: {what}", file=sys.stderr, flush=True)

    return show


def run_task(
    name: str,
    seeds: list[int],
    overrides: list[str],
    test_steps: int | None,
    verbose: bool,
    protocol_changes: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """All seeds of one task; the JSON record of the row.

    The protocol is the task's, with the candidates, required generalisation and long-test
    steps the preset's config names (``eval.pole_protocol``, ``eval.pole_min_generalization``,
    ``eval.pole_test_steps``; ``test_steps``, the quick mode's, overrides the last), then
    ``protocol_changes`` (fields of :class:`PoleProtocol`; None values are ignored).
    """
    task = TASKS[name]
    configs = task_configs(task, seeds, overrides)
    preset = configs[0].eval
    changes = {
        "test_steps": preset.pole_test_steps if test_steps is None else test_steps,
        "candidates": preset.pole_protocol,
        "min_generalization": preset.pole_min_generalization,
    }
    changes.update({k: v for k, v in (protocol_changes or {}).items() if v is not None})
    protocol = dataclasses.replace(
        task.protocol, **{k: v for k, v in changes.items() if v is not None}
    )
    progress = _status_printer(name, 0.0 if verbose else 30.0)
    start = time.perf_counter()
    results = run_lockstep(configs, protocol, progress=progress, on_result=_result_printer(name))
    wall = time.perf_counter() - start
    settings = to_dict(configs[0])
    settings.pop("seed")
    return {
        "task": name,
        "label": task.label,
        "preset": task.preset,
        "overrides": overrides,
        "config": settings,
        "protocol": dataclasses.asdict(protocol),
        "seeds": seeds,
        "wall_time_s": wall,
        "summary": summarize(results),
        "published": dict(zip(PUBLISHED_METHODS, task.published, strict=True)),
        "runs": [
            {
                "seed": r.seed,
                "solved": r.solved,
                "evaluations": r.evaluations,
                "evaluations_serial": r.solution.evaluations_serial if r.solved else None,
                "generation": r.solution.generation if r.solved else None,
                "generalization": r.solution.generalization if r.solved else None,
                "candidates_tested": r.tested,
                "restarts": r.restarts,
                "generations_run": r.generations,
                "params": r.solution.params.tolist() if r.solved else None,
            }
            for r in results
        ],
    }


def format_table(rows: list[dict[str, Any]]) -> str:
    """The printed table: ours, then the published means."""
    head = (
        f"{'task':<34}{'mean':>7}{'median':>8}{'solved':>9}{'general.':>13}{'wall':>8}  |"
        + "".join(f"{m:>8}" for m in PUBLISHED_METHODS)
    )
    lines = [head, "-" * len(head)]
    for row in rows:
        s = row["summary"]
        gen = "-"
        if s["generalization_min"] is not None:
            gen = f"{s['generalization_min']}/{s['generalization_mean']:.0f}"
        lines.append(
            f"{row['label']:<34}{s['evaluations_mean']:>7.0f}{s['evaluations_median']:>8.0f}"
            f"{s['solved']:>5}/{s['runs']:<3}{gen:>13}{row['wall_time_s']:>7.0f}s  |"
            + "".join(f"{row['published'][m]:>8,}" for m in PUBLISHED_METHODS)
        )
    lines.append(
        "evaluations to solve (1,000-step episodes until a network balances 100,000 steps); "
        "general. = generalisation of the solutions, min/mean of 625 (>= 200 generalises); "
        "published: means of 50 runs (Gomez et al., JMLR 2008)"
    )
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    """Where the numbers were measured (timings are only comparable on the same machine)."""
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }


def _score(text: str) -> int:
    """argparse type: a generalisation score, 0..625."""
    value = int(text)
    if not 0 <= value <= 625:
        raise argparse.ArgumentTypeError(f"{value} is not in 0..625")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=20, help="runs per task (default 20)")
    parser.add_argument("--first-seed", type=int, default=1, help="seeds are FIRST..FIRST+N-1")
    parser.add_argument("--tasks", nargs="+", choices=list(TASKS), default=list(TASKS))
    parser.add_argument("--method", choices=list(METHODS), default="preset")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="config override, all tasks"
    )
    parser.add_argument("--out", default="bench_results/pole.json", help="JSON output")
    parser.add_argument(
        "--candidates",
        choices=("balanced", "champion"),
        default=None,
        help="who gets the long test: every individual that balanced its 1,000-step episode, or "
        "only the generation's champion (default: the preset's)",
    )
    parser.add_argument(
        "--min-generalization",
        type=_score,
        default=None,
        metavar="N",
        help="a solution must also balance 1,000 steps from N of the 625 generalisation starts "
        "(default: the preset's; the literature requires none)",
    )
    parser.add_argument("--quick", action="store_true", help="seconds: tiny budget, short tests")
    parser.add_argument(
        "--verbose", action="store_true", help="status after every generation (default: every 30 s)"
    )
    args = parser.parse_args(argv)
    # Batches of a few hundred rows: torch's intra-op threads only add contention here.
    torch.set_num_threads(1)
    seeds = list(
        range(args.first_seed, args.first_seed + (QUICK["seeds"] if args.quick else args.seeds))
    )
    test_steps = QUICK["test_steps"] if args.quick else None
    load_before = machine()["load_average"]
    rows = []
    for name in args.tasks:
        overrides = [
            *METHODS[args.method].get(name, []),
            *(QUICK["overrides"] if args.quick else []),
            *args.set,
        ]
        changes = {"candidates": args.candidates, "min_generalization": args.min_generalization}
        rows.append(run_task(name, seeds, overrides, test_steps, args.verbose, changes))
        print(format_table(rows[-1:]).splitlines()[2], flush=True)
    print()
    print(format_table(rows))
    record = {
        "benchmark": "pole balancing, evaluations to solve",
        "command": " ".join(sys.argv),
        "method": args.method,
        "candidates": args.candidates,
        "quick": args.quick,
        "machine": {**machine(), "load_average_before": load_before},
        "rows": rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
