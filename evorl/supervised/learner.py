"""Supervised fitting as a learner of the training loop, and its tester.

One step of :class:`FitLearner` draws a batch of sequences from the task's seeded generator and
hands it to the run's update rule: real-time or epochwise RTRL (Williams & Zipser 1989), full or
truncated BPTT, or evolution — for which it is evorl's :class:`~evorl.training.EvolutionLearner`
with :class:`SequenceEvaluator` as its evaluator (fitness = minus the loss on the batch, all
candidates on the same sequences). :class:`FitTester` tests the net on a fixed, separately
seeded test set once before training and then every ``eval_every`` sequences; the run is solved
when every test sequence is right by the task's own criterion.

Counters: a step's ``episodes`` are the training sequences it consumed (evolution: summed over
all candidates) and its ``env_steps`` their time steps.

Example:
    >>> from evorl.builder import build_trainer
    >>> from evorl.supervised import resolve_config
    >>> trainer = build_trainer(resolve_config("xor", "rtrl", ["seed=0"]))
    >>> state = trainer.run()
    >>> state.solved, state.episodes
    (True, 200)
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from evorl import seeding
from evorl.builder import Parts, optimizer_for
from evorl.config import ConfigError, OptimizerConfig
from evorl.controllers import Controller, build_controller
from evorl.evaluation import EvalResult
from evorl.optimizers.base import restore_rng, rng_state
from evorl.policy import policy_file, policy_info
from evorl.supervised.bptt import run_sequence, sequence_loss, set_gate_bias
from evorl.supervised.config import FitConfig
from evorl.supervised.train import Batch, BPTTUpdate, RTRLUpdate, evaluate, loss_kind, to_torch
from evorl.tasks.sequences import SequenceBatch, SequenceTask, make_task
from evorl.training import Budget, EvolutionLearner, StepResult, TestResult, TrainState


class SequenceEvaluator:
    """Fitness of candidates (P, D) = minus their loss on the current batch (``data``)."""

    def __init__(self, net: Controller, loss: str, teacher_forcing: bool) -> None:
        self.net, self.loss, self.teacher_forcing = net, loss, teacher_forcing
        self.data: Batch | None = None

    @torch.no_grad()
    def losses(self, candidates: np.ndarray, data: Batch) -> np.ndarray:
        """Loss of each candidate (row) on the batch, every candidate in one population pass."""
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
            teacher_forcing=self.teacher_forcing,
        )
        per = [sequence_loss(o, d, m, self.loss) for o in out.split(batch, dim=1)]
        return torch.stack(per).double().numpy()

    def evaluate(self, params, seeds, normalizer=None, collect_obs=False) -> EvalResult:
        losses = self.losses(np.asarray(params), self.data)
        return EvalResult(-losses[:, None], np.zeros((len(losses), 1), np.int64))

    def close(self) -> None:
        pass


class FitLearner:
    """One batch of training sequences per step (see the module docstring)."""

    unit = "batch"

    def __init__(
        self, config: FitConfig, task: SequenceTask, net: Controller, loss: str, info: dict
    ) -> None:
        self.config, self.task, self.net, self.loss, self.info = config, task, net, loss, info
        self.rng = np.random.default_rng(seeding.stream(config.seed, seeding.STREAM_TRAIN_EPISODES))
        self.train_set = None
        if config.train_size is not None:
            stream = seeding.stream(config.seed, seeding.STREAM_TRAIN_SET)
            self.train_set = task.fixed_set(config.train_size, stream)
        self.evaluator: SequenceEvaluator | None = None
        self.evolution: EvolutionLearner | None = None
        self.inner: Any = None
        if config.algo == "evolution":
            self.evaluator = SequenceEvaluator(net, loss, config.teacher_forcing)
            x0 = net.get_flat().double().numpy()
            opt = OptimizerConfig(config.es, config.popsize, config.sigma)
            self.evolution = EvolutionLearner(
                optimizer_for(opt, config.seed, x0, net), self.evaluator, config.seed
            )
        elif config.algo == "rtrl":
            self.inner = RTRLUpdate(net, config)
        else:
            window = config.window if config.algo == "tbptt" else None
            self.inner = BPTTUpdate(net, config, loss, window)

    def draw(self, count: int) -> SequenceBatch:
        """``count`` training sequences: fresh ones, or picks from the fixed training set."""
        if self.train_set is None:
            return self.task.sample(count, self.rng)
        return self.train_set(self.rng.integers(0, self.config.train_size, size=count))

    def step(self, iteration: int) -> StepResult:
        c = self.config
        data = self.draw(c.batch_size)
        out = StepResult()
        if self.evolution is not None:
            self.evaluator.data = to_torch(data)
            out = self.evolution.step(iteration)
            self.net.set_flat(torch.as_tensor(self.evolution.optimizer.center))
            value, count = -out.fitness["fitness/mean"], len(out.extra[0].candidates) * c.batch_size
        else:
            self._decay(iteration)
            value, count = self.inner.update(to_torch(data))
        out.metrics = {"loss/train": value, **out.metrics}
        out.episodes = count
        out.env_steps = int(data.lengths.sum()) * (count // c.batch_size)
        out.stop = "" if math.isfinite(value) else "diverged"
        return out

    def _decay(self, iteration: int) -> None:
        """``lr_final``: lr (lr_final / lr)^progress, progress the share of the budget seen
        after the first ``lr_hold`` of it (0 until then)."""
        c = self.config
        if c.lr_final is None or getattr(self.inner, "opt", None) is None:
            return
        seen = min(1.0, iteration * c.batch_size / c.max_sequences)
        progress = max(0.0, seen - c.lr_hold) / (1.0 - c.lr_hold)
        for group in self.inner.opt.param_groups:
            group["lr"] = c.lr * (c.lr_final / c.lr) ** progress

    def policy_params(self) -> np.ndarray:
        return self.net.get_flat().double().numpy()

    def policy_file(self, params: np.ndarray, score: float) -> dict[str, Any]:
        return policy_file(self.info, params, None, score)

    def state_dict(self) -> dict[str, Any]:
        inner = getattr(self.inner, "opt", None)
        return {
            "params": self.policy_params(),
            "rng": rng_state(self.rng),
            "optimizer": inner.state_dict() if inner is not None else None,
            "evolution": self.evolution.state_dict() if self.evolution is not None else None,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.net.set_flat(torch.as_tensor(state["params"]))
        restore_rng(self.rng, state["rng"])
        if state["optimizer"] is not None:
            self.inner.opt.load_state_dict(state["optimizer"])
        if state["evolution"] is not None:
            self.evolution.load_state_dict(state["evolution"])

    def close(self) -> None:
        pass


class FitTester:
    """The fixed test set, before training and every ``eval_every`` training sequences."""

    at_start = True

    def __init__(self, config: FitConfig, task: SequenceTask, net: Controller, loss: str) -> None:
        rng = np.random.default_rng(seeding.stream(config.seed, seeding.STREAM_TEST_EPISODES))
        self.task, self.net, self.loss = task, net, loss
        self.data = task.sample_test(config.test_size, rng)
        self.every = config.eval_every
        self.next_eval = 0

    def due(self, state: TrainState, budget_spent: bool) -> bool:
        return state.episodes >= self.next_eval or budget_spent

    def test(self, learner: Any, step: StepResult | None, state: TrainState) -> TestResult:
        row = evaluate(self.net, self.task, self.data, self.loss)
        self.next_eval += self.every
        correct = float(row["test/correct"])
        return TestResult(row, correct, learner.policy_params(), correct == 1.0)

    def state_dict(self) -> dict[str, Any]:
        return {"next_eval": self.next_eval}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.next_eval = int(state["next_eval"])


def build_net(config: FitConfig) -> tuple[SequenceTask, Controller, str]:
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


def build_parts(config: FitConfig, load_init: bool = True) -> Parts:
    """Learner, tester and stopping rules of a supervised run (see :func:`evorl.builder`)."""
    task, net, loss = build_net(config)
    space = gym.spaces.Box(-1.0, 1.0, (task.output_dim,))
    info = policy_info(None, config.controller, task.input_dim, space)
    try:
        learner = FitLearner(config, task, net, loss, info)
    except ValueError as err:  # an unknown optimizer setting
        raise ConfigError(str(err)) from None
    budget = Budget(
        episodes=config.max_sequences,
        wall_time=config.wall_time,
        stop_on_solve=config.stop_on_solve,
    )
    return Parts(learner, FitTester(config, task, net, loss), budget, {"episodes": "budget"})
