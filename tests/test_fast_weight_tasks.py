"""The fast-weight memory tasks as ``evorl fit`` tasks, evolved fast-weight controllers, and the
fast-weight cells under PPO and RPG."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import evorl.commands.cli
from evorl.builder import build_trainer
from evorl.config import load_config
from evorl.gradient.config import load_gradient_config
from evorl.supervised import fit, resolve_config
from evorl.supervised.bptt import sequence_loss
from evorl.tasks.fast_weights import AssociativeRetrieval, KeyValueRetrieval
from evorl.tasks.sequences import make_task


def test_softmax_cross_entropy_scores_the_query_step_only():
    task = AssociativeRetrieval()
    batch = task.sample(5, np.random.default_rng(0))
    logits = torch.randn(*batch.targets.shape)
    loss = sequence_loss(logits, torch.as_tensor(batch.targets), torch.as_tensor(batch.mask), "ce")
    expected = torch.nn.functional.cross_entropy(
        logits[-1], torch.as_tensor(batch.targets[-1].argmax(-1)), reduction="mean"
    )
    torch.testing.assert_close(loss.double(), expected.double())


def test_fixed_training_set_is_seeded_and_drawn_from():
    cfg = resolve_config("assoc-retrieval", None, ["train_size=50", "test_size=20"])
    learner = build_trainer(cfg).learner
    again = build_trainer(cfg).learner
    a, b = learner.draw(400), again.draw(400)
    np.testing.assert_array_equal(a.inputs, b.inputs)
    distinct = {x.tobytes() for x in a.inputs.transpose(1, 0, 2)}
    assert len(distinct) <= 50  # 400 picks of a 50-sequence set
    generic = make_task("xor").fixed_set(10, np.random.SeedSequence(1))
    np.testing.assert_array_equal(generic(np.array([3, 3])).inputs[:, 0], generic([3]).inputs[:, 0])


@pytest.mark.parametrize("hold", [0.0, 0.5])
def test_learning_rate_holds_then_decays_exponentially(hold):
    """The rate an update uses: lr for the first ``lr_hold`` of the budget, then
    lr * (lr_final / lr)^progress over the rest, progress from 0 to 1 (written out here)."""
    overrides = ["lr=0.1", "lr_final=0.001", f"lr_hold={hold}", "max_sequences=160"]
    learner = build_trainer(resolve_config("xor", None, [*overrides, "batch_size=16"])).learner
    used = []
    for iteration in range(10):  # 16 sequences a step: 0, 16, ..., 144 of 160 seen before it
        learner.step(iteration)
        used.append(learner.inner.opt.param_groups[0]["lr"])
    seen = np.arange(10) * 16 / 160
    progress = np.clip((seen - hold) / (1 - hold), 0, None)
    np.testing.assert_allclose(used, 0.1 * 0.01**progress, rtol=1e-12)
    first = 6 if hold else 1  # the first update past the hold
    assert used[first - 1] == 0.1 > used[first]


def test_kv_test_set_queries_every_key_of_each_sequence():
    task = make_task("kv-capacity", keys=6)
    test = task.sample_test(3, np.random.default_rng(0))
    assert test.inputs.shape[1] == 18  # 3 sequences x 6 keys
    assert isinstance(make_task("kv-update"), KeyValueRetrieval) and make_task("kv-update").replace


TINY_ASSOC = {
    # the default FWP (delta rule), 1 pair: from chance to well above it
    "fwp_delta": (["task.pairs=1", "max_sequences=12800", "eval_every=6400"], 0.5),
    # Ba et al.'s fast weights RNN, 2 pairs: to recalling the digits shown (about 55% for a net
    # that does not yet bind a letter to its digit: one of the two)
    "fast_rnn": (
        [
            "controller.kind=fast_rnn",
            "controller.hidden=[20]",
            "task.pairs=2",
            "max_sequences=16000",
            "eval_every=8000",
        ],
        0.45,
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(TINY_ASSOC))
def test_tiny_associative_retrieval_run_learns_above_chance(kind):
    """A fast-weight cell on Ba et al.'s task, small enough for a few seconds: from chance
    (10%) to above the threshold of ``TINY_ASSOC``."""
    overrides, threshold = TINY_ASSOC[kind]
    common = ["test_size=500", "train_size=5000", "lr=0.01", "batch_size=64"]
    result = fit(resolve_config("assoc-retrieval", None, [*overrides, *common]))
    assert result.curve[0]["test/correct"] < 0.2
    assert result.curve[-1]["test/correct"] > threshold


@pytest.mark.parametrize(
    ("task", "extra"),
    [
        ("assoc-retrieval", ["--test_size=64", "--train_size=1000"]),
        ("kv-capacity", []),
        ("kv-update", ["--task.keys=4", "--controller.kind=fwp_sum"]),
    ],
)
def test_fast_weight_tasks_run_through_evorl_fit(task, extra, capsys):
    argv = ["fit", task, "--max_sequences=256", "--eval_every=128", "--quiet", *extra]
    assert evorl.commands.cli.main(argv) == 0
    assert f"{task}: " in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["tmaze-fwp", "dpnv-fwp"])
def test_evolved_fast_weight_controller_improves(preset):
    overrides = ["--stop.generations=8", "--stop.target=null", "--eval.test_every=0"]
    if preset == "dpnv-fwp":
        overrides += ["--eval.pole_protocol=null", "--env.max_episode_steps=200"]
    trainer = build_trainer(load_config(preset, overrides))
    rows = []
    trainer.hooks.append(lambda t, row: rows.append(row))
    trainer.run()
    assert trainer.learner.optimizer.center.shape == (
        trainer.learner.evaluator.controller.num_params,
    )
    first, last = rows[0]["fitness/mean"], max(r["fitness/mean"] for r in rows[-3:])
    assert last > first


@pytest.mark.parametrize("algo", ["ppo", "rpg"])
@pytest.mark.parametrize("kind", ["fwp_sum", "fwp_delta"])
def test_ppo_and_rpg_train_a_fast_weight_controller(algo, kind):
    cfg = load_gradient_config(
        "tmaze-10",
        [
            f"algo={algo}",
            f"controller.kind={kind}",
            "controller.hidden=[4]",
            "controller.key_size=3",
            "env.max_episode_steps=20",
            "stop.target=null",
            "stop.env_steps=null",
            "stop.iterations=1",
            "eval.test_every=1",
            "eval.test_episodes=2",
            "ppo.num_envs=2",
            "ppo.steps=16",
            "ppo.bptt=8",
            "rpg.episodes=2",
        ],
    )
    trainer = build_trainer(cfg)
    before = trainer.learner.policy_params().copy()
    state = trainer.run()
    trainer.close()
    policy = trainer.learner.policy
    assert policy.value_head.in_features == 4  # reads y of the top layer, not the fast matrix
    assert state.iteration == 1 and not np.allclose(trainer.learner.policy_params(), before)
