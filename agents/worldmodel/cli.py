"""``evorl wm ...``: the world-model pipeline from the command line (a plug-in of ``evorl``).

Installed through the ``evorl.commands`` entry-point group; :func:`register` adds ``wm`` with
one sub-command per stage. Every sub-command takes the pipeline directory (default
``runs/take-cover``); the first command on a new directory reads a preset or YAML file
(``--preset``), later ones start from the directory's saved config. Any config field can be
overridden with ``--section.field=value``, and the override is saved.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from evorl.commands.runner import add_logger_option
from evorl.errors import ConfigError

EXAMPLES = """examples:
  evorl wm run                                   # every stage on the take-cover task
  evorl wm run runs/tc --collect.episodes=50 --evolve.generations=20
  evorl wm collect runs/car --preset carracing   # stages one by one
  evorl wm train-vae runs/car --vae.epochs=20    # resumes from the last epoch
  evorl wm train-rnn runs/car
  evorl wm evolve runs/car --dream --temperature 1.15
  evorl wm eval runs/car --dream --temperature 1.15 --episodes 100
  evorl wm dream runs/car --temperature 1.15     # pictures: reconstructions, dream GIF
  evorl wm iterate runs/tc --rounds 3            # collect with C, retrain V and M, evolve C
  evorl wm diagnose runs/tc --round 3            # where the dream and reality disagree
"""

STAGES = ("collect", "train-vae", "train-rnn", "evolve", "eval", "dream", "run", "iterate",
          "diagnose")  # fmt: skip


def listing() -> list:
    """``evorl list``'s section of world-model presets (entry point ``evorl.listings``)."""
    from evorl.commands.listing import Section, preset_summary

    from .config import PRESET_DIR, preset_names

    entries = [(name, preset_summary(PRESET_DIR / f"{name}.yaml")) for name in preset_names()]
    return [Section("wm-presets", "world-model presets (evorl wm run DIR --preset NAME)", entries)]


def register(subparsers: Any) -> None:
    """Add ``wm`` and its stage sub-commands to the ``evorl`` command line."""
    wm = subparsers.add_parser(
        "wm",
        help="world models: VAE + MDN-RNN + controller evolved in the dream",
        description="The world model of Ha & Schmidhuber (2018): collect rollouts, train V "
        "and M, evolve C in the dream or the real env, evaluate, draw pictures.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = wm.add_subparsers(dest="stage", required=True, metavar="STAGE")
    helps = {
        "collect": "collect rollouts of a random policy as compressed shards",
        "train-vae": "train V, the convolutional VAE",
        "train-rnn": "encode the rollouts and train M, the MDN-RNN",
        "evolve": "evolve C by CMA-ES in the dream (--dream) or the real env",
        "eval": "test an evolved C in the real env",
        "dream": "pictures: reconstructions PNG and a real-vs-dream GIF",
        "run": "every stage in order (each resumes where it stopped)",
        "iterate": "rounds of: collect with C (plus noise), train V and M further, evolve C",
        "diagnose": "measure M, the dream's ranking and coverage on held-out real episodes",
    }
    for stage in STAGES:
        p = sub.add_parser(stage, help=helps[stage], description=helps[stage])
        p.add_argument("directory", nargs="?", default="runs/take-cover", help="pipeline folder")
        p.add_argument(
            "--preset", default=None, metavar="NAME|CONFIG.yaml", help="for a new folder"
        )
        p.add_argument("--quiet", action="store_true", help="no progress display")
        if stage in ("evolve", "eval", "dream", "iterate", "diagnose"):
            p.add_argument("--temperature", type=float, default=None, help="dream τ")
        if stage in ("evolve", "eval", "dream", "diagnose"):
            where = p.add_mutually_exclusive_group()
            where.add_argument("--dream", action="store_true", default=None, help="in the dream")
            where.add_argument("--real", dest="dream", action="store_false", help="in the real env")
        if stage in ("eval", "dream", "diagnose"):
            p.add_argument("--round", type=int, default=0, help="the C of this iterate round")
        if stage in ("eval", "diagnose"):
            p.add_argument("--episodes", type=int, default=None, help="real test episodes")
        if stage == "iterate":
            p.add_argument("--rounds", type=int, default=None, help="rounds after the first")
        if stage in ("evolve", "run", "iterate"):
            add_logger_option(p)  # the evolution of C is an evorl run
        p.set_defaults(
            handler=handle,
            accepts_overrides=True,
            config_class="evorl.agents.worldmodel.config:WorldModelConfig",
        )


def handle(args: argparse.Namespace) -> int:
    """Run one ``evorl wm`` stage."""
    from . import pipeline

    if getattr(args, "temperature", None) is not None and args.temperature <= 0:
        raise ConfigError("--temperature must be > 0")
    for flag, low in (("episodes", 1), ("round", 0), ("rounds", 0)):
        if getattr(args, flag, None) is not None and getattr(args, flag) < low:
            raise ConfigError(f"--{flag} must be >= {low}")
    directory = Path(args.directory)
    if (
        args.stage not in ("collect", "run", "iterate")
        and not (directory / pipeline.CONFIG).exists()
    ):
        raise ConfigError(
            f"no world-model pipeline in {directory}: start one with "
            f"`evorl wm collect {directory}` or `evorl wm run {directory}`"
        )
    config = pipeline.open_pipeline(directory, args.preset, list(args.overrides))
    dream = config.evolve.dream if getattr(args, "dream", None) is None else args.dream
    temperature = getattr(args, "temperature", None)
    temperature = config.evolve.temperature if temperature is None else temperature
    stage, quiet, round_index = args.stage, args.quiet, getattr(args, "round", 0)
    if stage == "collect":
        lines = [pipeline.stage_collect(config, directory, quiet)]
    elif stage == "train-vae":
        lines = [pipeline.stage_train_vae(config, directory, quiet)]
    elif stage == "train-rnn":
        lines = [pipeline.stage_train_rnn(config, directory, quiet)]
    elif stage == "evolve":
        lines = [pipeline.stage_evolve(config, directory, dream, temperature, quiet)]
    elif stage == "eval":
        score = pipeline.stage_eval(
            config, directory, dream, temperature, args.episodes, round_index
        )
        lines = [str(score)]
    elif stage == "dream":
        lines = [pipeline.stage_dream(config, directory, dream, temperature, round_index)]
    elif stage == "iterate":
        rounds = config.iterate.rounds if args.rounds is None else args.rounds
        lines = pipeline.stage_iterate(config, directory, rounds, temperature, quiet)
    elif stage == "diagnose":
        lines = pipeline.stage_diagnose(
            config, directory, dream, temperature, args.episodes, round_index
        )
    else:
        lines = pipeline.run_all(config, directory, quiet)
    print("\n".join(lines))
    return 0
