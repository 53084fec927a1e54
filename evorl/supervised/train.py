"""Supervised sequence learning: the update rules, :func:`fit`, and learning curves.

:func:`fit` runs one :class:`~evorl.supervised.config.FitConfig` in evorl's training loop (the
learner and tester are in :mod:`evorl.supervised.learner`): each batch of freshly drawn
sequences goes to an update rule — real-time or epochwise RTRL (Williams & Zipser 1989), full or
truncated BPTT, or an evorl evolution strategy — and the net is tested on a fixed, separately
seeded test set before training and every ``eval_every`` sequences. The learning curve is a list
of rows (``sequences``, ``steps``, ``loss/train`` — the mean since the last test —,
``loss/test``, ``test/correct``, ``time/elapsed``); a run is solved when every test sequence is
right by the task's own criterion (e.g. the 1997 LSTM paper's for the Reber grammar and the
adding problem).

Example:
    >>> from evorl.supervised.config import resolve_config
    >>> result = fit(resolve_config("xor", "rtrl", ["seed=0"]))
    >>> result.solved, result.solved_at  # the test set is first checked (and right) at 200
    (True, 200)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from evorl.controllers import Controller
from evorl.supervised.bptt import (
    bptt_step,
    make_torch_optimizer,
    predictions,
    run_sequence,
    sequence_loss,
)
from evorl.supervised.config import FitConfig
from evorl.supervised.rtrl import RealTimeRTRL, rtrl_gradient
from evorl.tasks.sequences import SequenceBatch, SequenceTask

Row = dict[str, Any]
Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # inputs, targets, mask


def to_torch(batch: SequenceBatch, dtype: torch.dtype = torch.float32) -> Batch:
    """Tensors (inputs, targets, mask) of a task batch."""
    return (
        torch.as_tensor(batch.inputs, dtype=dtype),
        torch.as_tensor(batch.targets, dtype=dtype),
        torch.as_tensor(batch.mask),
    )


def loss_kind(task: SequenceTask, controller: Controller) -> str:
    """``sse`` for real targets and for the fully recurrent net (its outputs are squashed
    units, Williams & Zipser's squared error); otherwise ``ce`` (softmax) for class targets and
    ``bce`` on logits for binary targets."""
    if task.target_kind == "real" or controller.config.kind == "fully_recurrent":
        return "sse"
    return "ce" if task.target_kind == "class" else "bce"


@dataclass
class BPTTUpdate:
    """Full or truncated BPTT with a torch optimizer (window None: full); ``update(batch)``
    returns (training loss, sequences consumed)."""

    net: Controller
    config: FitConfig
    loss: str
    window: int | None

    def __post_init__(self) -> None:
        c = self.config
        self.opt = make_torch_optimizer(c.optimizer, self.net.parameters(), c.lr, c.momentum)

    def update(self, data: Batch) -> tuple[float, int]:
        c = self.config
        value = bptt_step(
            self.net,
            self.opt,
            *data,
            self.loss,
            window=self.window,
            clip=c.clip,
            teacher_forcing=c.teacher_forcing,
        )
        return value, data[0].shape[1]


@dataclass
class RTRLUpdate:
    """Real-time RTRL (W changes every step, state reset per sequence) or epochwise RTRL."""

    net: Controller
    config: FitConfig

    def __post_init__(self) -> None:
        c = self.config
        self.realtime = RealTimeRTRL(self.net, c.lr, c.teacher_forcing)
        self.opt = make_torch_optimizer(c.optimizer, self.net.parameters(), c.lr, c.momentum)

    def update(self, data: Batch) -> tuple[float, int]:
        c, batch = self.config, data[0].shape[1]
        if c.rtrl_mode == "realtime":
            self.realtime.reset(batch)  # a new trajectory: y(t0) = 0, p(t0) = 0
            return self.realtime.run(*data), batch
        result = rtrl_gradient(self.net, *data, teacher_forcing=c.teacher_forcing)
        self.net.w.grad = result.grad.to(self.net.w.dtype)
        if c.clip is not None:
            torch.nn.utils.clip_grad_norm_(self.net.parameters(), c.clip)
        self.opt.step()
        return result.loss, batch


@torch.no_grad()
def evaluate(net: Controller, task: SequenceTask, data: SequenceBatch, loss: str) -> Row:
    """Test loss and fraction of sequences right, the net running free after the warm-up."""
    x, d, m = to_torch(data)
    forcing = net.config.kind == "fully_recurrent" and task.free_run_from > 0
    out, _ = run_sequence(
        net, x, targets=d, mask=m, teacher_forcing=forcing, forced_steps=task.free_run_from
    )
    correct = task.correct(predictions(out, loss).double().numpy(), data)
    return {"loss/test": float(sequence_loss(out, d, m, loss)), "test/correct": correct.mean()}


@dataclass
class FitResult:
    """Outcome of :func:`fit`."""

    config: FitConfig
    curve: list[Row]
    solved_at: int | None
    """Training sequences seen when the test set was first solved (None: never)."""
    steps_at: int | None
    """Training time steps seen by then."""
    sequences: int
    steps: int
    wall_time: float
    stop_reason: str
    net: Controller

    @property
    def solved(self) -> bool:
        return self.solved_at is not None


def fit(
    config: FitConfig,
    callback: Callable[[Row], None] | None = None,
    run_dir: str | Path | None = None,
) -> FitResult:
    """Train ``config``'s controller on its task; ``callback`` gets every learning-curve row.

    With ``run_dir`` the run keeps a run directory (metrics, checkpoints, ``best.pt``).
    """
    from evorl.builder import build_trainer, start_run

    trainer = build_trainer(config) if run_dir is None else start_run(config, run_dir)
    curve = Curve(callback)
    trainer.hooks.append(curve)
    try:
        state = trainer.run()
    finally:
        trainer.close()
    first = next((r for r in curve.rows if r["test/correct"] == 1.0), None)
    return FitResult(
        config,
        curve.rows,
        None if first is None else first["sequences"],
        None if first is None else first["steps"],
        state.episodes,
        state.env_steps,
        state.elapsed,
        state.stop_reason,
        trainer.learner.net,
    )


class Curve:
    """Trainer hook collecting the learning curve: one row per test, with the mean training
    loss since the previous test."""

    def __init__(self, callback: Callable[[Row], None] | None = None) -> None:
        self.callback = callback
        self.rows: list[Row] = []
        self._losses: list[float] = []

    def __call__(self, trainer: Any, row: Row) -> None:
        if row.get("loss/train") is not None:
            self._losses.append(row["loss/train"])
        if "test/correct" not in row:
            return
        st = trainer.state
        point = {
            "sequences": st.episodes,
            "steps": st.env_steps,
            "loss/train": float(np.mean(self._losses)) if self._losses else math.nan,
            "loss/test": row["loss/test"],
            "test/correct": row["test/correct"],
            "time/elapsed": st.elapsed,
        }
        self._losses = []
        self.rows.append(point)
        if self.callback is not None:
            self.callback(point)


def plot_curve(result: FitResult, path: str | Path) -> Path:
    """Learning curve PNG: training and test loss, and the fraction of test sequences right."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result.curve
    x = [r["sequences"] for r in rows]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8), constrained_layout=True)
    ax1.plot(x, [r["loss/train"] for r in rows], label="train (mean since last test)")
    ax1.plot(x, [r["loss/test"] for r in rows], label="test")
    ax1.set_yscale("log")
    ax1.set_ylabel("loss per sequence")
    ax1.legend()
    ax2.plot(x, [r["test/correct"] for r in rows], "o-", ms=3)
    ax2.set_ylim(-0.02, 1.02)
    ax2.set_ylabel("test sequences right")
    for ax in (ax1, ax2):
        ax.set_xlabel("training sequences")
        ax.grid(alpha=0.3)
    c = result.config
    fig.suptitle(f"{c.task} · {c.algo} · {c.controller.kind}{list(c.controller.hidden)}")
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
