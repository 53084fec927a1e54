"""The trainer: determinism, exact resume, NaN recovery, stopping rules, and that it learns."""

from __future__ import annotations

import numpy as np
import pytest

from evorl.builder import build_trainer, resume_run, start_run
from evorl.config import load_config
from evorl.errors import TrainingError
from evorl.logger import read_metrics
from evorl.rundir import CHECKPOINT, load_checkpoint

TIMING = ("time/", "perf/")


def comparable(rows):
    return [{k: v for k, v in r.items() if not k.startswith(TIMING)} for r in rows]


def test_same_seed_gives_the_same_run(tiny_config, tmp_path):
    a = start_run(tiny_config(), tmp_path / "a")
    b = start_run(tiny_config(), tmp_path / "b")
    a.run()
    b.run()
    assert comparable(read_metrics(tmp_path / "a")) == comparable(read_metrics(tmp_path / "b"))
    np.testing.assert_array_equal(a.learner.optimizer.center, b.learner.optimizer.center)
    c = start_run(tiny_config("--seed=2"), tmp_path / "c")
    c.run()
    assert comparable(read_metrics(tmp_path / "c")) != comparable(read_metrics(tmp_path / "a"))


@pytest.mark.parametrize("optimizer", ["cmaes", "pgpe"])
def test_resume_after_a_crash_equals_an_uninterrupted_run(tiny_config, tmp_path, optimizer):
    overrides = [
        f"--optimizer.name={optimizer}",
        "--stop.generations=7",
        "--checkpoint_every=2",
        "--eval.obs_norm=true",
    ]
    full = start_run(tiny_config(*overrides), tmp_path / "full")
    full.run()

    crashed = start_run(tiny_config(*overrides), tmp_path / "crashed")

    def crash(trainer, row):
        if row["step"] == 5:
            raise KeyboardInterrupt  # killed after generation 5; last checkpoint is generation 4

    crashed.hooks.append(crash)
    with pytest.raises(KeyboardInterrupt):
        crashed.run()
    assert load_checkpoint(tmp_path / "crashed" / CHECKPOINT)["trainer"]["iteration"] == 4
    resumed = resume_run(tmp_path / "crashed")
    resumed.run()

    assert comparable(read_metrics(tmp_path / "crashed")) == comparable(
        read_metrics(tmp_path / "full")
    )
    np.testing.assert_array_equal(resumed.learner.optimizer.center, full.learner.optimizer.center)
    np.testing.assert_array_equal(resumed.learner.obs_stats.mean, full.learner.obs_stats.mean)
    assert resumed.state.iteration == full.state.iteration == 7


def test_checkpoint_holds_everything_needed(tiny_config, tmp_path):
    trainer = start_run(tiny_config(), tmp_path / "run")
    trainer.run()
    payload = load_checkpoint(tmp_path / "run" / CHECKPOINT)
    for key in ("format", "versions", "kind", "config", "trainer", "learner", "champion", "policy"):
        assert key in payload
    assert payload["kind"] == "evolution" and "optimizer" in payload["learner"]
    assert set(payload["policy"]) >= {"env", "controller", "params", "obs_stats", "score"}
    assert payload["versions"]["torch"].startswith("2.")
    assert (tmp_path / "run" / "config.yaml").is_file()
    assert not list((tmp_path / "run").glob(".*.tmp"))  # atomic writes leave no temporaries


class NaNEvaluator:
    """Wraps a real evaluator and poisons chosen individuals' fitness."""

    def __init__(self, inner, poison):
        self.inner, self.poison = inner, poison

    def evaluate(self, params, seeds, normalizer=None, collect_obs=False):
        result = self.inner.evaluate(params, seeds, normalizer, collect_obs)
        result.returns[self.poison(len(params))] = np.nan
        return result

    def close(self):
        self.inner.close()


def test_nan_fitness_ranks_last_and_is_counted(tiny_config):
    trainer = build_trainer(tiny_config("--eval.test_every=0"))
    trainer.learner.evaluator = NaNEvaluator(trainer.learner.evaluator, lambda n: [0, 3])
    row = trainer.step()
    assert trainer.learner.nan_fitness == 2
    assert np.isfinite(row["fitness/mean"])


def test_all_nan_fitness_stops_with_a_clear_error(tiny_config):
    trainer = build_trainer(tiny_config("--eval.test_every=0"))
    trainer.learner.evaluator = NaNEvaluator(trainer.learner.evaluator, lambda n: slice(None))
    with pytest.raises(TrainingError, match="every fitness value of generation 1 is NaN"):
        trainer.step()


def test_evaluation_budget_stops_the_run(tiny_config):
    trainer = build_trainer(tiny_config("--stop.generations=null", "--stop.evaluations=30"))
    state = trainer.run()
    assert state.stop_reason == "evaluations"
    assert state.episodes >= 30 and state.episodes - 12 < 30  # 6 individuals x 2 episodes


def test_trainer_solves_cartpole_with_a_linear_controller():
    config = load_config("cartpole", ["--out=/nonexistent", "--stop.generations=60"])
    state = build_trainer(config).run()
    assert state.solved, state
    assert state.champion_score >= 475


def test_eval_latest_loads_the_optimizer_centre_and_best_the_champion(tiny_config, tmp_path):
    from evorl.playback import load_policy

    trainer = start_run(tiny_config(), tmp_path / "run")
    trainer.run()
    x = (
        trainer.learner.optimizer.ask()
    )  # one more, untested generation moves the centre off the champion
    trainer.learner.optimizer.tell(x, -np.arange(len(x), dtype=np.float64))
    trainer.checkpoint()
    assert not np.array_equal(trainer.learner.optimizer.center, trainer.champion)
    latest, best = load_policy(tmp_path / "run", "latest"), load_policy(tmp_path / "run", "best")
    np.testing.assert_array_equal(latest.params, trainer.learner.optimizer.center)
    np.testing.assert_array_equal(best.params, trainer.champion)


def test_best_policy_replays_its_recorded_score(tiny_config, tmp_path):
    """best.pt holds everything its score depended on (params and the observation statistics
    frozen for that test): replayed on the same test seeds, it scores what the run recorded."""
    from evorl import seeding
    from evorl.evaluation import VectorEvaluator
    from evorl.playback import load_policy

    cfg = tiny_config("--eval.obs_norm=true", "--stop.generations=6")
    trainer = start_run(cfg, tmp_path / "run")
    state = trainer.run()
    trainer.close()
    policy = load_policy(tmp_path / "run")
    assert policy.score == state.champion_score and policy.obs_stats is not None
    seeds = seeding.episode_seeds(
        cfg.seed, seeding.STREAM_TEST_EPISODES, state.champion_iteration, cfg.eval.test_episodes
    )
    evaluator = VectorEvaluator(policy.env, policy.controller())
    replayed = evaluator.evaluate(policy.params[None], seeds, policy.normalizer()).fitness[0]
    assert replayed == state.champion_score
