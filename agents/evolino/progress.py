"""Benchmark progress: a live rich bar on a terminal, sparse plain lines elsewhere."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn


class BenchProgress:
    """Context manager; :meth:`track` yields the ``callback(step, best_fitness)`` of one fit.

    Args:
        live: Force the live bar on or off; None: on when stderr is a terminal.
        every: Seconds between plain progress lines when not live.
    """

    def __init__(self, live: bool | None = None, every: float = 15.0) -> None:
        self.console = Console(stderr=True)
        self.live = self.console.is_terminal if live is None else live
        self.every = every
        self._progress = Progress(
            TextColumn("[bold]{task.description:<22}"),
            BarColumn(),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            console=self.console,
            disable=not self.live,
        )

    def __enter__(self) -> BenchProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._progress.stop()

    @contextlib.contextmanager
    def track(
        self, task: str, method: str, total: int | None
    ) -> Iterator[Callable[[int, float], None]]:
        """Show one fit; the callback takes (generation or update, best fitness = -log NRMSE)."""
        name = f"{task} {method}"
        bar = self._progress.add_task(name, total=total, status="")
        last = [time.perf_counter()]

        def update(step: int, best: float) -> None:
            status = f"step {step}  best fitness {best:.4g}"
            self._progress.update(bar, completed=step, status=status)
            if not self.live and time.perf_counter() - last[0] > self.every:
                last[0] = time.perf_counter()
                print(f"{name}: {status}", file=sys.stderr, flush=True)

        try:
            yield update
        finally:
            self._progress.update(bar, visible=False)

    def done(self, row: Any, label: str | None = None) -> None:
        """One line per finished (task, method); ``label`` names the method (default its name)."""
        self.console.print(
            f"{row.task} {label or row.method}: {row.metric} {row.test:.4g} ({row.seconds:.1f} s)",
            highlight=False,
        )
