"""The ``evorl`` command line: one parser, every command registered the same way.

Each command module defines ``register(subparsers)``, which adds its parser with
``set_defaults(handler=fn)``; ``fn(args) -> int`` runs it. Built-in commands are the modules of
this package; packages that evorl itself must not import (``evorl.agents``, third-party plug-ins)
add theirs through the ``evorl.commands`` entry-point group. Registration imports nothing heavy
(torch, numpy, matplotlib load when a command runs), so ``evorl --help`` starts quickly.

Configuration follows RNNLIB: a preset name or YAML file, then any field overridden with
``--section.field=value`` (values are YAML, so ``--controller.hidden=[8,8]`` works). Problems
the user can fix (unknown keys, wrong types, unknown envs, missing files) print one line on
stderr and exit with code 2; a run that cannot go on exits with 1 and keeps its last checkpoint.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.metadata
import os
import sys
from collections.abc import Iterator, Sequence
from typing import NoReturn

from evorl.errors import ConfigError, StopNow, TrainingError
from evorl.logger import LOGGER_ENV

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


COMMANDS: tuple[str, ...] = (
    "evorl.commands.runs",
    "evorl.commands.train",
    "evorl.commands.fit",
    "evorl.commands.inspect",
)
"""The built-in command modules, in the order ``evorl --help`` lists them."""

ENTRY_POINT_GROUP = "evorl.commands"
"""Plug-ins (``evorl.agents``, third parties) name a ``register`` function in this group."""


def _registrars() -> list:
    """The ``register`` functions of the built-in commands, then of the installed plug-ins."""
    found = [importlib.import_module(module).register for module in COMMANDS]
    plugins = sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name)
    return found + [entry.load() for entry in plugins]


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors are one line (and exit code 2), and a command that takes
    config overrides lists every config field in its ``--help``: a parser whose defaults name
    ``config_class="module:Class"`` appends each field, its default, the values it accepts and
    its description, generated from the dataclass when the help is shown."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

    def format_help(self) -> str:
        text = super().format_help()
        target = self.get_default("config_class")
        if not target:
            return text
        from evorl.config_io import describe

        module, name = target.split(":")
        fields = describe(getattr(importlib.import_module(module), name))
        head = "config fields (override any with --section.field=value; YAML values):"
        return text + "\n" + head + "\n" + "\n".join(fields) + "\n"


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

    for register in _registrars():
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``evorl`` command; returns the exit code."""
    parser = _parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        argv, overrides = _split_overrides(parser, argv)
        args = parser.parse_args(argv)
        if overrides and not getattr(args, "accepts_overrides", False):
            parser.error(f"unrecognized arguments: {' '.join(overrides)}")
        args.overrides = overrides
        with _logger_environment(getattr(args, "logger", None)):
            return args.handler(args)
    except ConfigError as err:
        print(f"evorl: error: {err}", file=sys.stderr)
        return 2
    except TrainingError as err:
        print(f"evorl: error: {err}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, StopNow):
        print(
            "evorl: interrupted; what was checkpointed is kept, and the same command (or evorl "
            "resume RUN) continues from it",
            file=sys.stderr,
        )
        return 130


@contextlib.contextmanager
def _logger_environment(value: str | None) -> Iterator[None]:
    """``--logger``'s value in ``EVORL_LOGGER`` (read by every Logger) while the command runs."""
    if value is None:
        yield
        return
    before = os.environ.get(LOGGER_ENV)
    os.environ[LOGGER_ENV] = value
    try:
        yield
    finally:
        if before is None:
            del os.environ[LOGGER_ENV]
        else:
            os.environ[LOGGER_ENV] = before


def entry() -> int:
    """The ``evorl`` executable: :func:`main`, then signals ignored while the interpreter exits.

    Python puts SIGINT back to the system default while it shuts down (torch's teardown takes a
    while), so a Ctrl-C arriving just after a run ended would otherwise replace the exit code
    with death by SIGINT."""
    import signal

    code = main()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    return code


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
