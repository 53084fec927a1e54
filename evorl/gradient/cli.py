"""``evorl train PRESET|CONFIG [--key=value ...]``: gradient training from the command line.

A CLI extension module (see ``EXTENSIONS`` in :mod:`evorl.cli`): :func:`register` adds ``train``.
Gradient runs use evolution's run directories, so ``evorl eval`` and ``evorl plot`` work on them
as they are; ``evorl resume`` hands a gradient run (``kind: gradient`` in its ``config.yaml``) to
:func:`resume`.

Example:
    evorl train cartpole-novel                      # recurrent PPO, LSTM, CartPole w/o velocities
    evorl train tmaze-50 --algo=rpg --seed=2
    evorl train dpnv --init-from runs/dpnv-evolved  # fine-tune an evolved controller
    evorl train --list
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

from evorl.config import ConfigError, apply_overrides, to_dict

EXAMPLES = """examples:
  evorl train cartpole-novel                   # recurrent PPO on CartPole without velocities
  evorl train tmaze-50 --algo=rpg --seed=2     # RPG on the T-maze, corridor length 50
  evorl train dpnv --init-from RUN_DIR         # start from an evolved (or trained) controller
  evorl train my.yaml --stop.env_steps=20000 --ppo.bptt=16
  evorl resume RUN_DIR --stop.env_steps=200000 # continue a gradient run
"""


def register(subparsers: Any) -> None:
    """Add ``train`` to the ``evorl`` command line."""
    p = subparsers.add_parser(
        "train",
        help="train a controller by recurrent policy gradients or recurrent PPO",
        description="Gradient training (algo: ppo | rpg) of an evorl controller from a gradient "
        "preset or YAML config; any field can be overridden with --section.field=value.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "source",
        nargs="?",
        default=None,
        metavar="PRESET|CONFIG.yaml",
        help="gradient preset or YAML file (default: cartpole-novel)",
    )
    p.add_argument("--run-dir", default=None, help="run directory (default: <out>/<name>-<time>)")
    p.add_argument(
        "--init-from",
        default=None,
        metavar="RUN_DIR",
        help="start from the best controller of a run (evolved or trained)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress display")
    p.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    p.add_argument("--list", action="store_true", help="list the gradient presets and exit")
    p.set_defaults(handler=train, accepts_overrides=True)  # fmt: skip


def train(args: argparse.Namespace) -> int:
    """Handler of ``evorl train``."""
    from evorl.gradient.config import dump_yaml, load_gradient_config, preset_names

    if args.list:
        print("\n".join(_preset_lines(preset_names())))
        return 0
    overrides = list(args.overrides)
    if args.init_from is not None:
        if not Path(args.init_from).is_dir():
            raise ConfigError(f"--init-from: no run directory {args.init_from}")
        overrides.append(f"init_from={args.init_from}")
    config = load_gradient_config(args.source or "cartpole-novel", overrides)
    if args.print_config:
        print(dump_yaml(config), end="")
        return 0
    from evorl.gradient.trainer import start_run

    return run_trainer(start_run(config, args.run_dir), args.quiet)


def resume(run_dir: str | Path, overrides: list[str], quiet: bool = False) -> int:
    """``evorl resume`` of a gradient run: overrides (e.g. a larger budget) are saved first."""
    from evorl.gradient.config import config_from_dict, dump_yaml
    from evorl.gradient.trainer import load_run_config, resume_run
    from evorl.rundir import CONFIG, atomic_write_text

    run_dir = Path(run_dir)
    config = load_run_config(run_dir)
    if overrides:
        config = config_from_dict(apply_overrides(to_dict(config), overrides))
        atomic_write_text(run_dir / CONFIG, dump_yaml(config))
    return run_trainer(resume_run(run_dir, config), quiet)


def run_trainer(trainer: Any, quiet: bool) -> int:
    """Run to a stopping rule with a progress display; print a one-line summary."""
    import torch

    from evorl.progress import ProgressHook

    # Small recurrent nets step fastest on one thread; intra-op threads only add synchronisation
    # (measured 30x slower with 2 threads on a busy 2-core machine).
    torch.set_num_threads(1)

    cfg = trainer.config
    print(f"run directory: {trainer.run_dir}", file=sys.stderr)
    try:
        if quiet:
            st = trainer.run()
        else:
            with ProgressHook(_total_updates(cfg), f"{cfg.name} ({cfg.algo})") as hook:
                trainer.hooks.append(hook)
                st = trainer.run()
    except KeyboardInterrupt:
        trainer.checkpoint()
        print(f"evorl: interrupted; continue with: evorl resume {trainer.run_dir}", file=sys.stderr)
        return 130
    finally:
        trainer.close()
    print(
        f"{cfg.name}: stopped ({st.stop_reason}) after {st.iteration} updates, "
        f"{st.episodes} episodes, {st.env_steps} env steps, {st.elapsed:.1f} s; "
        f"best test score {st.champion_score:.4g} (update {st.champion_iteration}); "
        f"{'SOLVED' if st.solved else 'not solved'}"
    )
    print(f"run directory: {trainer.run_dir}")
    return 0


def _total_updates(cfg: Any) -> int | None:
    """Updates the budget allows, when known in advance (for the progress bar)."""
    if cfg.stop.iterations is not None:
        return cfg.stop.iterations
    if cfg.algo == "ppo" and cfg.stop.env_steps is not None:
        return math.ceil(cfg.stop.env_steps / (cfg.ppo.steps * cfg.ppo.num_envs))
    return None


def _preset_lines(names: list[str]) -> list[str]:
    from evorl.config import read_source
    from evorl.gradient.config import PRESET_DIR

    lines = []
    for name in names:
        data = read_source(str(PRESET_DIR / f"{name}.yaml"))
        notes = " ".join(str(data.get("notes", "")).split()).split(". ")[0].rstrip(".")
        env = data.get("env", {}).get("id", "")
        lines.append(f"  {name:<22} {data.get('algo', 'ppo'):<4} {env:<24} {notes}")
    return lines
