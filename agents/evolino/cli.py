"""``evorl bench timeseries``: the time-series prediction benchmark from the command line.

A plug-in of the ``evorl`` command line (entry-point group ``evorl.commands``, see
:mod:`evorl.commands`): :func:`register` adds the ``bench`` command with the benchmark
``timeseries``.
The benchmark itself (:mod:`evorl.agents.evolino.bench`) is imported only when the command runs,
so ``evorl --help`` stays fast.

Example:
    evorl bench timeseries --task sines2 --task mackey-glass --method evolino --method esn
    evorl bench timeseries --quick            # every task and method, seconds each
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
from typing import Any

from evorl.config import ConfigError

BENCH_MODULE = "evorl.agents.evolino.bench"
METHODS = ("evolino", "esn", "rpy-esn", "glstm")
"""Methods of the benchmark: ESP-evolved LSTM + least-squares readout, our echo state network,
reservoirpy's echo state network (the ``bench`` extra), gradient-trained LSTM."""
DEFAULT_TASKS = ("sines2", "sines3", "sines4", "sines5", "mackey-glass", "anbncn", "lorenz")
"""Tasks run when none is named (see :data:`evorl.tasks.timeseries.TASKS` for all)."""


def listing() -> list:
    """``evorl list``'s section of benchmark tasks (entry point ``evorl.listings``)."""
    from evorl.commands.listing import Section
    from evorl.tasks.timeseries import TASKS, task_summary

    entries = [(task, task_summary(task)) for task in TASKS]
    title = "time-series tasks (evorl bench timeseries --task TASK)"
    return [Section("bench-tasks", title, entries, f"default: {', '.join(DEFAULT_TASKS)}")]


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The benchmark's options (shared with ``scripts/bench_timeseries.py``)."""
    p.add_argument(
        "--task",
        action="append",
        default=None,
        metavar="TASK",
        help=f"task, repeatable (default: {', '.join(DEFAULT_TASKS)}; also mso2-mso8)",
    )
    p.add_argument(
        "--method",
        action="append",
        default=None,
        choices=METHODS,
        help=f"method, repeatable (default: all of {', '.join(METHODS)}; rpy-esn needs the "
        "bench extra and is left out of the default when reservoirpy is not installed)",
    )
    p.add_argument("--quick", action="store_true", help="seconds-long smoke run")
    p.add_argument("--seed", type=int, default=0, help="seed of every method (default 0)")
    p.add_argument(
        "--seeds",
        type=_positive,
        default=1,
        metavar="K",
        help="run every task and method with seeds SEED … SEED+K-1 and add a summary per pair: "
        "median, best, worst, and how many seeds reach the published figure (default 1)",
    )
    p.add_argument(
        "--out", default="bench_results", help="folder for JSON and PNGs (default bench_results)"
    )
    p.add_argument(
        "--set",
        action="append",
        default=None,
        metavar="METHOD.FIELD=VALUE",
        help="change one field of a method's config on every task, e.g. --set "
        "evolino.polish_steps=0 (repeatable; YAML values; fields: EvolinoConfig, ESNConfig, "
        "RpyESNConfig, GradientLSTMConfig); the JSON records every row's config",
    )
    p.add_argument("--no-plots", action="store_true", help="skip the PNGs")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}")
    return value


def register(subparsers: Any) -> None:
    """Add ``bench timeseries`` to the ``evorl`` command line.

    ``bench`` takes the benchmark's name as a positional argument (today only ``timeseries``)
    rather than nested subcommands: the CLI tells a command's own options from config overrides
    by the options of the first-level parser.
    """
    if "bench" in subparsers.choices:
        raise RuntimeError("evorl.agents.evolino.cli: another extension already defines 'bench'")
    p = subparsers.add_parser(
        "bench",
        help="run a benchmark and print its table",
        description="timeseries: Evolino, two echo state networks (ours and reservoirpy's) and a "
        "gradient-trained LSTM on time-series prediction tasks; prints tasks × methods → "
        "training NRMSE, test error and wall time beside the published figures; writes JSON and "
        "one PNG per task under --out.",
    )
    p.add_argument("benchmark", choices=("timeseries",), help="which benchmark")
    add_arguments(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Handler of ``evorl bench timeseries``."""
    from evorl.tasks.timeseries import TASKS

    for task in args.task or ():
        if task not in TASKS:
            raise ConfigError(f"unknown time-series task {task!r}; known: {', '.join(TASKS)}")
    bench = importlib.import_module(BENCH_MODULE)
    bench.split_settings(args.set or ())  # a bad --set fails here, in one line
    if "rpy-esn" in (args.method or ()) and importlib.util.find_spec("reservoirpy") is None:
        raise ConfigError(
            "method rpy-esn needs reservoirpy: pip install 'evorl-toolkit[bench]' "
            "(with -c constraints.txt)"
        )
    bench.run_from_args(args)
    return 0
