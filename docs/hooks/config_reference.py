"""MkDocs hook: the config reference, generated at build time from the config dataclasses.

Every field of evorl's config dataclasses carries its docstring (read by
:func:`evorl.fielddocs.field_docs`), and every optimizer's ``Settings`` too (read by
:func:`evorl.optimizers.optimizer_settings`). This hook replaces the marker
``<!-- evorl:config-reference -->`` in a page with one table per config section — key, type,
default, description — so the reference can never drift from the code: there is no copy.

Named in ``mkdocs.yml`` under ``hooks:``; needs evorl installed (``pip install -e ".[docs]"``).
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

import yaml

MARKER = "<!-- evorl:config-reference -->"

CONFIGS = (
    (
        "Evolution runs",
        "evorl.config:RunConfig",
        "`evorl evolve PRESET|CONFIG.yaml --key=value`; YAML files and presets use the same keys.",
    ),
    (
        "Gradient runs",
        "evorl.gradient.config:GradientConfig",
        "`evorl train PRESET|CONFIG.yaml --key=value` (recurrent PPO and RPG).",
    ),
    (
        "Supervised sequence learning",
        "evorl.supervised.config:FitConfig",
        "`evorl fit TASK --key=value`.",
    ),
    (
        "World models",
        "evorl.agents.worldmodel.config:WorldModelConfig",
        "`evorl wm STAGE DIR --key=value`; the pipeline directory keeps its `config.yaml`.",
    ),
)
"""(heading, "module:class", how it is used) of each config class the reference shows."""


def _load(where: str) -> type:
    import importlib

    module, _, name = where.partition(":")
    return getattr(importlib.import_module(module), name)


def _type_name(hint: Any) -> str:
    text = getattr(hint, "__name__", None) if not typing.get_args(hint) else None
    text = text or str(hint).replace("typing.", "")
    return text.replace("NoneType", "None").replace("|", "or")


def _value(value: Any) -> str:
    if dataclasses.is_dataclass(value):
        return ""
    if isinstance(value, tuple):
        value = list(value)
    text = yaml.safe_dump(value, default_flow_style=True, width=10**6).strip()
    text = text.removesuffix("\n...").removesuffix("...").strip()
    return f"`{text}`"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _rows(cls: type, default: Any, prefix: str) -> tuple[list[str], list[tuple[str, type, Any]]]:
    """Table rows of ``cls``'s plain fields, and its nested sections (key, class, default)."""
    from evorl.fielddocs import field_docs

    hints = typing.get_type_hints(cls)
    docs = field_docs(cls)
    rows, sections = [], []
    for f in dataclasses.fields(cls):
        value = getattr(default, f.name)
        key = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(value):
            sections.append((key, type(value), value))
            continue
        doc = _cell(docs.get(f.name, ""))
        rows.append(f"| `{key}` | {_type_name(hints[f.name])} | {_value(value)} | {doc} |")
    return rows, sections


def _table(rows: list[str]) -> list[str]:
    return ["| key | type | default | description |", "|---|---|---|---|", *rows, ""]


def config_markdown(heading: str, where: str, usage: str) -> list[str]:
    """The reference of one config class: its top-level fields, then each nested section."""
    cls = _load(where)
    default = _default(cls)
    lines = [f"## {heading}", "", f"`{cls.__name__}` — {usage}", ""]
    rows, sections = _rows(cls, default, "")
    lines += _table(rows)
    while sections:
        key, section_cls, value = sections.pop(0)
        rows, nested = _rows(section_cls, value, f"{key}.")
        lines += [f"### `{key}.*`", "", _first_line(section_cls), ""]
        lines += _table(rows)
        sections = nested + sections
    return lines


def _default(cls: type) -> Any:
    """A default instance, or (for classes that insist on a choice) one built from its fields'
    defaults without validation."""
    try:
        return cls()
    except Exception:  # e.g. a config that needs a task; fall back to the field defaults
        values = {}
        for f in dataclasses.fields(cls):
            if f.default is not dataclasses.MISSING:
                values[f.name] = f.default
            elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
                values[f.name] = f.default_factory()  # type: ignore[misc]
        instance = object.__new__(cls)
        for name, value in values.items():
            object.__setattr__(instance, name, value)
        return instance


def _first_line(cls: type) -> str:
    doc = (cls.__doc__ or "").strip()
    return doc.split("\n\n")[0].replace("\n", " ") if doc else ""


def optimizer_markdown() -> list[str]:
    """Each optimizer's settings (``--optimizer.settings={key: value}``)."""
    from evorl.optimizers import OPTIMIZERS, optimizer_settings

    lines = [
        "## Optimizer settings",
        "",
        "`optimizer.settings` takes the chosen optimizer's settings, e.g. "
        "`'--optimizer.settings={restarts: bipop}'` (quoted for the shell). Unknown keys and "
        "wrong types are errors.",
        "",
    ]
    for name in OPTIMIZERS:
        lines += [f"### `{name}`", "", OPTIMIZERS.summary(name), ""]
        rows = [
            f"| `{key}` | {_type_name(info.type)} | {_value(info.default)} | {_cell(info.doc)} |"
            for key, info in optimizer_settings(name).items()
        ]
        lines += _table(rows) if rows else ["No settings.", ""]
    return lines


def reference_markdown() -> str:
    """The whole generated reference."""
    lines: list[str] = []
    for heading, where, usage in CONFIGS:
        lines += config_markdown(heading, where, usage)
    lines += optimizer_markdown()
    return "\n".join(lines)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """MkDocs event: put the generated reference where the page has the marker."""
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, reference_markdown())
