"""``evorl evolve`` (start an evolution run) and ``evorl resume`` (continue any run)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from evorl.commands.runner import add_device_option, add_logger_option, device_overrides
from evorl.errors import ConfigError

EVOLVE_EXAMPLES = """examples:
  evorl evolve                  # default: LSTM + CMA-ES on CartPole without velocities
  evorl evolve pendulum --optimizer.popsize=64 --stop.generations=300
  evorl evolve my.yaml --seed=3 --eval.episodes=5
  evorl evolve hopper --print-config > hopper.yaml
  evorl evolve dpnv                             # non-Markov double pole, solve protocol
  evorl evolve cartpole-novel --workers 2       # evaluate on 2 Ray workers
"""


def register(sub: Any) -> None:
    """Add ``evolve`` and ``resume``."""
    p = sub.add_parser(
        "evolve",
        help="start an evolution run",
        epilog=EVOLVE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Start an evolution run from a preset or YAML config; any config "
        "field can be overridden with --section.field=value (see `evorl list presets`).",
    )
    p.add_argument(
        "source",
        nargs="?",
        default=None,
        metavar="PRESET|CONFIG.yaml",
        help="preset name or YAML file (default: cartpole-novel)",
    )
    p.add_argument("--run-dir", default=None, help="run directory (default: <out>/<name>-<time>)")
    p.add_argument("--quiet", action="store_true", help="no progress display")
    p.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    p.add_argument(
        "--init-from",
        default=None,
        metavar="RUN_DIR",
        help="start from the controller of an earlier run (evolved or gradient-trained)",
    )
    add_ray_flags(p)
    add_device_option(p, "eval.device", "the population's forward pass")
    add_logger_option(p)
    p.set_defaults(handler=evolve, accepts_overrides=True, config_class="evorl.config:RunConfig")

    p = sub.add_parser(
        "resume",
        help="continue a stopped run exactly where it left off",
        description="Continue a run (evolution, gradient or supervised) from its checkpoint; "
        "overrides may extend the budget, e.g. --stop.generations=500.",
    )
    p.add_argument("run_dir")
    p.add_argument("--quiet", action="store_true", help="no progress display")
    add_ray_flags(p)
    add_logger_option(p)
    p.set_defaults(handler=resume, accepts_overrides=True)


def add_ray_flags(p: argparse.ArgumentParser) -> None:
    """``--workers`` and ``--ray-address``, shortcuts for the ``eval.*`` fields."""
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="evaluate on N Ray workers (starts a local Ray instance; "
        "same as --eval.evaluator=ray --eval.workers=N)",
    )
    p.add_argument(
        "--ray-address",
        default=None,
        metavar="auto|HOST:PORT",
        help="join an existing Ray cluster instead (same as --eval.ray_address=...)",
    )


def ray_overrides(args: argparse.Namespace) -> list[str]:
    """``--workers`` / ``--ray-address`` as config overrides."""
    out = []
    if args.workers is not None:
        if args.workers < 1:
            raise ConfigError("--workers must be >= 1")
        out += ["eval.evaluator=ray", f"eval.workers={args.workers}"]
    if args.ray_address is not None:
        out += ["eval.evaluator=ray", f"eval.ray_address={args.ray_address}"]
    return out


def evolve(args: argparse.Namespace) -> int:
    """Handler of ``evorl evolve``."""
    from evorl.config import load_config, to_dict

    extra = [f"init_from={args.init_from}"] if args.init_from else []
    extra += device_overrides(args)
    config = load_config(args.source, args.overrides + ray_overrides(args) + extra)
    if args.print_config:
        import yaml

        print(yaml.safe_dump(to_dict(config), sort_keys=False), end="")
        return 0
    from evorl.builder import start_run
    from evorl.commands.runner import run_trainer

    check_output(config, args.run_dir)
    trainer = start_run(config, args.run_dir)
    total = config.stop.generations
    return run_trainer(trainer, args.quiet, total, config.name, config.eval.threads)


def check_output(config: Any, run_dir: str | None) -> None:
    """The run directory (or the folder of run directories) must be writable: checked before
    anything is built or written."""
    from evorl.rundir import check_writable

    if run_dir is not None:
        check_writable(run_dir, "--run-dir", directory=True)
    else:
        check_writable(config.out, "out", directory=True)


def resume(args: argparse.Namespace) -> int:
    """Handler of ``evorl resume``: any kind of run.

    Overrides may change only what :data:`evorl.rundir.RESUMABLE` allows; they are checked and
    the trainer is rebuilt and restored before the new config is saved, so a refused resume
    leaves the run directory as it was. A run killed before its first checkpoint starts again
    from the beginning.
    """
    import yaml

    from evorl.builder import resume_run, start_run
    from evorl.commands.runner import run_trainer
    from evorl.config import apply_overrides, from_dict, to_dict
    from evorl.rundir import (
        CHECKPOINT,
        CONFIG,
        atomic_write_text,
        check_resume_changes,
        clean_temporaries,
        load_run_config,
        run_kind,
    )

    run_dir = Path(args.run_dir)
    kind = run_kind(run_dir)
    saved = config = load_run_config(run_dir)
    overrides = list(args.overrides)
    if args.workers is not None or args.ray_address is not None:
        if kind != "evolution":
            raise ConfigError("--workers/--ray-address apply to evolution runs only")
        overrides += ray_overrides(args)
    if overrides:
        config = from_dict(type(config), apply_overrides(to_dict(config), overrides))
        check_resume_changes(kind, saved, config)
    check_writable_run(run_dir)
    if not (run_dir / CHECKPOINT).exists():
        print(f"{run_dir}: no checkpoint yet, starting the run from the beginning", file=sys.stderr)
        trainer = start_run(config, run_dir)
    else:
        trainer = resume_run(run_dir, config)
        clean_temporaries(run_dir)
        if config != saved:
            atomic_write_text(run_dir / CONFIG, yaml.safe_dump(to_dict(config), sort_keys=False))
    threads = config.eval.threads if kind == "evolution" else 1
    total = progress_total(kind, config)
    return run_trainer(trainer, args.quiet, total, label(kind, config), threads)


def check_writable_run(run_dir: Path) -> None:
    """A run directory that cannot be written cannot be resumed: one line, before any work."""
    from evorl.rundir import check_writable

    check_writable(run_dir, "run directory", directory=True)


def progress_total(kind: str, config: Any) -> int | None:
    """Iterations the budget allows, when known in advance (for the progress bar)."""
    if kind == "evolution":
        return config.stop.generations
    if kind == "gradient":
        from evorl.commands.train import total_updates

        return total_updates(config)
    return None  # fit and label runs: the bar counts without a total


def label(kind: str, config: Any) -> str:
    """What a run is called on its progress bar and summary line."""
    return f"{config.name} ({config.algo})" if kind == "gradient" else config.name
