"""How configs are read and checked: fields that say what they accept, strict building from plain
data, ``--key=value`` overrides, YAML files, and the field listings of ``--help``.

Every config of evorl is a frozen dataclass with a docstring under each field. A field that takes
a bounded number, one of a few words or a plain name declares it with :func:`spec`, and the
class's ``__post_init__`` calls :func:`check_fields`, so a config built from a YAML file, from
overrides or in Python is checked at the boundary, once, with a one-line
:class:`~evorl.errors.ConfigError` that names the key. :func:`from_dict` builds a config from
plain data strictly (unknown keys and wrong types fail) and reads numbers as a user writes them:
YAML 1.1 reads ``1e9`` and ``.5`` as strings, so a numeric field also takes a string that
spells a number (``1e9``, ``1.0e-3``, ``.5``, ``inf``).

Only the standard library and PyYAML are imported here (``evorl --help`` lists fields quickly).

Example:
    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... class Stop:
    ...     generations: int | None = spec(None, ge=1)
    ...     def __post_init__(self):
    ...         check_fields(self, "stop")
    >>> from_dict(Stop, {"generations": "1e3"}).generations
    1000
    >>> from_dict(Stop, {"generations": 0})
    Traceback (most recent call last):
    ...
    evorl.errors.ConfigError: stop.generations must be >= 1, got 0
"""

from __future__ import annotations

import dataclasses
import math
import re
import textwrap
import types
import typing
from pathlib import Path
from typing import Any

import yaml

from evorl.errors import ConfigError

_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?|[+-]?(inf|infinity)", re.I)
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
"""What a run name may be: a plain file name (no path separators, not hidden)."""
DEVICE = re.compile(r"cpu|auto|cuda(:\d+)?")
"""Where torch computes (:mod:`evorl.device`)."""
_PATTERN_WORDS = {
    NAME: "a plain name (letters, digits, '.', '_', '-')",
    DEVICE: "cpu, cuda, cuda:N or auto",
}


@dataclasses.dataclass(frozen=True)
class Rule:
    """What a field accepts (``None`` values are allowed where the type allows ``None``)."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    choices: tuple[Any, ...] | None = None
    pattern: re.Pattern | None = None

    def describe(self) -> str:
        """The rule in words, e.g. ``>= 1`` or ``one of auto, native, sync``."""
        bounds = ((">=", self.ge), (">", self.gt), ("<=", self.le))
        parts = [f"{op} {_num(v)}" for op, v in bounds if v is not None]
        if self.choices is not None:
            parts.append("one of " + ", ".join(str(c) for c in self.choices))
        if self.pattern is not None:
            parts.append(_PATTERN_WORDS.get(self.pattern, f"matching {self.pattern.pattern}"))
        return " and ".join(parts)


def spec(
    default: Any = dataclasses.MISSING,
    *,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    choices: tuple[Any, ...] | None = None,
    pattern: re.Pattern | None = None,
) -> Any:
    """A dataclass field with its default and the values it accepts (see :func:`check_fields`)."""
    rule = Rule(ge, gt, le, choices, pattern)
    if isinstance(default, dict | list):
        value = default
        make = lambda: type(value)(value)  # noqa: E731  a fresh copy per instance
        return dataclasses.field(default_factory=make, metadata={"rule": rule})
    return dataclasses.field(default=default, metadata={"rule": rule})


def check_fields(obj: Any, section: str = "") -> None:
    """Check every field of dataclass ``obj`` against its :func:`spec` rule.

    Raises:
        ConfigError: One line naming ``section.field``, the rule and the value.
    """
    for f in dataclasses.fields(obj):
        rule: Rule | None = f.metadata.get("rule")
        value = getattr(obj, f.name)
        if rule is None or value is None:
            continue
        key = f"{section}.{f.name}" if section else f.name
        if rule.choices is not None and value not in rule.choices:
            raise ConfigError(f"{key} must be {rule.describe()}; got {value!r}")
        if rule.pattern is not None and not (
            isinstance(value, str) and rule.pattern.fullmatch(value)
        ):
            raise ConfigError(f"{key} must be {rule.describe()}; got {value!r}")
        bounded = (rule.ge, rule.gt, rule.le) != (None, None, None)
        if bounded and isinstance(value, int | float) and not isinstance(value, bool):
            bad = math.isnan(value)
            bad |= rule.ge is not None and not value >= rule.ge
            bad |= rule.gt is not None and not value > rule.gt
            bad |= rule.le is not None and not value <= rule.le
            if bad:
                raise ConfigError(f"{key} must be {rule.describe()}, got {_num(value)}")


def _num(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


# --------------------------------------------------------------------------- building


def from_dict(cls: type, data: Any, where: str = "") -> Any:
    """Build dataclass ``cls`` from plain data, strictly: unknown keys and wrong types fail."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where or 'config'}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(str(k) for k in set(data) - names)
    if unknown:
        key = f"{where}.{unknown[0]}" if where else unknown[0]
        raise ConfigError(f"unknown config key '{key}' (known here: {', '.join(sorted(names))})")
    kwargs = {k: coerce(hints[k], v, f"{where}.{k}" if where else k) for k, v in data.items()}
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (ValueError, TypeError) as err:
        raise ConfigError(f"{where or 'config'}: {err}") from None


def to_dict(cfg: Any) -> dict[str, Any]:
    """Plain nested data (tuples as lists) for YAML and checkpoints."""

    def plain(value: Any) -> Any:
        if isinstance(value, tuple | list):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return plain(dataclasses.asdict(cfg))


def coerce(tp: Any, value: Any, key: str) -> Any:
    """``value`` as type ``tp`` (unions, nested dataclasses, tuples, dicts, scalars)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (types.UnionType, typing.Union):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return coerce(arg, value, key)
            except ConfigError as err:
                errors.append(err)
        raise errors[0]
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, key)
    if origin is tuple:
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = [value]  # `--controller.hidden=16` means (16,)
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        return tuple(coerce(args[0], v, key) for v in value)
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        if not all(isinstance(k, str) for k in value):
            raise ConfigError(f"{key}: keys must be names, got {list(value)!r}")
        return dict(value)
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        return [coerce(args[0], v, key) for v in value] if args else list(value)
    if tp is Any:
        return value
    return coerce_scalar(tp, value, key)


def coerce_scalar(tp: type, value: Any, key: str) -> Any:
    """A bool, int, float or str field's value; numbers may be spelled as strings."""
    if tp in (int, float) and isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        value = float(value)
    if tp is int and isinstance(value, float) and value.is_integer():
        value = int(value)
    ok = {
        bool: isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, int | float) and not isinstance(value, bool),
        str: isinstance(value, str),
    }.get(tp)
    if ok is None:
        raise ConfigError(f"{key}: unsupported field type {tp}")
    if not ok:
        raise ConfigError(f"{key}: expected {tp.__name__}, got {value!r}")
    return float(value) if tp is float else value


# --------------------------------------------------------------------------- files and overrides


def read_yaml(path: Path) -> dict[str, Any]:
    """A YAML file's top-level mapping, with one-line errors for every way it can be wrong."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text") from None
    except OSError as err:
        raise ConfigError(f"cannot read {path}: {err.strerror}") from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as err:
        where = getattr(err, "problem_mark", None)
        line = f" line {where.line + 1}" if where else ""
        raise ConfigError(f"malformed YAML in {path}{line}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping of config keys")
    return data


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``--a.b=value`` (or ``a.b=value``) overrides; values are parsed as YAML scalars."""
    data = _deep_copy(data)
    for item in overrides:
        text = item[2:] if item.startswith("--") else item
        if "=" not in text:
            raise ConfigError(f"override '{item}' must look like --key=value")
        dotted, raw = text.split("=", 1)
        try:
            value = yaml.safe_load(raw) if raw != "" else ""
        except yaml.YAMLError:
            value = raw
        keys = dotted.strip().split(".")
        if not all(keys):
            raise ConfigError(f"override '{item}': empty key")
        node = data
        for k in keys[:-1]:
            child = node.setdefault(k, {})
            if not isinstance(child, dict):
                raise ConfigError(f"override '{dotted}': '{k}' is not a section")
            node = child
        node[keys[-1]] = value
    return data


def _deep_copy(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _deep_copy(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_deep_copy(v) for v in data]
    return data


# --------------------------------------------------------------------------- help


def describe(cls: type, prefix: str = "") -> list[str]:
    """One line per field of ``cls`` and its nested sections: ``key (default): doc``."""
    from evorl.fielddocs import field_docs

    hints, docs, lines = typing.get_type_hints(cls), field_docs(cls), []
    for f in dataclasses.fields(cls):
        key = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(hints[f.name]):
            lines += describe(hints[f.name], f"{key}.")
            continue
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        rule: Rule | None = f.metadata.get("rule")
        accepts = f"; {rule.describe()}" if rule is not None and rule.describe() else ""
        doc = " ".join(docs.get(f.name, "").replace("``", "`").split())
        first = doc.split(". ")[0].rstrip(".") if doc else ""
        text = textwrap.fill(first, 96, initial_indent=" " * 6, subsequent_indent=" " * 6)
        lines.append(f"  --{key}={_show(default)}{accepts}" + (f"\n{text}" if first else ""))
    return lines


def _show(value: Any) -> str:
    """A default as a user writes it on the command line (YAML)."""
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, tuple | list):
        return "[" + ",".join(_show(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_show(v)}" for k, v in value.items()) + "}"
    return str(value)
