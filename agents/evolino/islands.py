"""Independent Evolino searches and polishes in parallel processes (``EvolinoConfig.workers``).

ESP's outcome on a hard series varies a lot from seed to seed (on Mackey-Glass, runs of the
same settings spread over a factor of 3 to 5 in test error), so on a machine with spare cores
the cheapest gain is several independent searches ("islands" without migration): search k of n
uses seed ``n * seed + k``, so that fits with different seeds share no search. Their finalists
are pooled for Evolino's final check. The gradient polish then refines the best network of every
search, again one process each, and the best-scoring result is kept. With a generation budget
the outcome equals the best of the same searches run one after another.

:class:`Workers` is one pool for both phases. Its processes are started with ``spawn`` (safe
with torch's thread pools), so a script that fits with workers needs the usual
``if __name__ == "__main__":`` guard; each runs torch on ``torch.get_num_threads() // workers``
threads (at least 1). Progress reaches the caller's callback through a queue; an exception in a
worker is raised in the caller, and a worker whose parent has died exits at its next report.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue as queue_module
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from evorl.agents.evolino.polish import Polished, polish

if TYPE_CHECKING:
    from evorl.agents.evolino.model import Callback, Evolino, Search
_reports: Any = None  # in a worker: the queue to the parent
_parent = 0  # in a worker: the parent's pid


def _start_worker(reports: Any, threads: int) -> None:
    global _reports, _parent
    _reports, _parent = reports, os.getppid()
    torch.set_num_threads(threads)


def _reporter(key: int) -> Callback:
    def report(step: int, best: float) -> None:
        if os.getppid() != _parent:  # the parent died: stop rather than run on as an orphan
            os._exit(1)
        _reports.put((key, step, best))

    return report


def _search_job(key: int, model: Evolino, series: np.ndarray, washout: int, seed: int) -> Search:
    return model.search(series, washout, _reporter(key), seed)


def _polish_job(
    key: int, model: Evolino, genome: np.ndarray, fitness: float, train: np.ndarray, washout: int
) -> Polished:
    return polish(model, genome, fitness, train, washout, _reporter(key))


class Workers:
    """``n`` worker processes for :meth:`searches` and :meth:`polish`; a context manager."""

    def __init__(self, n: int) -> None:
        ctx = mp.get_context("spawn")
        self.n, self._reports = n, ctx.Queue()
        threads = max(1, torch.get_num_threads() // n)
        self._pool = ProcessPoolExecutor(
            n, mp_context=ctx, initializer=_start_worker, initargs=(self._reports, threads)
        )

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc: Any) -> None:
        self._pool.shutdown(cancel_futures=True)
        self._reports.close()

    def searches(
        self, model: Evolino, series: np.ndarray, washout: int, callback: Callback | None = None
    ) -> list[Search]:
        """``n`` searches with seeds ``n * seed``, ``n * seed + 1``, … (``seed``: the config's)."""
        seeds = [self.n * model.config.seed + k for k in range(self.n)]
        return self._run(_search_job, [(model, series, washout, s) for s in seeds], callback)

    def polish(
        self,
        model: Evolino,
        starts: Sequence[tuple[np.ndarray, float]],
        train: np.ndarray,
        washout: int,
        callback: Callback | None = None,
    ) -> list[Polished]:
        """:func:`~evorl.agents.evolino.polish.polish` of every (genome, fitness) in ``starts``."""
        return self._run(_polish_job, [(model, g, f, train, washout) for g, f in starts], callback)

    def _run(
        self, job: Callable[..., Any], args: Sequence[tuple[Any, ...]], callback: Callback | None
    ) -> list[Any]:
        """``job(key, *a)`` for every ``a``; relays ``(key, step, best)`` reports as
        ``callback(max step, max best)``."""
        futures = [self._pool.submit(job, k, *a) for k, a in enumerate(args)]
        latest: dict[int, tuple[int, float]] = {}
        finished = False  # all jobs were done before the last wait began: nothing more comes
        while True:
            try:
                key, step, best = self._reports.get(timeout=0.2)
            except queue_module.Empty:
                if finished:
                    break
                finished = all(f.done() for f in futures)
                continue
            latest[key] = (step, best)
            if callback is not None:
                callback(max(s for s, _ in latest.values()), max(b for _, b in latest.values()))
        try:
            return [f.result() for f in futures]
        except BrokenProcessPool as exc:
            raise RuntimeError(
                "Evolino's worker processes died (workers > 1 spawns them: a script that fits "
                "with workers must run its code under if __name__ == '__main__':)"
            ) from exc
