"""Every CLI verb with a tiny budget; bad input gives exit code 2 and one line on stderr."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from evorl.commands import main

TINY = [
    "--controller.hidden=[3]",
    "--optimizer.popsize=4",
    "--eval.episodes=1",
    "--eval.test_every=1",
    "--eval.test_episodes=2",
    "--stop.generations=2",
    "--stop.wall_time=null",
    "--stop.target=null",
]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "evorl", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def run_dir(tmp_path):
    path = tmp_path / "run"
    assert main(["evolve", "cartpole-novel", "--run-dir", str(path), "--quiet", *TINY]) == 0
    return path


def test_evolve_writes_a_run_directory(run_dir):
    for name in ("config.yaml", "metrics.jsonl", "metrics.csv", "checkpoint.pt", "best.pt"):
        assert (run_dir / name).is_file(), name


def test_resume_extends_the_budget(run_dir, capsys):
    assert main(["resume", str(run_dir), "--quiet", "--stop.generations=3"]) == 0
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 3
    assert "after 3 generations" in capsys.readouterr().out


def test_eval_prints_returns_and_writes_a_gif(run_dir, capsys, tmp_path):
    gif = tmp_path / "episode.gif"
    assert main(["eval", str(run_dir), "--episodes", "3", "--video", str(gif)]) == 0
    out = capsys.readouterr().out
    assert "mean return" in out and "over 3 episodes" in out
    assert gif.stat().st_size > 1000


def test_plot_writes_a_png(run_dir):
    assert main(["plot", str(run_dir)]) == 0
    png = run_dir / "learning_curve.png"
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_list_names_presets_envs_controllers_optimizers(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for word in ("cartpole-novel", "halfcheetah", "lstm", "gru", "cmaes", "pgpe", "cosyne"):
        assert word in out


def test_print_config_shows_overrides(capsys):
    assert main(["evolve", "--print-config", "--optimizer.popsize", "40", "--workers", "2"]) == 0
    out = capsys.readouterr().out
    assert "popsize: 40" in out
    assert "evaluator: ray" in out and "workers: 2" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["evolve", "--optimizer.popsiz=3"], "unknown config key 'optimizer.popsiz'"),
        (["evolve", "--eval.episodes=two"], "eval.episodes: expected int"),
        (["evolve", "--env.id=NoSuchEnv-v0"], "cannot make env 'NoSuchEnv-v0'"),
        (["evolve", "missing.yaml"], "config file not found: missing.yaml"),
        (["resume", "/no/such/run"], "not a run directory"),
        (["eval", "/no/such/run"], "not a run directory"),
        (["evolve", "--bogus"], "needs a value"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_input_exits_2_with_one_line(args, message, capsys):
    assert exit_code(args) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert message in lines[0]


def exit_code(args: list[str]) -> int:
    """main()'s return value, or the code of the SystemExit argparse raises."""
    try:
        return main(args)
    except SystemExit as stop:
        return int(stop.code)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["evolve", "--optimizer.popsiz=3"], "unknown config key"),
        (["evolve", "--controller.hidden"], "needs a value"),
    ],
)
def test_real_process_exit_code_and_no_traceback(args, message):
    proc = run_cli(*args)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr


def test_help_lists_every_command():
    proc = run_cli("--help")
    assert proc.returncode == 0
    for verb in ("evolve", "resume", "eval", "plot", "list"):
        assert verb in proc.stdout
    assert Path(__file__).exists()


def test_evolve_init_from_starts_at_the_earlier_runs_controller(run_dir, tmp_path):
    from evorl.builder import build_trainer
    from evorl.config import load_config
    from evorl.playback import load_policy

    source = load_policy(run_dir)
    config = load_config("cartpole-novel", [*TINY, f"--init_from={run_dir}"])
    trainer = build_trainer(config)
    np.testing.assert_array_equal(trainer.learner.optimizer.center, source.params)
    second = tmp_path / "second"
    args = ["evolve", "--run-dir", str(second), "--quiet", "--init-from", str(run_dir), *TINY]
    assert main(args) == 0


def test_evolve_init_from_a_different_controller_is_a_config_error(run_dir, capsys, tmp_path):
    out = tmp_path / "runs"
    args = ["evolve", "--quiet", "--init-from", str(run_dir), *TINY, "--controller.hidden=[5]"]
    assert main([*args, f"--out={out}"]) == 2
    assert "does not match" in capsys.readouterr().err
    assert not out.exists()  # no empty run directory left behind
