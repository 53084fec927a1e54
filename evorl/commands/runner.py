"""How every command runs a trainer: progress display, interrupt, summary line, exit code."""

from __future__ import annotations

import sys
from typing import Any

from evorl.errors import TrainingError

UNITS = {"evolution": "generations", "gradient": "updates", "fit": "batches", "label": "updates"}


def run_trainer(trainer: Any, quiet: bool, total: int | None, label: str, threads: int = 1) -> int:
    """Run ``trainer`` to a stopping rule with a progress display; print a one-line summary.

    Args:
        trainer: A built (started or resumed) :class:`~evorl.training.Trainer`.
        quiet: No progress display.
        total: Iterations the budget allows, when known (for the bar).
        label: What the bar is called.
        threads: torch threads (small recurrent nets step fastest on one: intra-op threads
            only add synchronisation, measured 30x slower with 2 threads on a busy 2-core
            machine).
    """
    import torch

    from evorl.progress import Progress

    torch.set_num_threads(threads)
    print(f"run directory: {trainer.run_dir}", file=sys.stderr)
    try:
        with Progress(label, total, quiet=quiet) as progress:
            trainer.hooks.append(progress)
            st = trainer.run()
    except TrainingError as err:
        print(f"evorl: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        trainer.checkpoint()
        print(f"evorl: interrupted; continue with: evorl resume {trainer.run_dir}", file=sys.stderr)
        return 130
    finally:
        trainer.close()
    unit = UNITS.get(trainer.kind, "iterations")
    labelling = trainer.kind == "label"  # scored by an error on validation data, never solved
    if st.champion_iteration < 0:
        best = "not tested yet"
    elif labelling:
        best = (
            f"best validation error {-st.champion_score:.4g} ({unit[:-1]} {st.champion_iteration})"
        )
    else:
        best = f"best test score {st.champion_score:.4g} ({unit[:-1]} {st.champion_iteration})"
    counts = "sequences, points" if labelling else "episodes, env steps"
    print(
        f"{label}: stopped ({st.stop_reason}) after {st.iteration} {unit}, "
        f"{st.episodes} {counts.split(', ')[0]}, {st.env_steps} {counts.split(', ')[1]}, "
        f"{st.elapsed:.1f} s; {best}"
        + ("" if labelling else f"; {'SOLVED' if st.solved else 'not solved'}")
    )
    print(f"run directory: {trainer.run_dir}")
    return 0
