"""Progress display for long runs: a live rich bar on a terminal, plain lines elsewhere."""

from __future__ import annotations

import sys
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


def progress_bar(console: Console, live: bool) -> Progress:
    """The bar every evorl progress display uses: description, bar, n/total, status, time."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        console=console,
        disable=not live,
    )


class ProgressHook:
    """A trainer hook that shows generation, fitness, test score and speed as the run goes.

    Use as a context manager around ``trainer.run()``.
    """

    def __init__(self, total: int | None, description: str, every: int = 10) -> None:
        self.console = Console(stderr=True)
        self.live = self.console.is_terminal
        self.every = every
        self.description = description
        self._progress = progress_bar(self.console, self.live)
        self._task = self._progress.add_task(description, total=total, status="")

    def __enter__(self) -> ProgressHook:
        self._progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._progress.stop()

    def __call__(self, trainer: Any, row: dict[str, Any]) -> None:
        status = _status(row)
        self._progress.update(self._task, completed=row["step"], status=status)
        if not self.live and (row["step"] % self.every == 0 or trainer.state.stop_reason):
            print(f"{self.description} gen {row['step']:>5}  {status}", file=sys.stderr, flush=True)


def _status(row: dict[str, Any]) -> str:
    parts = [f"best {row['fitness/best']:.4g}", f"mean {row['fitness/mean']:.4g}"]
    if row.get("test/score") is not None:
        parts.append(f"test {row['test/score']:.4g}")
    parts.append(f"{row['perf/steps_per_s']:,.0f} steps/s")
    return "  ".join(parts)
