"""Optimizer settings as a config layer sees them: types, defaults, docs, strict building.

Each optimizer has a frozen ``Settings`` dataclass whose fields carry attribute docstrings; these
helpers describe the fields (for ``evorl list`` and the docs) and build an instance from the loose
values of a YAML file or a ``--optimizer.settings={...}`` override, with one-line errors.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Literal, NamedTuple

import numpy as np

from evorl.fielddocs import field_docs


class SettingInfo(NamedTuple):
    """One optimizer setting as a config layer sees it."""

    type: Any
    """The annotated type, e.g. ``float``, ``float | None`` or ``Literal['none', 'ipop']``."""
    default: Any
    """Default value."""
    doc: str
    """The field's docstring."""


def settings_info(settings_cls: type) -> dict[str, SettingInfo]:
    """``{field: SettingInfo(type, default, doc)}`` of a settings dataclass."""
    hints = typing.get_type_hints(settings_cls)
    docs = field_docs(settings_cls)
    out = {}
    for f in dataclasses.fields(settings_cls):
        missing = f.default is dataclasses.MISSING
        default = f.default_factory() if missing else f.default  # type: ignore[misc]
        out[f.name] = SettingInfo(hints[f.name], default, docs.get(f.name, ""))
    return out


def _matches(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, h) for h in typing.get_args(hint))
    if origin is Literal:
        return value in typing.get_args(hint)
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, int | float | np.integer | np.floating) and not isinstance(
            value, bool
        )
    if hint is int:
        return isinstance(value, int | np.integer) and not isinstance(value, bool)
    if origin is not None:
        return isinstance(value, origin)
    return isinstance(value, hint)


def _coerce(value: Any, hint: Any) -> Any:
    """YAML gives ``1`` where a float is meant; numpy scalars become Python numbers."""
    args = typing.get_args(hint) if typing.get_origin(hint) else (hint,)
    if isinstance(value, np.generic):
        value = value.item()
    if float in args and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def build_settings(settings_cls: type, optimizer_name: str, overrides: dict[str, Any]) -> Any:
    """A settings instance from keyword overrides, with errors a config user can act on."""
    info = settings_info(settings_cls)
    values = {}
    for key, value in overrides.items():
        if key not in info:
            raise ValueError(
                f"unknown setting {key!r} for optimizer {optimizer_name!r}; "
                f"known: {', '.join(info) or '(none)'}"
            )
        hint = info[key].type
        if not _matches(value, hint):
            raise ValueError(
                f"setting {key!r} for optimizer {optimizer_name!r} must be {_type_name(hint)}, "
                f"got {value!r}"
            )
        values[key] = _coerce(value, hint)
    return settings_cls(**values)


def _type_name(hint: Any) -> str:
    if typing.get_origin(hint) is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(hint))
    return getattr(hint, "__name__", None) or str(hint)
