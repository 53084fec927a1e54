"""``evorl train PRESET|CONFIG [--key=value ...]``: gradient training from the command line.

Gradient runs are runs of evorl's one training loop, with evolution's run directories and policy
files, so ``evorl eval``, ``evorl plot`` and ``evorl resume`` work on them as they are.

Example:
    evorl train cartpole-novel                      # recurrent PPO, LSTM, CartPole w/o velocities
    evorl train tmaze-50 --algo=rpg --seed=2
    evorl train dpnv --init-from runs/dpnv-evolved  # fine-tune an evolved controller
    evorl train --list
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from evorl.commands.runner import add_device_option, add_logger_option, device_overrides
from evorl.errors import ConfigError

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
    add_logger_option(p)
    add_device_option(p, "device", "the update (loss, backward pass, Adam)")
    p.set_defaults(
        handler=train, accepts_overrides=True, config_class="evorl.gradient.config:GradientConfig"
    )


def train(args: argparse.Namespace) -> int:
    """Handler of ``evorl train``."""
    from evorl.gradient.config import dump_yaml, load_gradient_config

    if args.list:
        from evorl.commands.listing import format_section, gradient_presets, terminal_width

        print(format_section(gradient_presets(), terminal_width()))
        return 0
    overrides = list(args.overrides)
    if args.init_from is not None:
        if not Path(args.init_from).is_dir():
            raise ConfigError(f"--init-from: no run directory {args.init_from}")
        overrides.append(f"init_from={args.init_from}")
    overrides += device_overrides(args)
    config = load_gradient_config(args.source or "cartpole-novel", overrides)
    if args.print_config:
        print(dump_yaml(config), end="")
        return 0
    from evorl.builder import start_run
    from evorl.commands.runner import run_trainer
    from evorl.commands.runs import check_output

    check_output(config, args.run_dir)
    trainer = start_run(config, args.run_dir)
    return run_trainer(trainer, args.quiet, total_updates(config), f"{config.name} ({config.algo})")


def total_updates(cfg: Any) -> int | None:
    """Updates the budget allows, when known in advance (for the progress bar)."""
    if cfg.stop.iterations is not None:
        return cfg.stop.iterations
    if cfg.algo == "ppo" and cfg.stop.env_steps is not None:
        return math.ceil(cfg.stop.env_steps / (cfg.ppo.steps * cfg.ppo.num_envs))
    return None
