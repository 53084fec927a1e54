"""``evorl list``: everything a user can name or run, one whole description each.

Each section lists one registry: the evolution, gradient and world-model presets, the glimpse,
fit and bench tasks, the envs, controllers and optimizers. evorl's own sections are built here;
packages that evorl must not import (``evorl.agents``) add theirs through the ``evorl.listings``
entry-point group, naming a function that returns a list of :class:`Section`. Nothing here
imports torch or pycma: presets are YAML files, and the registries keep their summaries as data
(:mod:`evorl.registry`), so ``evorl list`` answers in well under a second.

Example:
    >>> first_sentence("Non-Markov (Wieland; Gomez et al. 2008), i.e. hard. Tuned on seeds 1-5.")
    'Non-Markov (Wieland; Gomez et al. 2008), i.e. hard.'
"""

from __future__ import annotations

import importlib.metadata
import re
import shutil
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from evorl.errors import ConfigError

ENTRY_POINT_GROUP = "evorl.listings"
"""Plug-ins name a function returning ``list[Section]`` in this group."""

ORDER = (
    "presets",
    "gradient-presets",
    "wm-presets",
    "glimpse-tasks",
    "fit-tasks",
    "bench-tasks",
    "envs",
    "controllers",
    "optimizers",
)
"""The order of the sections (plug-in sections not named here come last)."""

_ABBREVIATIONS = ("et al", "i.e", "e.g", "cf", "vs", "approx", "resp", "Fig", "Eq", "No")


@dataclass(frozen=True)
class Section:
    """One registry as ``evorl list`` shows it."""

    name: str
    """What ``evorl list NAME`` selects (``presets``, ``glimpse-tasks``, ...)."""
    title: str
    """The heading: what the entries are and how they are used."""
    entries: list[tuple[str, str]]
    """(name, one-line description) in listing order."""
    note: str = ""
    """A closing line, if any."""
    names: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", [name for name, _ in self.entries])


def first_sentence(text: str) -> str:
    """The first sentence of ``text`` (whitespace collapsed): up to the first full stop that
    is outside brackets and not an abbreviation ("et al.", "i.e.", an initial)."""
    text = " ".join(str(text).split())
    depth = 0
    for i, char in enumerate(text):
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth = max(0, depth - 1)
        elif char == "." and depth == 0 and (i + 1 == len(text) or text[i + 1] == " "):
            before = text[:i]
            if before.endswith(_ABBREVIATIONS) or re.search(r"\b[A-Za-z]$", before):
                continue
            return text[: i + 1]
    return text


def preset_summary(path: str | Path) -> str:
    """The first sentence of a preset file's ``notes``."""
    from evorl.config import read_source

    return first_sentence(read_source(str(path)).get("notes", ""))


# ---------------------------------------------------------------------------------- sections


def presets() -> Section:
    from evorl.config import PRESET_DIR, preset_names, read_source

    entries = []
    for name in preset_names():
        data = read_source(str(PRESET_DIR / f"{name}.yaml"))
        env = data.get("env", {}).get("id", "CartPole-v1")
        kind = data.get("controller", {}).get("kind", "lstm")
        opt = data.get("optimizer", {}).get("name", "cmaes")
        summary = first_sentence(data.get("notes", ""))
        entries.append((name, f"{summary} [{env} · {kind} · {opt}]"))
    return Section("presets", "evolution presets (evorl evolve PRESET)", entries)


def gradient_presets() -> Section:
    from evorl.config import read_source
    from evorl.gradient.config import PRESET_DIR, preset_names

    entries = []
    for name in preset_names():
        data = read_source(str(PRESET_DIR / f"{name}.yaml"))
        env = data.get("env", {}).get("id", "")
        summary = first_sentence(data.get("notes", ""))
        entries.append((name, f"{summary} [{data.get('algo', 'ppo')} · {env}]"))
    return Section("gradient-presets", "gradient presets (evorl train PRESET)", entries)


def fit_tasks() -> Section:
    from evorl.supervised.config import TASK_DEFAULTS
    from evorl.tasks.sequences import TASKS

    entries = []
    for name, entry in TASKS.items():
        d = TASK_DEFAULTS[name]
        net = f"{d['controller']['kind']}{list(d['controller'].get('hidden', []))}"
        entries.append(
            (name, f"{entry.summary[:1].upper()}{entry.summary[1:]} [{d['algo']}, {net}]")
        )
    return Section("fit-tasks", "sequence tasks (evorl fit TASK)", entries)


def envs() -> Section:
    import evorl.envs

    described = dict(re.findall(r"``(evorl/[^`]+)``\s+(.+)", evorl.envs.__doc__ or ""))
    entries = [
        (env_id, described.get(env_id, "").strip() or _entry_point_summary(env_id))
        for env_id in evorl.envs.ENV_IDS
    ]
    exact = ", ".join(evorl.envs.EXACT_VECTOR_VERSIONS)
    note = (
        "...and every Gymnasium id (CartPole-v1, Pendulum-v1, HalfCheetah-v5, ...); natively "
        f"vectorised (exact, fast): {exact}, and the evorl/ pole envs"
    )
    return Section("envs", "environments (--env.id=ID; any Gymnasium id works)", entries, note)


def _entry_point_summary(env_id: str) -> str:
    """The first line of the docstring of the env's entry point (for an env the envs package's
    table does not describe)."""
    import importlib

    import gymnasium as gym

    entry = gym.spec(env_id).entry_point
    if isinstance(entry, str):
        module, _, name = entry.partition(":")
        entry = getattr(importlib.import_module(module), name)
    return first_sentence((entry.__doc__ or "").strip().split("\n\n")[0])


def controllers() -> Section:
    from evorl.controllers import CONTROLLERS

    entries = [(k, CONTROLLERS.summary(k)) for k in CONTROLLERS]
    return Section("controllers", "controllers (--controller.kind=NAME)", entries)


def optimizers() -> Section:
    from evorl.optimizers import OPTIMIZERS

    entries = [(k, OPTIMIZERS.summary(k)) for k in OPTIMIZERS]
    return Section("optimizers", "optimizers (--optimizer.name=NAME)", entries)


BUILT_IN: tuple[Callable[[], Section], ...] = (
    presets,
    gradient_presets,
    fit_tasks,
    envs,
    controllers,
    optimizers,
)


def plugin_sections() -> list[Section]:
    """The sections of the installed plug-ins (``evorl.listings`` entry points)."""
    found = []
    for entry in sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=str):
        found.extend(entry.load()())
    return found


def sections() -> list[Section]:
    """Every section, in :data:`ORDER`."""
    found = [make() for make in BUILT_IN] + plugin_sections()
    rank = {name: i for i, name in enumerate(ORDER)}
    return sorted(found, key=lambda s: rank.get(s.name, len(ORDER)))


# ---------------------------------------------------------------------------------- text


def format_section(section: Section, width: int | None = None) -> str:
    """The section as text: a heading, then one line per entry (name, whole description);
    with ``width``, descriptions wrap under their column (a long name on a line of its own)."""
    longest = max(len(name) for name in section.names) + 4
    column = longest if width is None else min(28, longest)  # a pipe: one line per entry
    wrap = width or 10**6
    lines = [f"{section.title}:"]
    for name, description in section.entries:
        head = f"  {name}".ljust(column)
        if len(head) > column:
            lines.append(head)
            head = " " * column
        text = description.replace("``", "")
        indent = " " * column
        lines.extend(
            textwrap.wrap(text, wrap, initial_indent=head, subsequent_indent=indent)
            or [head.rstrip()]
        )
    if section.note:
        lines.extend(textwrap.wrap(section.note, wrap, initial_indent="  ", subsequent_indent="  "))
    return "\n".join(lines)


def terminal_width() -> int | None:
    """The terminal's width when stdout is one (wrap there); None for a pipe or a file (one
    line per entry, for grep)."""
    import sys

    return max(72, shutil.get_terminal_size().columns) if sys.stdout.isatty() else None


def listing(what: str = "all", width: int | None = None) -> str:
    """``evorl list [WHAT]``: every section, or the one named ``what``."""
    found = sections()
    if what != "all":
        known = [s.name for s in found]
        if what not in known:
            raise ConfigError(f"nothing called {what!r} to list; known: all, {', '.join(known)}")
        found = [s for s in found if s.name == what]
    return "\n\n".join(format_section(s, width) for s in found)
