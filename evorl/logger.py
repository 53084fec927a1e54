"""One small metrics logger: ``record(key, value)`` then ``dump(step)``, to CSV and JSONL, and
optionally to TensorBoard.

Keys are namespaced (``fitness/mean``, ``fitness/best``, ``perf/steps_per_s``, ``env/steps``).
JSONL is the complete record; the CSV's columns are fixed by the first row (as spreadsheet tools
expect), so keys that first appear later are only in the JSONL. A resumed run truncates both files
back to the checkpoint's step, so a resumed run's metrics equal an uninterrupted run's.

Extra writers receive the same rows. They are chosen outside the run's config, by the
``EVORL_LOGGER`` environment variable (``EVORL_LOGGER=tensorboard``) that the commands'
``--logger`` option sets: every kind of run (evolution, gradient, fit, the agents' runs) gets
them the same way, and a run's config and results do not depend on how it is watched.


* ``tensorboard`` — the numeric values of every row as scalars in an event file in the run
  directory (``events.out.tfevents.*``, step = the row's ``step``: generation, update or batch),
  through ``torch.utils.tensorboard`` (needs the ``tensorboard`` extra). ``tensorboard --logdir
  runs`` then shows each run directory as one run. A resumed run purges the events after its
  checkpoint, as it truncates the CSV and JSONL.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from evorl.errors import ConfigError

LOGGER_ENV = "EVORL_LOGGER"
"""Environment variable naming extra writers, comma-separated (see the module docstring)."""

WRITERS = {"tensorboard": "TensorBoard event file in the run directory (tensorboard extra)"}
"""The extra writers a run can ask for, with what they write."""


class Writer(Protocol):
    """An extra destination of the logger's rows."""

    def write(self, row: dict[str, Any]) -> None: ...

    def truncate(self, step: int) -> None: ...

    def close(self) -> None: ...


class Logger:
    """Collects one row of metrics per step and appends it to ``metrics.jsonl`` / ``metrics.csv``
    (and to the extra writers, see the module docstring).

    Args:
        directory: The run directory, or None to keep nothing (rows are still returned).
        writers: Extra writers by name (``["tensorboard"]``); None reads ``EVORL_LOGGER``.

    Example:
        >>> log = Logger()  # Logger(run_dir) appends to run_dir/metrics.jsonl and .csv
        >>> log.record("fitness/mean", 12.5)
        >>> log.dump(step=1)
        {'step': 1, 'fitness/mean': 12.5}
    """

    def __init__(
        self, directory: str | Path | None = None, writers: Sequence[str] | None = None
    ) -> None:
        self.directory = Path(directory) if directory is not None else None
        self._row: dict[str, Any] = {}
        self._columns: list[str] | None = None
        self.writers: list[Writer] = []
        if self.directory is not None:
            names = writer_names() if writers is None else list(writers)
            check_writers(names)
            self.writers = [_make_writer(name, self.directory) for name in names]
            if self.csv_path.exists():
                with self.csv_path.open() as fh:
                    self._columns = next(csv.reader(fh), None)

    @property
    def jsonl_path(self) -> Path:
        assert self.directory is not None
        return self.directory / "metrics.jsonl"

    @property
    def csv_path(self) -> Path:
        assert self.directory is not None
        return self.directory / "metrics.csv"

    def record(self, key: str, value: Any) -> None:
        self._row[key] = value

    def record_many(self, values: dict[str, Any]) -> None:
        self._row.update(values)

    def dump(self, step: int) -> dict[str, Any]:
        """Write the recorded row under ``step`` and start a new one; returns the row."""
        row = {"step": step, **{k: _plain(v) for k, v in self._row.items()}}
        self._row = {}
        if self.directory is None:
            return row
        with self.jsonl_path.open("a") as fh:
            fh.write(json.dumps(row) + "\n")
        new_file = self._columns is None
        if new_file:
            self._columns = list(row)
        with self.csv_path.open("a", newline="") as fh:
            writer = csv.writer(fh)
            if new_file:
                writer.writerow(self._columns)
            writer.writerow([row.get(k, "") for k in self._columns])
        for extra in self.writers:
            extra.write(row)
        return row

    def truncate(self, step: int) -> None:
        """Drop rows written after ``step`` (used when resuming from a checkpoint), and any row
        a kill left half-written."""
        if self.directory is None:
            return
        if self.jsonl_path.exists():
            rows = [line for line in self.jsonl_path.read_text().splitlines() if line.strip()]
            keep = [r for r in rows if (_step(r) is not None and _step(r) <= step)]
            self.jsonl_path.write_text("".join(r + "\n" for r in keep))
        if self.csv_path.exists():
            with self.csv_path.open(newline="") as fh:
                table = list(csv.reader(fh))
            if table:
                body = [r for r in table[1:] if r and r[0].isdigit() and int(r[0]) <= step]
                with self.csv_path.open("w", newline="") as fh:
                    csv.writer(fh).writerows([table[0], *body])
        for extra in self.writers:
            extra.truncate(step)

    def clear(self) -> None:
        """Remove the metrics files (a run that starts again from the beginning)."""
        if self.directory is None:
            return
        self.jsonl_path.unlink(missing_ok=True)
        self.csv_path.unlink(missing_ok=True)
        self._columns = None
        for extra in self.writers:
            extra.truncate(0)

    def close(self) -> None:
        """Flush and close the extra writers (the CSV and JSONL are closed after every row)."""
        for extra in self.writers:
            extra.close()


class TensorBoardWriter:
    """Rows as TensorBoard scalars in ``directory`` (one event file per session of a run).

    The event file is opened at the first row, so a resumed run can first say where it resumes:
    events at steps after that are then purged (TensorBoard's ``purge_step``).
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._writer: Any = None
        self._purge_step: int | None = None

    def write(self, row: dict[str, Any]) -> None:
        if self._writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(str(self.directory), purge_step=self._purge_step)
        step = int(row["step"])
        for key, value in row.items():
            if key != "step" and _is_scalar(value):
                self._writer.add_scalar(key, float(value), step)
        self._writer.flush()

    def truncate(self, step: int) -> None:
        self.close()
        self._purge_step = step + 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def writer_names() -> list[str]:
    """The extra writers named by ``EVORL_LOGGER`` (empty when unset)."""
    value = os.environ.get(LOGGER_ENV, "")
    return [name.strip() for name in value.split(",") if name.strip()]


def check_writers(names: Sequence[str]) -> None:
    """Raise :class:`~evorl.errors.ConfigError` for an unknown writer or a missing package."""
    for name in names:
        if name not in WRITERS:
            raise ConfigError(
                f"unknown logger {name!r} (from --logger or ${LOGGER_ENV}); known: "
                f"{', '.join(WRITERS)}"
            )
        if name == "tensorboard" and importlib.util.find_spec("tensorboard") is None:
            raise ConfigError(
                "the tensorboard logger needs TensorBoard: "
                "pip install 'evorl-toolkit[tensorboard]' -c constraints.txt"
            )


def _make_writer(name: str, directory: Path) -> Writer:
    return TensorBoardWriter(directory)


def read_metrics(directory: str | Path) -> list[dict[str, Any]]:
    """All rows of a run's ``metrics.jsonl``.

    Raises:
        ConfigError: The file is missing or a line is not a JSON row with a ``step``.
    """
    from evorl.errors import ConfigError

    path = Path(directory) / "metrics.jsonl"
    if not path.is_file():
        raise ConfigError(f"no metrics.jsonl in {directory}")
    rows = []
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        if _step(line) is None:
            raise ConfigError(f"{path} line {number} is not a metrics row")
        rows.append(json.loads(line))
    return rows


def _step(line: str) -> int | None:
    """The ``step`` of a JSONL row, or None for a line that is not a complete row."""
    try:
        row = json.loads(line)
    except json.JSONDecodeError:
        return None
    step = row.get("step") if isinstance(row, dict) else None
    return step if isinstance(step, int) else None


def _is_scalar(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
