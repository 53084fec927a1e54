"""Training loops of supervised sequence learning, and their learning curves.

:func:`fit` runs one :class:`~evorl.supervised.config.FitConfig`: it builds the task's data
generator and the controller, hands each freshly drawn batch to a *learner* — real-time or
epochwise RTRL (Williams & Zipser 1989), full or truncated BPTT, or an evorl evolution strategy
— and tests the net on a fixed, separately seeded test set every ``eval_every`` sequences. The
learning curve is a list of rows (``sequences``, ``steps``, ``loss/train``, ``loss/test``,
``test/correct``, ``time/elapsed``); a run is solved when every test sequence is right by the
task's own criterion (e.g. the 1997 LSTM paper's for the Reber grammar and the adding problem).

Example:
    >>> result = fit(resolve_config("xor", "rtrl", ["seed=0"]))
    >>> result.solved, result.solved_at  # the test set is first checked (and right) at 200
    (True, 200)
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import gymnasium as gym
import numpy as np
import torch

from evorl import seeding
from evorl.config import ConfigError
from evorl.controllers import Controller, build_controller
from evorl.envs.sequences import SequenceBatch, SequenceTask, make_task
from evorl.optimizers import make_optimizer
from evorl.supervised.bptt import (
    bptt_step,
    make_torch_optimizer,
    predictions,
    run_sequence,
    sequence_loss,
    set_gate_bias,
)
from evorl.supervised.config import FitConfig
from evorl.supervised.rtrl import RealTimeRTRL, rtrl_gradient

Row = dict[str, Any]
Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # inputs, targets, mask


class Learner(Protocol):
    """Consumes one batch; returns (training loss, sequences consumed)."""

    def update(self, data: Batch) -> tuple[float, int]: ...


def to_torch(batch: SequenceBatch, dtype: torch.dtype = torch.float32) -> Batch:
    """Tensors (inputs, targets, mask) of a task batch."""
    return (
        torch.as_tensor(batch.inputs, dtype=dtype),
        torch.as_tensor(batch.targets, dtype=dtype),
        torch.as_tensor(batch.mask),
    )


def loss_kind(task: SequenceTask, controller: Controller) -> str:
    """``sse`` for real targets and for the fully recurrent net (its outputs are squashed
    units, Williams & Zipser's squared error); ``bce`` on logits for binary targets otherwise."""
    if task.target_kind == "real" or controller.config.kind == "fully_recurrent":
        return "sse"
    return "bce"


@dataclass
class GradientLearner:
    """Full or truncated BPTT with a torch optimizer (window None: full)."""

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
class RTRLLearner:
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


@dataclass
class EvolutionLearner:
    """An evorl optimizer on the flat weights; fitness = -loss on the batch (all candidates
    see the same sequences), the whole population run as one batch (population mode)."""

    net: Controller
    config: FitConfig
    loss: str
    opt: Any = field(init=False)

    def __post_init__(self) -> None:
        c = self.config
        x0 = self.net.get_flat().double().numpy()
        seed = seeding.stream(c.seed, seeding.STREAM_OPTIMIZER)
        self.opt = make_optimizer(c.es, x0, sigma=c.sigma, popsize=c.popsize, seed=seed)

    @torch.no_grad()
    def losses(self, candidates: np.ndarray, data: Batch) -> np.ndarray:
        """Loss of each candidate (row) on the batch."""
        x, d, m = data
        pop, batch = len(candidates), x.shape[1]
        flat = torch.as_tensor(candidates, dtype=torch.float32).repeat_interleave(batch, 0)
        params = self.net.population_params(flat)
        tile = lambda t: t.repeat(1, pop, 1)  # noqa: E731  row r is sequence r % batch
        out, _ = run_sequence(
            self.net,
            tile(x),
            targets=tile(d),
            mask=tile(m),
            params=params,
            teacher_forcing=self.config.teacher_forcing,
        )
        per = [sequence_loss(o, d, m, self.loss) for o in out.split(batch, dim=1)]
        return torch.stack(per).double().numpy()

    def update(self, data: Batch) -> tuple[float, int]:
        candidates = self.opt.ask()
        losses = self.losses(candidates, data)
        losses = np.where(np.isfinite(losses), losses, 1e30)
        self.opt.tell(candidates, -losses)
        self.net.set_flat(torch.as_tensor(self.opt.center))
        return float(np.mean(losses)), len(candidates) * data[0].shape[1]


def make_learner(config: FitConfig, net: Controller, loss: str) -> Learner:
    """The learner for ``config.algo``."""
    if config.algo == "rtrl":
        return RTRLLearner(net, config)
    if config.algo == "evolution":
        return EvolutionLearner(net, config, loss)
    return GradientLearner(net, config, loss, config.window if config.algo == "tbptt" else None)


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


def build_for(config: FitConfig) -> tuple[SequenceTask, Controller, str]:
    """The task, the freshly initialised controller and the loss of a run.

    Raises:
        ConfigError: A task option or controller setting the task cannot take.
    """
    try:
        task = make_task(config.task, **config.task_options)
        task.sample(1, np.random.default_rng(0))  # validates the options' values
        space = gym.spaces.Box(-1.0, 1.0, (task.output_dim,))
        init_seed = seeding.int_seed(config.seed, seeding.STREAM_INIT)
        net = build_controller(config.controller, task.input_dim, space, seed=init_seed)
        for gate in ("input", "forget"):
            value = getattr(config, f"{gate}_bias")
            if value is not None:
                set_gate_bias(net, gate, value)
    except (KeyError, ValueError, TypeError) as err:
        raise ConfigError(str(err).strip("'\"")) from None
    return task, net, loss_kind(task, net)


def fit(config: FitConfig, callback: Callable[[Row], None] | None = None) -> FitResult:
    """Train ``config``'s controller on its task; ``callback`` gets every learning-curve row."""
    task, net, loss = build_for(config)
    try:
        learner = make_learner(config, net, loss)
    except ValueError as err:  # e.g. an unknown evolution optimizer or setting
        raise ConfigError(str(err)) from None
    train_rng = np.random.default_rng(seeding.stream(config.seed, seeding.STREAM_TRAIN_EPISODES))
    test_rng = np.random.default_rng(seeding.stream(config.seed, seeding.STREAM_TEST_EPISODES))
    test = task.sample(config.test_size, test_rng)
    start, seqs, steps, losses, curve = time.perf_counter(), 0, 0, [], []
    solved_at = steps_at = None
    reason, next_eval = "budget", 0
    while True:
        if seqs >= next_eval or seqs >= config.max_sequences:
            row = {
                "sequences": seqs,
                "steps": steps,
                "loss/train": float(np.mean(losses)) if losses else math.nan,
                **evaluate(net, task, test, loss),
                "time/elapsed": time.perf_counter() - start,
            }
            curve.append(row)
            losses, next_eval = [], next_eval + config.eval_every
            if callback is not None:
                callback(row)
            if row["test/correct"] == 1.0 and solved_at is None:
                solved_at, steps_at = seqs, steps
                if config.stop_on_solve:
                    reason = "solved"
                    break
        if seqs >= config.max_sequences:
            break
        if config.wall_time is not None and time.perf_counter() - start > config.wall_time:
            reason = "wall_time"
            break
        data = task.sample(config.batch_size, train_rng)
        value, count = learner.update(to_torch(data))
        if not math.isfinite(value):
            reason = "diverged"
            break
        losses.append(value)
        seqs += count
        steps += int(data.lengths.sum()) * (count // config.batch_size)
    elapsed = time.perf_counter() - start
    return FitResult(config, curve, solved_at, steps_at, seqs, steps, elapsed, reason, net)


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
