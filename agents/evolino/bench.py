"""The time-series benchmark: tasks × methods → training NRMSE, test error, wall time.

Methods: ``evolino`` (ESP-evolved LSTM + least-squares readout), ``esn`` (random reservoir + the
same readout, Evolino without evolution), ``rpy-esn`` (reservoirpy's echo state network, the
baseline from outside our code; needs the ``bench`` extra) and ``glstm`` (the same LSTM trained
by BPTT + Adam).
Tasks and their protocols: :mod:`evorl.tasks.timeseries`. Budgets per (task, method) are in
:data:`SETTINGS`; ``quick=True`` shrinks them to a seconds-long smoke run. Results go to
``<out>/timeseries.json`` and one PNG per task (prediction vs truth, free-running part shaded).
``evorl bench timeseries`` and ``scripts/bench_timeseries.py`` both call :func:`main`.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import platform
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from evorl.agents.evolino import language
from evorl.agents.evolino.cli import DEFAULT_TASKS, METHODS, add_arguments
from evorl.agents.evolino.esn import ESN, ESNConfig
from evorl.agents.evolino.glstm import GradientLSTM, GradientLSTMConfig
from evorl.agents.evolino.model import Evolino, EvolinoConfig
from evorl.agents.evolino.rpy_esn import RpyESN, RpyESNConfig, available
from evorl.config_io import apply_overrides, from_dict, to_dict
from evorl.errors import ConfigError
from evorl.progress import Progress
from evorl.tasks.timeseries import TASKS, AnBnCn, ForecastTask, make_task

_E, _G, _N, _R = EvolinoConfig, GradientLSTMConfig, ESNConfig, RpyESNConfig
_RIDGES = {"ridges": (1e-10, 1e-8, 1e-6, 1e-4)}  # reservoirpy's readout: best by validation
_RPY_CHAOS = ("jaeger-haas", "mg-tutorial")  # the MSO example's 3,000 units: sines only
_ESP = {"credit": "max", "burst_scale": 0.01, "generations": 10**9, "readout_cells": True}
_SINES = {"sigma": 0.2, "input_std": 0.1, **_ESP}
# Near-linear cells (PyBrain's Evolino example for five sines: input scaled by 1e-3, weights
# within 1e-2, Cauchy mutation 1e-3, no peepholes, a readout on the cell outputs alone): cells
# near their linear part filter the series linearly; the tiny features need float64 readouts.
_NEAR_LINEAR = _ESP | {
    "input_std": 0.001,
    "sigma": 0.01,
    "mutation_scale": 0.001,
    "burst_scale": 0.001,
    "peepholes": False,
    "readout_cells": False,
    "readout_input": False,
    "dtype": "float64",
}
_MG = {"valid": 840, "valid_horizon": 84, "train_steps": 1600, "input_std": 0.1, "forget_bias": 1.0}
_MG |= {"readout_cells": "tanh"}  # bounded features: cells that integrate without limit mislead it
_MG_POLISH = {  # 2 searches, 2 polishes
    "workers": 2,
    "polish_steps": 10**6,
    "polish_time": 275,
    "polish_lr": 4e-3,
    "polish_warmup": 200,
    "polish_check": 40,
}
_MG_RESTARTS = {"restarts": 200, "restart_context": 1000}  # checks start as tests do: 1000 steps
SETTINGS: dict[str, dict[str, Any]] = {
    "sines2": {
        "evolino": _E(hidden=10, time_limit=120, **_ESP),
        "glstm": _G(hidden=10, time_limit=60),
    },
    "sines3": {
        "evolino": _E(hidden=15, time_limit=240, **_SINES),
        "glstm": _G(hidden=15, time_limit=60),
    },
    "sines4": {
        "evolino": _E(hidden=40, time_limit=400, **_NEAR_LINEAR),  # as sines5
        "glstm": _G(hidden=20, time_limit=60),
    },
    "sines5": {
        # the near-linear regime of PyBrain's Evolino sines example: docs/evolino.md, "5 sines"
        "evolino": _E(hidden=40, time_limit=400, **_NEAR_LINEAR),
        "glstm": _G(hidden=20, time_limit=60),
    },
    "mackey-glass": {
        # all four extras earn their place; the search stops improving before 150 s (measured
        # in docs/evolino.md, "What each Mackey-Glass extra buys")
        "evolino": _E(hidden=40, time_limit=150, **(_ESP | _MG | _MG_POLISH | _MG_RESTARTS)),
        "glstm": _G(hidden=40, time_limit=90, valid=336),
        "esn": _N(spectral_radii=(0.6, 0.7, 0.79, 0.9), valid=336, valid_horizon=84),
        "rpy-esn": _R(presets=_RPY_CHAOS, valid=336, valid_horizon=84, **_RIDGES),
    },
    "lorenz": {
        "evolino": _E(hidden=20, time_limit=150, valid=200, valid_horizon=50, **_SINES),
        "glstm": _G(hidden=20, time_limit=60, valid=200),
        "esn": _N(spectral_radii=(0.6, 0.79, 0.9), valid=200, valid_horizon=50),
        "rpy-esn": _R(presets=_RPY_CHAOS, valid=200, valid_horizon=50, **_RIDGES),
    },
    "anbncn": {
        "evolino": _E(hidden=4, time_limit=90, **_ESP),
        "glstm": _G(hidden=4, time_limit=60, lr=3e-3),
        "rpy-esn": _R(presets=_RPY_CHAOS, **_RIDGES),
    },
}
"""Per task and method: the config (missing: the method's defaults)."""
DEFAULTS = {
    "evolino": _E(generations=200),
    "esn": _N(spectral_radii=(0.5, 0.8, 0.95, 1.1)),
    "rpy-esn": _R(presets=("jaeger-haas", "mg-tutorial", "mso-esn", "mso-es2n"), **_RIDGES),
    "glstm": _G(time_limit=60),
}
MODELS = {"evolino": Evolino, "esn": ESN, "rpy-esn": RpyESN, "glstm": GradientLSTM}


@dataclasses.dataclass
class Row:
    """One (task, method) result."""

    task: str
    method: str
    train_nrmse: float | None
    metric: str
    test: float
    published: float | None
    seconds: float
    info: dict[str, Any]
    seed: int = 0


def split_settings(settings: Sequence[str]) -> dict[str, list[str]]:
    """``--set METHOD.FIELD=VALUE`` items by method (``FIELD=VALUE`` each); checked against
    every method's default config, so that a bad one fails before anything runs."""
    by_method: dict[str, list[str]] = {}
    for item in settings:
        method, _, rest = item.partition(".")
        if method not in MODELS or "=" not in rest:
            raise ConfigError(
                f"--set {item!r}: expected METHOD.FIELD=VALUE with METHOD one of "
                f"{', '.join(MODELS)}"
            )
        by_method.setdefault(method, []).append(rest)
    for method, items in by_method.items():
        _with_settings(DEFAULTS[method], items, method)
    return by_method


def _with_settings(cfg: Any, items: Sequence[str], method: str) -> Any:
    if not items:
        return cfg
    try:
        return from_dict(type(cfg), apply_overrides(to_dict(cfg), list(items)))
    except ConfigError as err:
        raise ConfigError(f"--set {method}: {err}") from None


def config_for(task: str, method: str, quick: bool, seed: int, settings: Sequence[str] = ()) -> Any:
    """The method's config for ``task``, with ``settings`` (``FIELD=VALUE`` items, see
    :func:`split_settings`) applied; ``quick`` caps the budget to a few seconds."""
    cfg = _with_settings(SETTINGS.get(task, {}).get(method, DEFAULTS[method]), settings, method)
    changes: dict[str, Any] = {"seed": seed}
    if quick and method == "evolino":
        changes |= {"generations": 3, "time_limit": 5.0, "subpop_size": 8, "trials": 2}
        changes |= {"workers": 1, "polish_steps": min(cfg.polish_steps, 2)}
    if quick and method == "glstm":
        changes |= {"updates": 5, "time_limit": 5.0, "check_every": 5}
    if quick and method == "esn":
        changes |= {"units": 50, "spectral_radii": cfg.spectral_radii[:1]}
    if quick and method == "rpy-esn":
        changes |= {"units": 50, "ridges": (cfg.ridges or (1e-8,))[:1]}
    return dataclasses.replace(cfg, **changes)


@contextlib.contextmanager
def track(name: str, total: int | None, quiet: bool) -> Iterator[Callable[[int, float], None]]:
    """Show one fit's progress; yields its ``callback(step, best fitness)``."""
    with Progress(name, total, quiet=quiet, every=15.0) as bar:

        def update(step: int, best: float) -> None:
            bar.update(completed=step, status=f"step {step}  best fitness {best:.4g}")

        yield update


def run_forecast(
    task: ForecastTask, method: str, cfg: Any, quiet: bool = False, label: str | None = None
) -> tuple[Row, np.ndarray]:
    """Fit one method on a forecasting task and score it; returns the row and predictions.
    ``label``: the method's name in the progress display (default ``method``)."""
    model = MODELS[method](cfg, task.dim)
    start = time.perf_counter()
    with track(f"{task.name} {label or method}", _budget(cfg), quiet) as update:
        info = model.fit(task.train, task.washout, update)
    info = dataclasses.asdict(info) if dataclasses.is_dataclass(info) else dict(info)
    info.pop("history", None)
    train = task.train_nrmse(model.one_step(task.train, task.washout))
    test, pred = task.score(model.forecast)
    if getattr(model, "unpolished", None) is not None:
        info["test_before_polish"] = task.score(model.without_polish().forecast)[0]
    row = Row(
        task.name,
        method,
        train,
        task.metric,
        test,
        task.published.get(method),
        time.perf_counter() - start,
        info,
        cfg.seed,
    )
    return row, pred


def run_language(
    method: str, cfg: Any, quiet: bool = False, label: str | None = None, n_max: int = 100
) -> Row:
    """Fit one method on aⁿbⁿcⁿ; test = largest N with every n ≤ N right."""
    task = AnBnCn()
    model = MODELS[method](cfg, 4)
    fit = {
        "evolino": language.fit_evolino,
        "esn": language.fit_esn,
        "rpy-esn": language.fit_rpy_esn,
        "glstm": language.fit_glstm,
    }[method]
    classifier = {
        "evolino": language.evolino_classifier,
        "esn": language.esn_classifier,
        "rpy-esn": language.rpy_esn_classifier,
        "glstm": language.glstm_classifier,
    }[method]
    start = time.perf_counter()
    with track(f"{task.name} {label or method}", _budget(cfg), quiet) as update:
        info = fit(model, task, update) if method == "evolino" else fit(model, task)
    info = dataclasses.asdict(info) if dataclasses.is_dataclass(info) else dict(info)
    info.pop("history", None)
    n = task.generalization(classifier(model), n_max)
    seconds = time.perf_counter() - start
    return Row(task.name, method, None, "max n", float(n), None, seconds, info, cfg.seed)


def _budget(cfg: Any) -> int | None:
    for name in ("generations", "updates"):
        if hasattr(cfg, name):
            return getattr(cfg, name) if getattr(cfg, "time_limit", None) is None else None
    return 1


def run_benchmark(
    tasks: Sequence[str],
    methods: Sequence[str],
    *,
    quick: bool = False,
    seed: int = 0,
    seeds: int = 1,
    out: Path | None = None,
    plots: bool = True,
    quiet: bool = False,
    settings: Sequence[str] = (),
) -> list[Row]:
    """Every (task, method) pair, once per seed ``seed`` … ``seed + seeds - 1``; writes JSON and
    PNGs (one per task and seed) under ``out`` when given. Prints a line per finished pair
    (``quiet``: no progress display). ``settings``: ``METHOD.FIELD=VALUE`` config changes."""
    if seeds < 1:
        raise ValueError(f"seeds must be >= 1, got {seeds}")
    changes = split_settings(settings)
    rows: list[Row] = []
    for name in tasks:
        task = None if name == "anbncn" else make_task(name)
        for s in range(seed, seed + seeds):
            predictions: dict[str, np.ndarray] = {}
            for method in methods:
                label = method if seeds == 1 else f"{method} seed {s}"
                cfg = config_for(name, method, quick, s, changes.get(method, ()))
                if task is None:
                    row = run_language(method, cfg, quiet, label)
                else:
                    row, predictions[method] = run_forecast(task, method, cfg, quiet, label)
                row.info["config"] = to_dict(cfg)
                rows.append(row)
                print(f"{row.task} {label}: {row.metric} {row.test:.4g} ({row.seconds:.1f} s)")
            if out is not None and plots and task is not None:
                suffix = "" if seeds == 1 else f"_seed{s}"
                _plot(task, predictions, out / f"timeseries_{name}{suffix}.png")
    if out is not None:
        seed_list = list(range(seed, seed + seeds))
        write_json(
            rows, out / "timeseries.json", quick=quick, seeds=seed_list, settings=list(settings)
        )
    return rows


def _plot(task: ForecastTask, predictions: dict[str, np.ndarray], path: Path) -> None:
    from evorl.agents.evolino.plots import plot_task  # matplotlib only when plotting

    plot_task(task, predictions, path)


def write_json(rows: list[Row], path: Path, **meta: Any) -> None:
    """Rows plus the environment they were measured in."""
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "rows": [dataclasses.asdict(r) for r in rows],
        "meta": {
            **meta,
            "torch": torch.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
            "machine": platform.machine(),
            "threads": torch.get_num_threads(),
            "time": time.strftime("%Y-%m-%d %H:%M:%S"),
        },
    }
    path.write_text(json.dumps(doc, indent=1, default=float))


def format_table(rows: list[Row]) -> str:
    """The results as a fixed-width table, published figures beside the measured ones (with a
    seed column when the rows come from several seeds, and :func:`format_summary` below)."""
    several = len({r.seed for r in rows}) > 1
    seed_head = f"{'seed':>5}" if several else ""
    head = (
        f"{'task':<13}{'method':<9}{seed_head}{'train NRMSE':>12}  {'test':<8}{'measured':>10}"
        f"{'published':>11}{'wall s':>9}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        train = "—" if r.train_nrmse is None else f"{r.train_nrmse:.3g}"
        test = f"{r.test:.0f}" if r.metric == "max n" else f"{r.test:.3g}"
        pub = "—" if r.published is None else f"{r.published:.3g}"
        seed = f"{r.seed:>5}" if several else ""
        lines.append(
            f"{r.task:<13}{r.method:<9}{seed}{train:>12}  {r.metric:<8}{test:>10}{pub:>11}"
            f"{r.seconds:>9.1f}"
        )
    for r in rows:
        if "test_before_polish" in r.info:
            lines.append(
                f"{r.task} {r.method}{f' seed {r.seed}' if several else ''}: "
                f"{r.info['polish_steps']} gradient-polish steps (beyond the paper); the evolved "
                f"network before them: {r.info['test_before_polish']:.3g}"
            )
    summary = format_summary(rows)
    return "\n".join(lines) + ("\n" + summary if summary else "")


def format_summary(rows: list[Row]) -> str:
    """Per (task, method) run with several seeds: median, range, and how many seeds reach the
    published figure (at or below it; for aⁿbⁿcⁿ's "max n", higher is better and none is
    published). Empty when no pair has more than one seed."""
    groups: dict[tuple[str, str], list[Row]] = {}
    for r in rows:
        groups.setdefault((r.task, r.method), []).append(r)
    lines = []
    for (task, method), group in groups.items():
        if len(group) < 2:
            continue
        tests, metric = np.array([r.test for r in group]), group[0].metric
        low, high = tests.min(), tests.max()
        best, worst = (high, low) if metric == "max n" else (low, high)
        line = (
            f"{task} {method} over {len(group)} seeds: {metric} median {np.median(tests):.3g} "
            f"(best {best:.3g}, worst {worst:.3g})"
        )
        published = group[0].published
        if published is not None:
            line += f"; at or below the published {published:.3g} in {np.sum(tests <= published)}"
            line += f" of {len(group)}"
        lines.append(line)
    return "\n".join(lines)


def parser(prog: str = "bench_timeseries") -> argparse.ArgumentParser:
    """Command-line options, shared with ``evorl bench timeseries``."""
    p = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    add_arguments(p)
    return p


def run_from_args(args: argparse.Namespace) -> list[Row]:
    """Run the benchmark an argparse namespace describes and print the table."""
    torch.set_num_threads(1)  # small batched ops: extra threads only add overhead on 2 cores
    tasks = args.task or list(DEFAULT_TASKS)
    methods = args.method or list(METHODS)
    if "rpy-esn" in methods and not available():
        if args.method:
            raise ModuleNotFoundError(
                "method rpy-esn needs reservoirpy: pip install 'evorl-toolkit[bench]'"
            )
        methods.remove("rpy-esn")
        print("reservoirpy not installed: rpy-esn left out (pip install 'evorl-toolkit[bench]')")
    start = time.perf_counter()
    rows = run_benchmark(
        tasks,
        methods,
        quick=args.quick,
        seed=args.seed,
        seeds=args.seeds,
        out=Path(args.out),
        plots=not args.no_plots,
        settings=args.set or (),
    )
    print(format_table(rows))
    print(f"total wall time {time.perf_counter() - start:.1f} s; results in {args.out}/")
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``scripts/bench_timeseries.py``."""
    args = parser().parse_args(argv)
    unknown = [t for t in args.task or () if t not in TASKS]
    if unknown:
        parser().error(f"unknown task {unknown[0]!r}; known: {', '.join(TASKS)}")
    try:
        split_settings(args.set or ())
    except ConfigError as err:
        parser().error(str(err))
    run_from_args(args)
    return 0
