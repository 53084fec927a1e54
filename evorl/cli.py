"""The ``evorl`` command line: evolve, resume, eval, plot, list.

Configuration follows RNNLIB: a preset name or YAML file, then any field overridden with
``--section.field=value`` (values are YAML, so ``--controller.hidden=[8,8]`` works). Problems
the user can fix (unknown keys, wrong types, unknown envs, missing files) print one line on
stderr and exit with code 2; a run that cannot go on exits with 1 and keeps its last checkpoint.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from evorl.config import RunConfig, from_dict, load_config
from evorl.errors import ConfigError, TrainingError

EPILOG = """examples:
  evorl evolve                  # default: LSTM + CMA-ES on CartPole without velocities
  evorl evolve pendulum --optimizer.popsize=64 --stop.generations=300
  evorl evolve my.yaml --seed=3 --eval.episodes=5
  evorl resume runs/cartpole-novel-20261121-120000 --stop.generations=500
  evorl eval runs/cartpole-novel-20261121-120000 --episodes 100 --video cartpole.gif
  evorl plot runs/cartpole-novel-20261121-120000
  evorl list presets
  evorl fit reber --plot reber.png              # supervised: LSTM by BPTT on embedded Reber
  evorl train cartpole-novel --algo=ppo         # gradient: recurrent PPO / RPG (evorl train --list)
  evorl evolve dpnv                             # non-Markov double pole, solve protocol
  evorl eval runs/dpnv-... --pole-tests         # 100,000-step test + generalisation
  evorl bench timeseries --task sines2          # Evolino vs ESN vs gradient LSTM
  evorl glimpse train cluttered --glimpses 8    # recurrent visual attention
  evorl wm run                                  # world model: collect, V, M, evolve in the dream
"""


# Modules that add commands: each defines ``register(subparsers)``, which adds its parser(s) with
# ``set_defaults(handler=fn)``; ``fn(args) -> int`` runs the command (ConfigError -> exit 2).
# A parser that also sets ``accepts_overrides=True`` receives ``--key=value`` overrides as
# ``args.overrides`` (a list of "key=value" strings).
EXTENSIONS: tuple[str, ...] = ("evorl.supervised.cli", "evorl.gradient.cli")

# Packages that evorl itself must not import (``evorl.agents``, third-party plug-ins) add their
# commands through this entry-point group instead; each entry point names a ``register``.
ENTRY_POINT_GROUP = "evorl.commands"


def _registrars() -> list:
    """The ``register`` functions of the built-in extensions, then of the installed plug-ins."""
    found = [importlib.import_module(module).register for module in EXTENSIONS]
    plugins = sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name)
    return found + [entry.load() for entry in plugins]


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors are one line (and exit code 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="evorl",
        description="Train recurrent neural controllers by neuroevolution.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_Parser
    )

    p = sub.add_parser(
        "evolve",
        help="start an evolution run",
        epilog=EPILOG,
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
    _add_ray_flags(p)

    p = sub.add_parser(
        "resume",
        help="continue a stopped run exactly where it left off",
        description="Continue a run from its checkpoint; overrides may extend the "
        "budget, e.g. --stop.generations=500.",
    )
    p.add_argument("run_dir")
    p.add_argument("--quiet", action="store_true", help="no progress display")
    _add_ray_flags(p)

    p = sub.add_parser(
        "eval",
        help="test a trained controller; optionally render a video",
        description="Run test episodes of a run's best controller; --video writes a GIF or MP4.",
    )
    p.add_argument("run_dir")
    p.add_argument("--episodes", type=int, default=20, help="test episodes (default 20)")
    p.add_argument("--seed", type=int, default=10_000, help="first reset seed (default 10000)")
    p.add_argument(
        "--checkpoint",
        choices=("best", "latest"),
        default="best",
        help="best tested controller or the latest centre (default best)",
    )
    p.add_argument(
        "--video", default=None, metavar="FILE", help="render one episode to FILE (.gif/.mp4)"
    )
    p.add_argument(
        "--pole-tests",
        action="store_true",
        help="pole-balancing runs: also the 100,000-step balance test from the standard start "
        "and Gruau et al.'s generalisation test (625 start states, 1,000 steps each)",
    )

    p = sub.add_parser("plot", help="learning curves of a run as PNG")
    p.add_argument("run_dir")
    p.add_argument("--out", default=None, help="PNG path (default RUN_DIR/learning_curve.png)")

    p = sub.add_parser("list", help="list presets, envs, controllers, optimizers")
    p.add_argument(
        "what",
        nargs="?",
        default="all",
        choices=("all", "presets", "envs", "controllers", "optimizers"),
    )
    for register in _registrars():
        register(sub)
    return parser


def _add_ray_flags(p: argparse.ArgumentParser) -> None:
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


def _ray_overrides(args: argparse.Namespace) -> list[str]:
    """``--workers`` / ``--ray-address`` as config overrides."""
    out = []
    if args.workers is not None:
        if args.workers < 1:
            raise ConfigError("--workers must be >= 1")
        out += ["eval.evaluator=ray", f"eval.workers={args.workers}"]
    if args.ray_address is not None:
        out += ["eval.evaluator=ray", f"eval.ray_address={args.ray_address}"]
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``evorl`` command; returns the exit code."""
    parser = _parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        argv, overrides = _split_overrides(parser, argv)
        args = parser.parse_args(argv)
        takes_overrides = getattr(args, "accepts_overrides", args.command in ("evolve", "resume"))
        if overrides and not takes_overrides:
            parser.error(f"unrecognized arguments: {' '.join(overrides)}")
        if hasattr(args, "handler"):
            args.overrides = overrides
            return args.handler(args)
        return _COMMANDS[args.command](args, overrides)
    except ConfigError as err:
        print(f"evorl: error: {err}", file=sys.stderr)
        return 2
    except TrainingError as err:
        print(f"evorl: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("evorl: interrupted", file=sys.stderr)
        return 130


def _split_overrides(
    parser: argparse.ArgumentParser, argv: list[str]
) -> tuple[list[str], list[str]]:
    """Separate ``--key=value`` / ``--key value`` config overrides from the command's own options.

    Any ``--option`` that neither the chosen command nor its chosen sub-command (``evorl wm
    evolve ...``) defines is a config override; without ``=`` the next token is its value.
    """
    known = _command_options(parser, argv)
    if known is None:
        return argv, []
    kept, overrides, i = argv[:1], [], 1
    while i < len(argv):
        item = argv[i]
        key = item.split("=", 1)[0]
        if not item.startswith("--") or key in known or item == "--":
            kept.append(item)
        elif "=" in item:
            overrides.append(item[2:])
        elif i + 1 < len(argv) and not argv[i + 1].startswith("--"):
            overrides.append(f"{item[2:]}={argv[i + 1]}")
            i += 1
        else:
            raise ConfigError(f"override '{item}' needs a value: {item}=VALUE")
        i += 1
    return kept, overrides


def _subparsers(parser: argparse.ArgumentParser) -> argparse._SubParsersAction | None:
    return next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)


def _command_options(parser: argparse.ArgumentParser, argv: list[str]) -> set[str] | None:
    """Option strings of the command named by ``argv[0]`` and of its nested sub-commands named
    by the next positional tokens; None when ``argv[0]`` is no command."""
    sub = _subparsers(parser)
    command = sub.choices.get(argv[0]) if sub is not None and argv else None
    if command is None:
        return None
    known = set(command._option_string_actions)
    for token in argv[1:]:
        sub = _subparsers(command)
        if sub is None:
            break
        if token in sub.choices:
            command = sub.choices[token]
            known |= set(command._option_string_actions)
    return known


def _train(trainer, quiet: bool) -> int:
    import torch

    from evorl.progress import ProgressHook

    cfg = trainer.config
    torch.set_num_threads(cfg.eval.threads)
    print(f"run directory: {trainer.run_dir}", file=sys.stderr)
    try:
        if quiet:
            state = trainer.run()
        else:
            with ProgressHook(cfg.stop.generations, cfg.name) as hook:
                trainer.hooks.append(hook)
                state = trainer.run()
    except TrainingError as err:
        print(f"evorl: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        trainer.checkpoint()
        print(f"evorl: interrupted; continue with: evorl resume {trainer.run_dir}", file=sys.stderr)
        return 130
    finally:
        trainer.evaluator.close()
    st = state
    print(
        f"{cfg.name}: stopped ({st.stop_reason}) after {st.generation} generations, "
        f"{st.evaluations} episodes, {st.env_steps} env steps, {st.elapsed:.1f} s; "
        f"best test score {st.champion_score:.4g} (generation {st.champion_generation}); "
        f"{'SOLVED' if st.solved else 'not solved'}"
    )
    print(f"run directory: {trainer.run_dir}")
    return 0


def _cmd_evolve(args: argparse.Namespace, overrides: list[str]) -> int:
    from evorl.config import to_dict
    from evorl.experiment import start_run

    extra = [f"init_from={args.init_from}"] if args.init_from else []
    config = load_config(args.source, overrides + _ray_overrides(args) + extra)
    if args.print_config:
        import yaml

        print(yaml.safe_dump(to_dict(config), sort_keys=False), end="")
        return 0
    return _train(start_run(config, args.run_dir), args.quiet)


def _cmd_resume(args: argparse.Namespace, overrides: list[str]) -> int:
    from evorl.config import apply_overrides, to_dict
    from evorl.experiment import resume_run
    from evorl.gradient.trainer import is_gradient_run
    from evorl.rundir import atomic_write_text, load_run_config

    if is_gradient_run(args.run_dir):
        if args.workers is not None or args.ray_address is not None:
            raise ConfigError("--workers/--ray-address apply to evolution runs only")
        from evorl.gradient.cli import resume

        return resume(args.run_dir, overrides, quiet=args.quiet)
    run_dir = Path(args.run_dir)
    config = load_run_config(run_dir)
    overrides = overrides + _ray_overrides(args)
    if overrides:
        import yaml

        config = from_dict(RunConfig, apply_overrides(to_dict(config), overrides))
        atomic_write_text(run_dir / "config.yaml", yaml.safe_dump(to_dict(config), sort_keys=False))
    return _train(resume_run(run_dir, config), args.quiet)


def _cmd_eval(args: argparse.Namespace, _: list[str]) -> int:
    from evorl.playback import evaluate_policy, load_policy, record_video

    if args.episodes < 1:
        raise ConfigError("--episodes must be >= 1")
    policy = load_policy(args.run_dir, args.checkpoint)
    returns = evaluate_policy(policy, args.episodes, args.seed)
    print(
        f"{policy.config.env.id}: mean return {returns.mean():.2f} ± {returns.std():.2f} "
        f"over {args.episodes} episodes (min {returns.min():.2f}, max {returns.max():.2f})"
    )
    if args.pole_tests:
        _print_pole_tests(policy)
    if args.video:
        score = record_video(policy, args.video, args.seed)
        print(f"video: {args.video} (return {score:.2f})")
    return 0


def _print_pole_tests(policy) -> None:
    from evorl import pole_protocol
    from evorl.pole_protocol import balance_steps, generalization

    steps = pole_protocol.TEST_STEPS
    env_cfg, normalizer = policy.config.env, policy.normalizer()
    balanced = int(balance_steps(policy.controller, policy.params, env_cfg, steps, normalizer)[0])
    score = generalization(policy.controller, policy.params, env_cfg, normalizer)
    verdict = "passed" if balanced >= steps else "failed"
    print(
        f"balance test: {balanced:,} of {steps:,} steps ({verdict}); "
        f"generalisation: {score} of 625 start states balanced for 1,000 steps"
    )


def _cmd_plot(args: argparse.Namespace, _: list[str]) -> int:
    from evorl.plotting import plot_run

    print(plot_run(args.run_dir, args.out))
    return 0


def _cmd_list(args: argparse.Namespace, _: list[str]) -> int:
    from evorl.listing import listing

    print(listing(args.what))
    return 0


_COMMANDS = {
    "evolve": _cmd_evolve,
    "resume": _cmd_resume,
    "eval": _cmd_eval,
    "plot": _cmd_plot,
    "list": _cmd_list,
}


if __name__ == "__main__":
    sys.exit(main())
