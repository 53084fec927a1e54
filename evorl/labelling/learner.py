"""RNNLIB-style sequence labelling as a learner of evorl's training loop, and its tester.

One step of :class:`LabelLearner` is one weight update: the next ``batch_size`` sequences of
the epoch's order (a fresh seeded permutation per epoch, as RNNLIB cycles the training
sequences in random order), the task's loss summed over them — CTC for transcription,
cross-entropy of a softmax per point or per sequence for (sequence) classification — and, with
``mdl``, adaptive weight noise's description length (Graves 2011: the expected loss under the
noisy weights plus the batch's share of the complexity cost). With ``batch_learn`` (RNNLIB's
default for RPROP) a step is a whole epoch and one update of the summed gradient.

:class:`LabelTester` tests at the end of every ``test_every`` epochs, as RNNLIB does: the
task's errors on the validation set (on the training set when there is none, RNNLIB's
fallback), early stopping on them (``maxTestsNoBest``: a test that improves any error resets
the count), and whenever the validation label / classification error reaches a new best, the
errors of that net on the test set — the figure RNNLIB reports. The champion (``best.pt``) is
the net with the best validation error; every test row has it as ``valid/error``.

Errors, with RNNLIB's names: transcription ``ctcError`` (-ln p(z|x) per sequence),
``labelError`` (edit distance of the best-path decoding over target labels) and
``sequenceError``; classification and sequence classification ``crossEntropyError`` and
``classificationError`` (per point, or per sequence).

Example:
    >>> from evorl.builder import build_trainer
    >>> from evorl.labelling.config import resolve_label_config
    >>> cfg = resolve_label_config("transcription", [
    ...     "data=digits", "data.lines=16", "data.valid_lines=8", "data.test_lines=8",
    ...     "max_epochs=1", "controller.hidden=[4]"])
    >>> state = build_trainer(cfg).run()
    >>> state.episodes, state.stop_reason
    (16, 'epochs')
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F

from evorl import seeding
from evorl.builder import Parts
from evorl.errors import ConfigError
from evorl.labelling.bidirectional import SequenceNet
from evorl.labelling.config import LabelConfig
from evorl.labelling.ctc import best_path_decode, ctc_loss, label_error_rate, sequence_error_rate
from evorl.labelling.datasets import Batch, LabelSet, Splits, as_frames, load_splits, make_batch
from evorl.labelling.mdlstm import HierarchicalMDLSTM
from evorl.labelling.optim import EarlyStopping, make_optimiser
from evorl.labelling.weight_noise import AdaptiveWeightNoise
from evorl.policy import policy_file, policy_info
from evorl.training import Budget, StepResult, TestResult, TrainState

PRIMARY = {
    "transcription": "labelError",
    "sequence_classification": "classificationError",
    "classification": "classificationError",
}
"""The error that picks the champion and triggers a test-set evaluation."""

EVAL_BATCH = 64


class LabelNet(torch.nn.Module):
    """A labelling net with the task's outputs: ``forward(x, lengths) -> (outputs, lengths)``.

    Outputs: CTC logits (T', B, K + 1) for transcription, (B, K) for sequence classification
    (the output layer summed over each sequence's points, RNNLIB's collapse layer), and per
    point (T, B, K) or (B, H, W, K) for classification.
    """

    def __init__(self, core: torch.nn.Module, task: str) -> None:
        super().__init__()
        self.core, self.task = core, task

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, Any]:
        if isinstance(self.core, SequenceNet):
            return self.core(x, lengths), lengths
        if self.task == "transcription":
            return self.core(x, lengths)
        out, widths = self.core.features(x, lengths)
        return (out.sum((1, 2)) if self.task == "sequence_classification" else out), widths


def net_kind(config: LabelConfig, data: LabelSet) -> str:
    """The net a run builds: ``config.net``, or for ``auto`` mdlstm on 2-D data, else blstm."""
    if config.net != "auto":
        return config.net
    return "mdlstm" if data.ndim == 2 else "blstm"


def build_net(config: LabelConfig, data: LabelSet) -> LabelNet:
    """The run's net for data like ``data`` (already in the net's view: frames for blstm).

    Raises:
        ConfigError: Settings the data or the net cannot take.
    """
    kind = net_kind(config, data)
    out_dim = len(data.labels) + (config.task == "transcription")
    seed = seeding.int_seed(config.seed, seeding.STREAM_INIT)
    c = config.controller
    if kind == "blstm":
        if config.input_block or config.hidden_blocks or config.subsample_sizes:
            raise ConfigError("input_block, hidden_blocks and subsample_sizes need net=mdlstm")
        collapse = "sum" if config.task == "sequence_classification" else "none"
        try:
            core: torch.nn.Module = SequenceNet(
                c,
                data.input_size,
                out_dim,
                sizes=c.hidden,
                bidirectional=config.bidirectional,
                collapse=collapse,
                seed=seed,
            )
        except ValueError as err:
            raise ConfigError(f"controller: {err}") from None
        return LabelNet(core, config.task)
    if data.ndim != 2:
        raise ConfigError(f"net mdlstm reads 2-D data; the {data.name} data are 1-D")
    if config.task == "classification" and (config.input_block or config.hidden_blocks):
        raise ConfigError("classification labels every pixel: no input_block or hidden_blocks")
    core = HierarchicalMDLSTM(
        data.input_size,
        out_dim,
        hidden_sizes=c.hidden,
        subsample_sizes=config.subsample_sizes,
        hidden_blocks=config.hidden_blocks,
        input_block=config.input_block,
        peepholes=c.peepholes,
        init_scale=c.init_scale,
        seed=seed,
    )
    return LabelNet(core, config.task)


def batch_loss(out: torch.Tensor, lengths: Any, batch: Batch, task: str) -> torch.Tensor:
    """The task's loss summed over the batch's sequences (RNNLIB sums per-sequence errors)."""
    if task == "transcription":
        return ctc_loss(out, batch.targets, lengths, reduction="sum")
    if task == "sequence_classification":
        return F.cross_entropy(out, batch.targets, reduction="sum")
    return F.cross_entropy(
        out.reshape(-1, out.shape[-1]), batch.targets.reshape(-1), ignore_index=-1, reduction="sum"
    )


@torch.no_grad()
def evaluate(net: LabelNet, data: LabelSet, task: str) -> dict[str, float]:
    """The task's errors (RNNLIB's names) of ``net`` on every sequence of ``data``."""
    total, wrong, count, decoded, targets = 0.0, 0, 0, [], []
    for start in range(0, len(data), EVAL_BATCH):
        batch = make_batch(data, np.arange(start, min(start + EVAL_BATCH, len(data))), task)
        out, lengths = net(batch.x, batch.lengths)
        total += float(batch_loss(out, lengths, batch, task))
        if task == "transcription":
            decoded += best_path_decode(out.log_softmax(-1), lengths)
            targets += batch.targets
        elif task == "sequence_classification":
            wrong += int((out.argmax(-1) != batch.targets).sum())
        else:
            scored = batch.targets >= 0
            wrong += int((out.argmax(-1) != batch.targets)[scored].sum())
            count += int(scored.sum())
    if task == "transcription":
        return {
            "ctcError": total / len(data),
            "labelError": label_error_rate(decoded, targets),
            "sequenceError": sequence_error_rate(decoded, targets),
        }
    count = count if task == "classification" else len(data)
    return {
        "crossEntropyError": total / max(count, 1),
        "classificationError": wrong / max(count, 1),
    }


class LabelLearner:
    """One weight update per step (one per epoch with ``batch_learn``); module docstring."""

    unit = "update"

    def __init__(self, config: LabelConfig, train: LabelSet, net: LabelNet, info: dict) -> None:
        self.config, self.train, self.net, self.info = config, train, net, info
        self.noisy: AdaptiveWeightNoise | None = None
        if config.mdl:
            self.noisy = AdaptiveWeightNoise(
                net,
                init_std=config.mdl_init_std,
                samples=config.mdl_samples,
                symmetric=config.mdl_symmetric,
                mdl_weight=config.mdl_weight,
                seed=seeding.int_seed(config.seed, seeding.STREAM_WEIGHT_NOISE),
            )
        self.params = list((self.noisy or net).parameters())
        if config.optimiser == "adam":
            self.opt: torch.optim.Optimizer = torch.optim.Adam(self.params, lr=config.learn_rate)
        else:
            self.opt = make_optimiser(
                config.optimiser, self.params, config.learn_rate, config.momentum
            )
        self.epoch, self.position = 0, 0
        self.order = self._order(0)

    def _order(self, epoch: int) -> np.ndarray:
        rng = np.random.default_rng(seeding.stream(self.config.seed, seeding.STREAM_EPOCHS, epoch))
        return rng.permutation(len(self.train))

    def _next(self) -> np.ndarray:
        """The next batch's sequence indices (the last batch of an epoch may be smaller)."""
        index = self.order[self.position : self.position + self.config.batch_size]
        self.position += len(index)
        if self.position == len(self.train):
            self.epoch, self.position = self.epoch + 1, 0
            self.order = self._order(self.epoch)
        return index

    def _backward(self, index: np.ndarray) -> tuple[float, int, dict[str, float]]:
        """Add one minibatch's gradient; returns its summed loss, points and MDL metrics."""
        batch = make_batch(self.train, index, self.config.task)

        def loss_fn(model: Any) -> torch.Tensor:
            return batch_loss(*model(batch.x, batch.lengths), batch, self.config.task)

        extra: dict[str, float] = {}
        if self.noisy is not None:
            fraction = len(index) / len(self.train)
            complexity = self.noisy.complexity()
            loss = self.noisy.expected_loss(loss_fn) + fraction * complexity
            sigma = torch.cat([r.detach().exp().reshape(-1) for r in self.noisy.log_std])
            extra = {
                "mdl/complexity": float(complexity.detach()),
                "mdl/sigma_mean": float(sigma.mean()),
            }
            value = float(loss.detach()) - fraction * extra["mdl/complexity"]
        else:
            loss = loss_fn(self.net)
            value = float(loss.detach())
        loss.backward()
        return value, batch.points, extra

    def step(self, iteration: int) -> StepResult:
        self.opt.zero_grad(set_to_none=True)
        total, points, count, extra = 0.0, 0, 0, {}
        epoch = self.epoch
        while True:
            index = self._next()
            value, n, extra = self._backward(index)
            total, points, count = total + value, points + n, count + len(index)
            if not self.config.update_per_epoch or self.epoch != epoch:
                break
        if self.config.clip is not None:
            torch.nn.utils.clip_grad_norm_(self.params, self.config.clip)
        self.opt.step()
        loss = total / count
        metrics = {"loss/train": loss, "epoch": self.epoch + self.position / len(self.train)}
        out = StepResult(metrics={**metrics, **extra}, env_steps=points, episodes=count)
        out.stop = "" if math.isfinite(loss) else "diverged"
        return out

    def policy_params(self) -> np.ndarray:
        return torch.nn.utils.parameters_to_vector(self.net.parameters()).detach().double().numpy()

    def set_params(self, params: np.ndarray) -> None:
        vector = torch.as_tensor(params, dtype=torch.float32)
        torch.nn.utils.vector_to_parameters(vector, self.net.parameters())

    def policy_file(self, params: np.ndarray, score: float) -> dict[str, Any]:
        return policy_file(self.info, params, None, score)

    def state_dict(self) -> dict[str, Any]:
        noisy = self.noisy
        return {
            "model": {k: v.clone() for k, v in (noisy or self.net).state_dict().items()},
            "noise_rng": noisy.gen.get_state() if noisy is not None else None,
            "optimiser": self.opt.state_dict(),
            "epoch": self.epoch,
            "position": self.position,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        (self.noisy or self.net).load_state_dict(state["model"])
        if self.noisy is not None:
            self.noisy.gen.set_state(state["noise_rng"])
        self.opt.load_state_dict(state["optimiser"])
        self.epoch, self.position = int(state["epoch"]), int(state["position"])
        self.order = self._order(self.epoch)

    def close(self) -> None:
        pass


class LabelTester:
    """Validation errors and early stopping after every ``test_every`` epochs; test-set errors
    of each new best net (see the module docstring)."""

    at_start = False

    def __init__(self, config: LabelConfig, splits: Splits, net: LabelNet) -> None:
        self.config, self.net = config, net
        self.valid = splits.valid if splits.valid is not None else splits.train
        self.valid_key = "valid" if splits.valid is not None else "train"
        self.test_set = splits.test
        self.every = config.test_every * len(splits.train)
        self.next_test = self.every
        self.stopping = EarlyStopping(config.max_tests_no_best)
        self.best = math.inf
        self.test_at_best: dict[str, float] = {}

    def due(self, state: TrainState, budget_spent: bool) -> bool:
        return state.episodes >= self.next_test or budget_spent

    def test(self, learner: Any, step: StepResult | None, state: TrainState) -> TestResult:
        task = self.config.task
        while self.next_test <= state.episodes:
            self.next_test += self.every
        errors = evaluate(self.net, self.valid, task)
        self.stopping.update(errors)
        row: dict[str, Any] = {f"{self.valid_key}/{k}": v for k, v in errors.items()}
        primary = errors[PRIMARY[task]]
        if primary < self.best:
            self.best = primary
            if self.test_set is not None:
                self.test_at_best = evaluate(self.net, self.test_set, task)
                row.update({f"test/{k}": v for k, v in self.test_at_best.items()})
        row["valid/error"] = primary
        row["early_stopping/tests_since_best"] = self.stopping.tests_since_best
        stop = "early stopping" if self.stopping.should_stop else ""
        return TestResult(row, -primary, learner.policy_params(), stop=stop)

    def state_dict(self) -> dict[str, Any]:
        s = self.stopping
        return {
            "next_test": self.next_test,
            "best": self.best,
            "test_at_best": self.test_at_best,
            "stopping": {
                "best": s.best,
                "best_test": s.best_test,
                "tests_since_best": s.tests_since_best,
                "tests": s.tests,
            },
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.next_test, self.best = int(state["next_test"]), float(state["best"])
        self.test_at_best = dict(state["test_at_best"])
        for key, value in state["stopping"].items():
            setattr(self.stopping, key, value)


def initial_weights(config: LabelConfig, learner: LabelLearner) -> None:
    """Load ``config.init_from``'s best net into the learner (nets must match)."""
    from pathlib import Path

    from evorl.policy import load_policy
    from evorl.rundir import load_run_config

    source = Path(config.init_from)
    if not source.is_dir():
        raise ConfigError(f"init_from: no run directory {source}")
    other = load_run_config(source)
    fields = (
        "task",
        "net",
        "controller",
        "bidirectional",
        "input_block",
        "hidden_blocks",
        "subsample_sizes",
    )
    if not isinstance(other, LabelConfig) or any(
        getattr(other, f) != getattr(config, f) for f in fields
    ):
        raise ConfigError(
            f"init_from {source}: not a labelling run with this run's net ({', '.join(fields)})"
        )
    params = load_policy(source).params
    if params.shape != learner.policy_params().shape:
        raise ConfigError(f"init_from {source}: its net has a different size")
    learner.set_params(params)


def build_parts(config: LabelConfig, load_init: bool = True) -> Parts:
    """Learner, tester and stopping rules of a labelling run (see :func:`evorl.builder`)."""
    splits = load_splits(config)
    kind = net_kind(config, splits.train)
    if kind == "blstm":
        splits = Splits(
            *(
                None if s is None else as_frames(s)
                for s in (splits.train, splits.valid, splits.test)
            )
        )
    net = build_net(config, splits.train)
    space = gym.spaces.Box(-1.0, 1.0, (len(splits.train.labels) + 1,))
    info = policy_info(None, config.controller, splits.train.input_size, space)
    learner = LabelLearner(config, splits.train, net, info)
    if load_init and config.init_from is not None:
        initial_weights(config, learner)
    episodes = None if config.max_epochs is None else config.max_epochs * len(splits.train)
    budget = Budget(episodes=episodes, wall_time=config.wall_time, stop_on_solve=False)
    return Parts(learner, LabelTester(config, splits, net), budget, {"episodes": "epochs"})


def updates_per_epoch(config: LabelConfig, train_size: int) -> int:
    """Learner steps in one epoch."""
    return 1 if config.update_per_epoch else math.ceil(train_size / config.batch_size)


__all__ = [
    "LabelLearner",
    "LabelNet",
    "LabelTester",
    "build_net",
    "build_parts",
    "evaluate",
]
