"""Run directories: the resolved config, metrics, and checkpoints written atomically.

Layout of ``<out>/<name>-<YYYYmmdd-HHMMSS>/``, for every kind of run::

    config.yaml          the resolved config (what `evorl resume` rebuilds the run from); a
                         ``kind:`` key names gradient and supervised runs (none: evolution)
    metrics.jsonl/.csv   one row per iteration (see evorl.logger)
    checkpoint.pt        latest full training state; `evorl resume` continues from it exactly
    best.pt              the best policy so far (see evorl.policy)

A checkpoint is one dict (nanoGPT style) pickled with ``torch.save`` to a temporary file in the
same folder, flushed to disk, then renamed over the old one: a crash mid-write leaves the previous
checkpoint intact. Its schema (``format`` 2)::

    format, versions     this schema's version; the library versions that wrote it
    kind                 evolution | gradient | fit | label | an agent's kind
    config               the run's config as plain data
    trainer              the loop's counters (evorl.training.trainer.TrainState)
    learner, tester      their state dicts (optimizer and RNG, weights, statistics, ...)
    champion, policy     policy files of the champion and of the learner's latest policy

``best.pt`` holds ``format``, ``versions``, ``kind`` and ``policy`` (the champion's).
"""

from __future__ import annotations

import importlib
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import yaml

from evorl.config import ConfigError, from_dict, to_dict

CHECKPOINT = "checkpoint.pt"
BEST = "best.pt"
CONFIG = "config.yaml"
FORMAT_VERSION = 2
RUN_KINDS = {
    "evolution": ("evorl.config", "RunConfig"),
    "gradient": ("evorl.gradient.config", "GradientConfig"),
    "fit": ("evorl.supervised.config", "FitConfig"),
    "label": ("evorl.labelling.config", "LabelConfig"),
}
"""The config class of each kind of run directory (imported when a run of that kind is read)."""

RESUMABLE = {
    "evolution": (
        "stop", "checkpoint_every", "notes", "eval.evaluator", "eval.workers",
        "eval.ray_address", "eval.ray_timeout", "eval.threads", "eval.max_envs",
        "eval.test_every", "eval.test_episodes",
    ),
    "gradient": ("stop", "checkpoint_every", "notes", "eval"),
    "fit": ("max_sequences", "wall_time", "eval_every", "stop_on_solve", "checkpoint_every"),
    "label": ("max_epochs", "wall_time", "max_tests_no_best", "checkpoint_every"),
}  # fmt: skip
"""What ``evorl resume`` may change, per kind: budgets, tests, where and how fast it runs —
never what the run's numbers depend on (env, controller, optimizer, seed, ...)."""


def check_resume_changes(kind: str, saved: Any, wanted: Any) -> None:
    """Refuse (ConfigError) overrides that a resumed run cannot take, before anything is written.

    Raises:
        ConfigError: One line naming the first field that may not change, and those that may.
    """
    before, after = _flat(to_dict(saved)), _flat(to_dict(wanted))
    allowed = RESUMABLE.get(kind, ())
    for key in sorted(set(before) | set(after)):
        if before.get(key) == after.get(key):
            continue
        if not any(key == a or key.startswith(a + ".") for a in allowed):
            raise ConfigError(
                f"a resumed run keeps its {key} ({before.get(key)!r}); it may change only "
                f"{', '.join(allowed)} (start a new run for the rest)"
            )


def _flat(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and value and key not in ("kwargs", "settings", "task_options"):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def clean_temporaries(run_dir: Path) -> int:
    """Remove the temporary files a kill during an atomic write left behind; returns how many."""
    stale = list(Path(run_dir).glob(".*.tmp"))
    for path in stale:
        path.unlink(missing_ok=True)
    return len(stale)


def check_writable(path: str | Path, what: str, directory: bool = False) -> Path:
    """Refuse (ConfigError) an output path that cannot be written, before any work starts.

    ``directory``: ``path`` is a folder to create (or reuse); else a file whose folder is created.
    """
    path = Path(path)
    if directory and path.exists() and not path.is_dir():
        raise ConfigError(f"{what} {path}: exists and is not a folder")
    if not directory and path.is_dir():
        raise ConfigError(f"{what} {path}: is a folder, not a file")
    folder = path if directory else path.parent
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(f"{what} {path}: {existing} is a file, not a folder")
    try:  # the only sure test (root passes permission checks; /proc refuses anyway)
        probe = tempfile.mkdtemp(dir=existing, prefix=".evorl-write-test-")
        os.rmdir(probe)
    except OSError as err:
        raise ConfigError(f"{what} {path}: cannot write in {existing} ({err.strerror})") from None
    if not directory and path.exists() and not os.access(path, os.W_OK):
        raise ConfigError(f"{what} {path}: not writable")
    return path


def create_run_dir(config: Any, path: str | Path | None = None) -> Path:
    """Make a fresh run directory (``path`` or a timestamped one under ``config.out``)."""
    if path is None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = Path(config.out) / f"{config.name}-{stamp}"
        suffix = 1
        while path.exists():
            path = Path(config.out) / f"{config.name}-{stamp}-{suffix}"
            suffix += 1
    path = Path(path)
    if (path / CHECKPOINT).exists():
        raise ConfigError(f"{path} already holds a run; use `evorl resume {path}`")
    path.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path / CONFIG, yaml.safe_dump(to_dict(config), sort_keys=False))
    return path


def run_kind(run_dir: str | Path) -> str:
    """The kind of run saved in ``run_dir`` (from its ``config.yaml``)."""
    return _read_config(run_dir).get("kind", "evolution")


def load_run_config(run_dir: str | Path) -> Any:
    """The resolved config saved in a run directory, as its kind's config class."""
    data = _read_config(run_dir)
    kind = data.get("kind", "evolution")
    if kind not in RUN_KINDS:
        raise ConfigError(f"{Path(run_dir) / CONFIG}: unknown kind {kind!r}")
    module, name = RUN_KINDS[kind]
    return from_dict(getattr(importlib.import_module(module), name), data)


def _read_config(run_dir: str | Path) -> dict[str, Any]:
    path = Path(run_dir) / CONFIG
    if not path.is_file():
        raise ConfigError(f"not a run directory (no {CONFIG}): {run_dir}")
    try:
        data = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError):
        raise ConfigError(f"{path} is not valid YAML") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping of config keys")
    return data


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda fh: fh.write(text.encode()))


def save_checkpoint(path: Path, payload: dict[str, Any], kind: str) -> None:
    """Write ``payload`` atomically to ``path``, with the schema's ``format``, the library
    ``versions`` and the ``kind`` of file (``evolution``, ``gradient``, ``fit``: a run's
    checkpoint or policy; an agent's model: ``glimpse``, ``wm-vae``, ``wm-rnn``)."""
    import torch

    payload = {**payload, "format": FORMAT_VERSION, "versions": versions(), "kind": kind}
    atomic_write(path, lambda fh: torch.save(payload, fh))


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (our own files: full unpickling)."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"no checkpoint at {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # a truncated or foreign file
        raise ConfigError(f"cannot read checkpoint {path}: {type(err).__name__}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT_VERSION:
        found = payload.get("format") if isinstance(payload, dict) else None
        raise ConfigError(
            f"{path}: checkpoint format {found} is not this evorl's ({FORMAT_VERSION}); "
            "it was written by another version"
        )
    return payload


def versions() -> dict[str, str]:
    """Versions of everything that can change a run's numbers (from the installed packages'
    metadata: nothing is imported, so a run that never uses pycma does not load it)."""
    from importlib.metadata import PackageNotFoundError, version

    def installed(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    import evorl

    found = {name: installed(name) for name in ("numpy", "torch", "gymnasium", "cma")}
    python = {"python": sys.version.split()[0], "platform": platform.platform()}
    return {"evorl": evorl.__version__, **found, **python}


class _Writes:
    """Atomic writes in progress, and an interruption waiting for them to end."""

    depth = 0
    pending: BaseException | None = None


def interrupt(exc: BaseException) -> None:
    """Raise ``exc`` (a signal handler's way to stop the run now), or, while an atomic write is
    in progress, as soon as it ends: a file being written is never cut short (torch's zip writer
    turns an exception inside it into an unrelated error)."""
    if _Writes.depth:
        _Writes.pending = exc
        return
    raise exc


def atomic_write(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Write ``path`` by ``write(binary file)`` atomically: a temporary file in the same folder,
    synced, then renamed over ``path`` (a crash leaves the old file or the new one, never half).
    An :func:`interrupt` during the write is raised once the file is in place."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    _Writes.depth += 1
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    finally:
        _Writes.depth -= 1
    if not _Writes.depth and _Writes.pending is not None:
        exc, _Writes.pending = _Writes.pending, None
        raise exc
