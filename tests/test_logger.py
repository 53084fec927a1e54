"""The metrics logger's extra writers: TensorBoard event files hold every run kind's scalars."""

from __future__ import annotations

import math
import os

import pytest

from evorl.builder import resume_run, start_run
from evorl.commands import main
from evorl.config import load_config
from evorl.errors import ConfigError
from evorl.logger import LOGGER_ENV, Logger, read_metrics

event_accumulator = pytest.importorskip(
    "tensorboard.backend.event_processing.event_accumulator",
    reason="needs the tensorboard extra",
)

EVOLVE = [
    "--controller.hidden=[3]", "--optimizer.popsize=4", "--eval.episodes=1",
    "--eval.test_every=1", "--eval.test_episodes=2", "--stop.generations=3",
    "--stop.wall_time=null", "--stop.target=null",
]  # fmt: skip
TRAIN = [
    "--ppo.num_envs=2", "--ppo.steps=16", "--ppo.bptt=8", "--ppo.epochs=1",
    "--ppo.minibatches=1", "--controller.hidden=[4]", "--eval.test_every=1",
    "--eval.test_episodes=2", "--stop.target=null", "--stop.env_steps=null",
    "--stop.iterations=2",
]  # fmt: skip
FIT = ["--max_sequences=64", "--eval_every=32", "--test_size=8", "--controller.hidden=[4]"]

RUNS = {
    "evolve": ["evolve", "cartpole-novel", *EVOLVE],
    "train": ["train", "tmaze-10", *TRAIN],
    "fit": ["fit", "reber", *FIT],
}


def scalars(run_dir) -> dict[str, dict[int, float]]:
    """Every scalar of the run's event files, by tag and step, read back by TensorBoard."""
    acc = event_accumulator.EventAccumulator(str(run_dir))
    acc.Reload()
    return {
        tag: {event.step: event.value for event in acc.Scalars(tag)}
        for tag in acc.Tags()["scalars"]
    }


def assert_events_equal_metrics(run_dir) -> None:
    events = scalars(run_dir)
    rows = read_metrics(run_dir)
    assert rows
    for row in rows:
        for key, value in row.items():
            if key == "step" or not isinstance(value, int | float) or not math.isfinite(value):
                continue
            assert events[key][row["step"]] == pytest.approx(value, rel=1e-6, abs=1e-6), key
    assert {tag: sorted(steps) for tag, steps in events.items()} == {
        tag: sorted(row["step"] for row in rows if row.get(tag) is not None) for tag in events
    }


@pytest.mark.parametrize("kind", list(RUNS))
def test_logger_tensorboard_writes_the_runs_scalars(kind, tmp_path, monkeypatch):
    """``--logger tensorboard`` on evolve, train and fit: the event file holds every numeric
    value of every metrics row, at the row's step (and nothing else)."""
    monkeypatch.delenv(LOGGER_ENV, raising=False)
    run = tmp_path / kind
    assert main([*RUNS[kind], "--run-dir", str(run), "--quiet", "--logger", "tensorboard"]) == 0
    assert list(run.glob("events.out.tfevents.*"))
    assert_events_equal_metrics(run)
    assert LOGGER_ENV not in os.environ  # the option does not outlive the command


def test_no_event_file_without_the_option(tmp_path, monkeypatch):
    monkeypatch.delenv(LOGGER_ENV, raising=False)
    run = tmp_path / "run"
    assert main([*RUNS["evolve"], "--run-dir", str(run), "--quiet"]) == 0
    assert not list(run.glob("events.out.tfevents.*"))


def test_environment_variable_chooses_the_writer_and_resume_purges_later_events(
    tmp_path, monkeypatch
):
    """A run that crashed after its checkpoint logged steps that the resumed run logs again:
    TensorBoard then shows each step once, with the resumed run's values (as the JSONL)."""
    monkeypatch.setenv(LOGGER_ENV, "tensorboard")
    overrides = [o.lstrip("-") for o in EVOLVE] + ["checkpoint_every=2", "stop.generations=4"]
    config = load_config("cartpole-novel", overrides)
    trainer = start_run(config, tmp_path / "run")
    for _ in range(3):  # checkpoint after 2, crash after 3
        trainer.step()
    trainer.close()
    resumed = resume_run(tmp_path / "run")
    resumed.run()
    resumed.close()
    events = scalars(tmp_path / "run")
    assert sorted(events["fitness/mean"]) == [1, 2, 3, 4]
    assert_events_equal_metrics(tmp_path / "run")


def test_unknown_or_missing_writer_is_a_config_error(tmp_path, monkeypatch, capsys):
    with pytest.raises(ConfigError, match="unknown logger 'wandb'"):
        Logger(tmp_path, ["wandb"])
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(ConfigError, match=r"evorl-toolkit\[tensorboard\]"):
        Logger(tmp_path, ["tensorboard"])
    monkeypatch.undo()
    with pytest.raises(SystemExit) as exit_:
        main(["evolve", "--logger", "wandb"])
    assert exit_.value.code == 2
    assert "unknown logger 'wandb'" in capsys.readouterr().err


def test_in_memory_logger_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(LOGGER_ENV, "no-such-writer")  # not even checked: nothing is written
    assert Logger().dump(0) == {"step": 0}
    log = Logger(writers=["tensorboard"])
    log.record("fitness/mean", 1.0)
    assert log.dump(1) == {"step": 1, "fitness/mean": 1.0}
    assert not list(tmp_path.iterdir())


def test_glimpse_and_world_model_commands_take_the_option():
    """The agents' training commands have the same option (their runs go through Logger)."""
    import argparse

    from evorl.agents.glimpse import cli as glimpse_cli
    from evorl.agents.worldmodel import cli as wm_cli

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    glimpse_cli.register(sub)
    wm_cli.register(sub)
    args = parser.parse_args(["glimpse", "train", "catch", "--logger", "tensorboard"])
    assert args.logger == "tensorboard"
    for stage in ("evolve", "run"):
        assert parser.parse_args(["wm", stage, "--logger", "tensorboard"]).logger == "tensorboard"


def test_glimpse_gradient_training_writes_metrics_rows(tmp_path, monkeypatch):
    """Gradient training of the glimpse agent logs its records as metrics rows too."""
    import evorl.commands.cli
    from evorl.agents.glimpse import cli as glimpse_cli

    monkeypatch.delenv(LOGGER_ENV, raising=False)
    monkeypatch.setattr(evorl.commands.cli, "_registrars", lambda: [glimpse_cli.register])
    run = tmp_path / "catch"
    argv = ["glimpse", "train", "catch", "--updates", "2", "--hidden", "8", "--straight"]
    argv += ["--out", str(run), "--quiet", "--logger", "tensorboard"]
    assert main(argv) == 0
    rows = read_metrics(run)
    assert [r["step"] for r in rows] == [2]  # a record every 100 updates and at the end
    assert {"train/caught", "test/caught", "time/total"} <= set(rows[0])
    assert_events_equal_metrics(run)
