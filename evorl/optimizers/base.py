"""What every optimizer shares: the ask/tell protocol, argument checks, seeding, settings.

The optimizers themselves are plain classes (no common base class); they call these helpers so
that every one of them validates its inputs, seeds itself and describes its settings the same way.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import inspect
import itertools
import math
import textwrap
import types
import typing
from typing import Any, Literal, NamedTuple, Protocol, runtime_checkable

import numpy as np

SeedLike = int | np.random.SeedSequence
"""An optimizer seed: a non-negative int or a ``numpy.random.SeedSequence`` (e.g. a child)."""


@runtime_checkable
class Optimizer(Protocol):
    """Black-box maximiser with an ask/tell interface on flat float64 vectors.

    Higher fitness is better. One generation is ``x = opt.ask()`` (shape ``(popsize, dim)``),
    evaluate every row, then ``opt.tell(x, fitness)``. ``state_dict()`` captures everything,
    RNG included, so that a restored optimizer asks exactly what the original would have.

    Example:
        >>> from evorl.optimizers import make_optimizer
        >>> opt = make_optimizer("snes", np.zeros(3), sigma=0.5, popsize=None, seed=1)
        >>> for _ in range(5):
        ...     x = opt.ask()
        ...     metrics = opt.tell(x, -np.sum((x - 1.0) ** 2, axis=1))
    """

    name: str
    dim: int

    @property
    def popsize(self) -> int:
        """Number of rows the next ``ask()`` returns (may change, e.g. on IPOP restarts)."""
        ...

    @property
    def center(self) -> np.ndarray:
        """The current search-distribution mean (or best estimate), shape ``(dim,)``."""
        ...

    def ask(self) -> np.ndarray:
        """Candidates to evaluate, shape ``(popsize, dim)``, float64."""
        ...

    def tell(self, candidates: np.ndarray, fitness: np.ndarray) -> dict[str, float]:
        """Update from the fitness (higher is better) of the last ``ask()``; returns metrics."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """Picklable snapshot of the full state, RNG included."""
        ...

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a snapshot taken by ``state_dict()`` of an optimizer of the same kind and dim."""
        ...


# --------------------------------------------------------------------------- arguments


def make_rng(seed: SeedLike) -> np.random.Generator:
    """The optimizer's own generator; library code never touches numpy's global RNG."""
    if isinstance(seed, np.random.SeedSequence):
        return np.random.default_rng(seed)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative int or a SeedSequence, got {seed!r}")
    return np.random.default_rng(np.random.SeedSequence(int(seed)))


def as_x0(x0: np.ndarray) -> np.ndarray:
    """A private float64 copy of the start point; must be a finite non-empty vector."""
    x = np.array(x0, dtype=np.float64, copy=True)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"x0 must be a non-empty 1-D vector, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("x0 contains NaN/inf")
    return x


def as_sigma(sigma: float) -> float:
    """The initial step size as a positive finite float."""
    s = float(sigma)
    if not (math.isfinite(s) and s > 0):
        raise ValueError(f"sigma must be a positive finite number, got {sigma!r}")
    return s


def default_popsize(dim: int, *, multiple_of: int = 1, minimum: int = 4) -> int:
    """The NES/CMA-ES default ``4 + floor(3 ln d)``, rounded up to a multiple (pairs, quarters)."""
    n = max(minimum, 4 + int(3 * math.log(dim)))
    return -(-n // multiple_of) * multiple_of


def check_popsize(
    name: str, popsize: int | None, dim: int, *, multiple_of: int = 1, minimum: int = 2
) -> int:
    """``popsize`` validated, or the default when ``None``."""
    if popsize is None:
        return default_popsize(dim, multiple_of=multiple_of, minimum=max(minimum, 4))
    if isinstance(popsize, bool) or not isinstance(popsize, int | np.integer):
        raise ValueError(f"{name}: popsize must be an int, got {popsize!r}")
    if popsize < minimum or popsize % multiple_of:
        rule = f" and a multiple of {multiple_of}" if multiple_of > 1 else ""
        raise ValueError(f"{name}: popsize must be >= {minimum}{rule}, got {popsize}")
    return int(popsize)


def check_tell(
    name: str, candidates: np.ndarray, fitness: np.ndarray, shape: tuple[int, int]
) -> np.ndarray:
    """Validate a ``tell()`` call; returns the fitness as a float64 vector."""
    cand_shape = np.shape(candidates)
    if cand_shape != shape:
        raise ValueError(
            f"{name}: candidates must have the shape of the last ask(), {shape}; got {cand_shape}"
        )
    f = np.asarray(fitness, dtype=np.float64)
    if f.shape != (shape[0],):
        raise ValueError(f"{name}: fitness must have shape ({shape[0]},), got {f.shape}")
    bad = np.flatnonzero(~np.isfinite(f))
    if bad.size:
        raise ValueError(f"{name}: fitness contains NaN/inf at indices {bad.tolist()}")
    return f


def check_state(name: str, dim: int, state: dict[str, Any]) -> None:
    """Refuse a state dict saved by another optimizer kind or for another dimension."""
    if state.get("name") != name or state.get("dim") != dim:
        raise ValueError(
            f"{name}: state_dict is for optimizer {state.get('name')!r} with dim "
            f"{state.get('dim')!r}, not {name!r} with dim {dim}"
        )


def rng_state(rng: np.random.Generator) -> dict[str, Any]:
    """A copy of the generator's state (plain dict of ints/strings)."""
    return dict(rng.bit_generator.state)


def restore_rng(rng: np.random.Generator, state: dict[str, Any]) -> None:
    """Put a generator back into a state returned by :func:`rng_state`."""
    rng.bit_generator.state = dict(state)


def copy_or_none(a: np.ndarray | None) -> np.ndarray | None:
    """``a.copy()``, passing ``None`` through (for pending-ask buffers in state dicts)."""
    return None if a is None else np.array(a, copy=True)


# --------------------------------------------------------------------------- settings


class SettingInfo(NamedTuple):
    """One optimizer setting as a config layer sees it."""

    type: Any
    """The annotated type, e.g. ``float``, ``float | None`` or ``Literal['none', 'ipop']``."""
    default: Any
    """Default value."""
    doc: str
    """The field's docstring."""


@functools.cache
def _field_docs(cls: type) -> dict[str, str]:
    """Attribute docstrings (the string literal under each field), read from the class source."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError, SyntaxError):  # no source (frozen app, REPL): docs are optional
        return {}
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    docs = {}
    for node, nxt in itertools.pairwise(body):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(nxt, ast.Expr)
            and isinstance(nxt.value, ast.Constant)
            and isinstance(nxt.value.value, str)
        ):
            docs[node.target.id] = inspect.cleandoc(nxt.value.value)
    return docs


def settings_info(settings_cls: type) -> dict[str, SettingInfo]:
    """``{field: SettingInfo(type, default, doc)}`` of a settings dataclass."""
    hints = typing.get_type_hints(settings_cls)
    docs = _field_docs(settings_cls)
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
