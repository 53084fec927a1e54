"""How every command runs a trainer: progress display, interrupts, summary line, exit code; and
the ``--logger`` option every training command shares.

Interrupts: the first SIGINT (Ctrl-C) or SIGTERM lets the current iteration finish and writes a
checkpoint at that boundary, so ``evorl resume`` continues exactly; a second SIGINT stops at
once, without writing (the last checkpoint stands, and resume continues from it exactly too).
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
from collections.abc import Iterator
from typing import Any

from evorl.errors import StopNow, TrainingError
from evorl.logger import LOGGER_ENV, WRITERS
from evorl.rundir import interrupt

UNITS = {"evolution": "generations", "gradient": "updates", "fit": "batches", "label": "updates"}
MORE = {
    "evolution": "--stop.generations=N",
    "gradient": "--stop.env_steps=N",
    "fit": "--max_sequences=N",
    "label": "--max_epochs=N",
}
"""How to give each kind of run a larger budget on ``evorl resume``."""


@contextlib.contextmanager
def graceful_interrupts(trainer: Any) -> Iterator[None]:
    """Within the block, SIGINT/SIGTERM ask ``trainer`` to stop at the next iteration boundary;
    a second SIGINT raises :class:`StopNow` (stop now, write nothing)."""

    def ask(signum: int, frame: Any) -> None:
        if trainer.stop_request and signum == signal.SIGINT:
            interrupt(StopNow())  # now, or once a checkpoint being written is in place
        trainer.request_stop("interrupted")
        print(
            "evorl: stopping after this iteration and saving a checkpoint "
            "(Ctrl-C again: stop now, keep the last checkpoint)",
            file=sys.stderr,
            flush=True,
        )

    previous = {sig: signal.signal(sig, ask) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


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

    Returns:
        0 when a stopping rule ended the run, 1 when it could not go on (TrainingError), 130
        when interrupted.
    """
    import torch

    from evorl.progress import Progress

    torch.set_num_threads(threads)
    unit = UNITS.get(trainer.kind, "iterations")
    if trainer.finished():
        print(
            f"{label}: already finished ({trainer.finished()}) after {trainer.state.iteration} "
            f"{unit}; to go on, raise its budget: evorl resume {trainer.run_dir} "
            f"{MORE.get(trainer.kind, '')}"
        )
        trainer.close()
        return 0
    print(f"run directory: {trainer.run_dir}", file=sys.stderr)
    try:
        with graceful_interrupts(trainer), Progress(label, total, quiet=quiet) as progress:
            trainer.hooks.append(progress)
            st = trainer.run()
    except TrainingError as err:
        print(f"evorl: error: {err}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, StopNow):
        print(
            f"evorl: stopped; continue from the last checkpoint with: evorl resume "
            f"{trainer.run_dir}",
            file=sys.stderr,
        )
        return 130
    finally:
        trainer.close()
    if st.stop_reason == "interrupted":
        print(
            f"evorl: interrupted after {st.iteration} {unit} (checkpoint saved); continue with: "
            f"evorl resume {trainer.run_dir}",
            file=sys.stderr,
        )
        return 130
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


def add_logger_option(parser: argparse.ArgumentParser) -> None:
    """``--logger NAME[,NAME]``: extra metrics writers for the run(s) the command starts.

    :func:`evorl.commands.cli.main` puts the value in ``EVORL_LOGGER``, which every
    :class:`~evorl.logger.Logger` reads, so the option works the same for every kind of run
    without touching its config.
    """
    parser.add_argument(
        "--logger",
        type=_logger_names,
        default=None,
        metavar="|".join(WRITERS),
        help=f"also write the metrics to TensorBoard (same as {LOGGER_ENV}=tensorboard)",
    )


def _logger_names(value: str) -> str:
    names = [name.strip() for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in WRITERS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown logger {value!r}; known: {', '.join(WRITERS)}")
    return ",".join(names)


def add_device_option(parser: argparse.ArgumentParser, field: str, what: str) -> None:
    """``--device cpu|cuda|cuda:N|auto``, a shortcut for the config field ``field``; the
    command's handler adds :func:`device_overrides` to its overrides."""
    parser.add_argument(
        "--device",
        default=None,
        metavar="cpu|cuda|cuda:N|auto",
        help=f"where {what} runs (same as --{field}=...; default cpu)",
    )
    parser.set_defaults(device_field=field)


def device_overrides(args: argparse.Namespace) -> list[str]:
    """``--device`` as a config override (none when it was not given)."""
    device = getattr(args, "device", None)
    return [f"{args.device_field}={device}"] if device is not None else []
