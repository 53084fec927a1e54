"""One small metrics logger: ``record(key, value)`` then ``dump(step)``, to CSV and JSONL.

Keys are namespaced (``fitness/mean``, ``fitness/best``, ``perf/steps_per_s``, ``env/steps``).
JSONL is the complete record; the CSV's columns are fixed by the first row (as spreadsheet tools
expect), so keys that first appear later are only in the JSONL. A resumed run truncates both files
back to the checkpoint's step, so a resumed run's metrics equal an uninterrupted run's.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any


class Logger:
    """Collects one row of metrics per step and appends it to ``metrics.jsonl`` / ``metrics.csv``.

    Example:
        >>> log = Logger()  # Logger(run_dir) appends to run_dir/metrics.jsonl and .csv
        >>> log.record("fitness/mean", 12.5)
        >>> log.dump(step=1)
        {'step': 1, 'fitness/mean': 12.5}
    """

    def __init__(self, directory: str | Path | None = None) -> None:
        self.directory = Path(directory) if directory is not None else None
        self._row: dict[str, Any] = {}
        self._columns: list[str] | None = None
        if self.directory is not None and self.csv_path.exists():
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

    def clear(self) -> None:
        """Remove the metrics files (a run that starts again from the beginning)."""
        if self.directory is None:
            return
        self.jsonl_path.unlink(missing_ok=True)
        self.csv_path.unlink(missing_ok=True)
        self._columns = None


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


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
