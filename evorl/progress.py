"""The one progress display: a live rich bar on a terminal, plain lines elsewhere.

Every long job of evorl and of its agents shows its progress with :class:`Progress`: training
runs use it as a trainer hook (the bar follows the iterations and shows the row's fitness, test
score and speed), pipeline stages and benchmarks call :meth:`Progress.update` themselves. On a
terminal (stderr) the bar is live; in a log file or CI, where a live bar would only add noise,
a plain status line is printed at most every ``every`` seconds and once at the end.

Example:
    >>> with Progress("collect", total=4, quiet=True) as bar:
    ...     for _ in range(4):
    ...         bar.update(advance=1, status="one more")
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichProgress


class Progress:
    """A progress bar with a status text; also a trainer hook (see the module docstring).

    Args:
        description: What is running (shown before the bar).
        total: Units to complete (None: unknown).
        quiet: Show nothing.
        every: Seconds between plain status lines when stderr is not a terminal.
    """

    def __init__(
        self, description: str, total: int | None = None, quiet: bool = False, every: float = 10.0
    ) -> None:
        self.console = Console(stderr=True)
        self.quiet = quiet
        self.live = self.console.is_terminal and not quiet
        self.description, self.every = description, every
        self._last_line = -math.inf
        self._status = ""
        self._bar = RichProgress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            console=self.console,
            disable=not self.live,
        )
        self._task = self._bar.add_task(description, total=total, status="")

    def __enter__(self) -> Progress:
        self._bar.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._bar.stop()
        if not self.live and not self.quiet and self._status:
            self._line()

    def update(
        self, completed: int | None = None, advance: int | None = None, status: str = ""
    ) -> None:
        """Move the bar (to ``completed``, or by ``advance``) and show ``status``."""
        self._status = status or self._status
        self._bar.update(self._task, completed=completed, advance=advance, status=self._status)
        if not self.live and not self.quiet and time.monotonic() - self._last_line >= self.every:
            self._line()

    def _line(self) -> None:
        done = int(self._bar.tasks[0].completed)
        print(f"{self.description} {done:>6}  {self._status}", file=sys.stderr, flush=True)
        self._last_line = time.monotonic()

    def __call__(self, trainer: Any, row: dict[str, Any]) -> None:
        """Trainer hook: the bar follows ``row["step"]``; the status summarises the row."""
        self.update(completed=row["step"], status=row_status(row))


def row_status(row: dict[str, Any]) -> str:
    """A short status of a metrics row: fitness, losses, test score, speed (what it has)."""
    parts = []
    for key, label in (
        ("fitness/best", "best"),
        ("fitness/mean", "mean"),
        ("loss/train", "loss"),
        ("test/score", "test"),
        ("test/correct", "test right"),
        ("valid/error", "valid error"),
    ):
        value = row.get(key)
        if value is not None and not (isinstance(value, float) and math.isnan(value)):
            parts.append(f"{label} {value:.4g}")
    speed = row.get("perf/steps_per_s")
    if speed:
        parts.append(f"{speed:,.0f} steps/s")
    return "  ".join(parts)
