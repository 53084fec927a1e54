"""Interrupted runs resume exactly; refused resumes change nothing; non-finite observations are
kept out of the running statistics.

The interrupt trials send the real ``evorl`` command SIGINT (once: it finishes the generation and
checkpoints; twice: it stops at once and keeps the last checkpoint) or SIGTERM at random moments
of training, then resume it and compare every metrics row with an uninterrupted run's: evolution
in this process (12 trials), recurrent PPO as separate processes (3 trials, their exit codes).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from evorl.evaluation.obs_norm import ObsSums, RunningObsStats
from evorl.logger import read_metrics

ARGS = [
    "cartpole-novel",
    "--quiet",
    "--controller.hidden=[3]",
    "--optimizer.popsize=6",
    "--eval.obs_norm=true",
    "--eval.test_every=4",
    "--eval.test_episodes=2",
    "--checkpoint_every=3",
    "--stop.generations=40",
    "--stop.wall_time=null",
    "--stop.target=null",
]


def _evorl(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "evorl", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def _rows(run: Path) -> list[dict]:
    keep = ("time/", "perf/")
    return [{k: v for k, v in r.items() if not k.startswith(keep)} for r in read_metrics(run)]


@pytest.mark.slow
def test_runs_interrupted_at_random_moments_resume_exactly(tmp_path):
    """12 evolution runs, each sent SIGINT (once or twice) or SIGTERM at a random moment by a
    timer thread, in this process (the command's own handlers, no interpreter start-up per
    trial), then resumed; every metrics row equals an uninterrupted run's."""
    from evorl.commands import main

    full = tmp_path / "full"
    assert main(["evolve", *ARGS, "--run-dir", str(full)]) == 0
    start = time.monotonic()  # a warm run's length (the first one's includes start-up costs)
    assert main(["evolve", *ARGS, "--run-dir", str(tmp_path / "warm")]) == 0
    training = time.monotonic() - start
    expected = _rows(full)
    assert len(expected) == 40
    rng = np.random.default_rng(7)
    kinds = ["int", "int", "int twice", "term"] * 3
    interrupted = 0
    for trial, kind in enumerate(kinds):
        run = tmp_path / f"trial{trial}"
        signals = [signal.SIGTERM] if kind == "term" else [signal.SIGINT]
        signals += [signal.SIGINT] if kind == "int twice" else []
        with _signals_after(float(rng.uniform(0.05, 0.8)) * training, signals):
            code = main(["evolve", *ARGS, "--run-dir", str(run)])
        assert code in (0, 130), code
        interrupted += code == 130
        if code == 130:
            assert main(["resume", str(run), "--quiet"]) == 0
        assert _rows(run) == expected, f"trial {trial} ({kind}) diverged"
        assert not list(run.glob(".*.tmp"))
    assert interrupted >= 8  # most signals landed mid-run


@contextlib.contextmanager
def _signals_after(delay: float, signals: list[int]):
    """Send this process ``signals`` (10 ms apart) ``delay`` seconds into the block; a signal
    that lands outside the command's own handlers (before its run or after it) is ignored."""
    ignore = {sig: signal.signal(sig, lambda *_: None) for sig in set(signals)}

    def send() -> None:
        for n, sig in enumerate(signals):
            time.sleep(0.01 * (n > 0))
            os.kill(os.getpid(), sig)

    timer = threading.Timer(delay, send)
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        timer.join()
        time.sleep(0.05)  # let a last signal's handler run while it is still ignored
        for sig, handler in ignore.items():
            signal.signal(sig, handler)


def _interrupt_trials(command: list[str], tmp_path: Path, kinds: list[str], seed: int) -> int:
    """Run the ``evorl`` process ``command`` once straight and once per signal kind,
    interrupting each at a random moment and resuming it; every run's metrics must equal the
    straight one's row by row, and the process exits 130. Returns how many trials the signal
    landed in mid-run."""
    full = tmp_path / "full"
    proc = _evorl(*command, "--run-dir", str(full))
    assert proc.stderr.readline().startswith("run directory")  # training starts now
    start = time.monotonic()
    proc.stderr.read()
    assert proc.wait(timeout=300) == 0
    training = time.monotonic() - start  # signals land within it, whatever the machine's load
    expected = _rows(full)
    rng = np.random.default_rng(seed)
    interrupted = 0
    for trial, kind in enumerate(kinds):
        run = tmp_path / f"trial{trial}"
        proc = _evorl(*command, "--run-dir", str(run))
        assert proc.stderr.readline().startswith("run directory")  # training starts now
        time.sleep(float(rng.uniform(0.0, 0.8)) * training)
        proc.send_signal(signal.SIGTERM if kind == "term" else signal.SIGINT)
        if kind == "int twice":
            time.sleep(0.01)
            proc.send_signal(signal.SIGINT)
        proc.stderr.read()
        code = proc.wait(timeout=120)
        assert code in (0, 130), code  # 0: the run ended before the signal
        interrupted += code == 130
        if code == 130:
            resumed = _evorl("resume", str(run), "--quiet")
            resumed.stderr.read()
            assert resumed.wait(timeout=300) == 0
        assert _rows(run) == expected, f"trial {trial} ({kind}) diverged"
        assert not list(run.glob(".*.tmp"))
    return interrupted


@pytest.mark.slow
def test_gradient_runs_interrupted_at_random_moments_resume_exactly(tmp_path):
    """Recurrent PPO processes, interrupted and resumed (the exit code is the process's own)."""
    command = ["train", "cartpole-novel", "--algo=ppo", "--quiet", "--stop.env_steps=8192"]
    command += ["--checkpoint_every=1"]
    interrupted = _interrupt_trials(command, tmp_path, ["int", "int twice", "term"], seed=11)
    assert interrupted >= 2


def test_a_refused_resume_leaves_the_run_directory_byte_identical(tmp_path):
    from evorl.commands import main

    run = tmp_path / "run"
    assert main(["evolve", *ARGS, "--stop.generations=2", "--run-dir", str(run)]) == 0
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    for bad in ("--optimizer.name=snes", "--controller.hidden=[4]", "--stop.generations=0"):
        assert main(["resume", str(run), bad]) == 2
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before


def test_a_finished_run_resumed_without_a_new_budget_does_not_run(tmp_path, capsys):
    from evorl.commands import main

    run = tmp_path / "run"
    assert main(["evolve", *ARGS, "--stop.generations=2", "--run-dir", str(run)]) == 0
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    assert main(["resume", str(run), "--quiet"]) == 0
    assert "already finished" in capsys.readouterr().out
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before
    assert main(["resume", str(run), "--quiet", "--stop.generations=3"]) == 0
    assert len(read_metrics(run)) == 3


def test_a_run_killed_before_its_first_checkpoint_starts_again_cleanly(tmp_path, capsys):
    from evorl.commands import main

    run = tmp_path / "run"
    assert main(["evolve", *ARGS, "--stop.generations=2", "--run-dir", str(run)]) == 0
    (run / "checkpoint.pt").unlink()  # as if killed before the first checkpoint
    (run / ".checkpoint.pt.x.tmp").write_bytes(b"half")
    assert main(["resume", str(run), "--quiet"]) == 0
    assert [r["step"] for r in read_metrics(run)] == [1, 2]  # no duplicated rows
    assert main(["evolve", *ARGS, "--stop.generations=2", "--run-dir", str(tmp_path / "b")]) == 0
    assert _rows(run) == _rows(tmp_path / "b")


def test_nonfinite_observations_are_counted_and_left_out_of_the_statistics():
    rng = np.random.default_rng(0)
    clean = rng.normal(size=(20, 3))
    dirty = clean.copy()
    dirty[[3, 11]] = [np.nan, 1.0, 2.0], [0.0, np.inf, 1.0]
    sums = {}
    for name, obs in (("clean", np.delete(clean, [3, 11], axis=0)), ("dirty", dirty)):
        s = ObsSums.zeros(1, 3)
        for row in obs:
            s.add(np.array([0]), row[None])
        sums[name] = s
    assert sums["dirty"].nonfinite.tolist() == [2] and sums["clean"].nonfinite.tolist() == [0]
    a, b = RunningObsStats.empty(3), RunningObsStats.empty(3)
    a.merge(sums["clean"])
    b.merge(sums["dirty"])
    np.testing.assert_array_equal(a.mean, b.mean)
    np.testing.assert_array_equal(a.m2, b.m2)
    assert np.isfinite(b.normalizer()(dirty[:1] * 0)).all()


def test_a_run_on_nan_observations_counts_them_or_stops(tmp_path, monkeypatch):
    """An env whose observations are sometimes NaN: with ``eval.obs_nonfinite=skip`` the run goes
    on with finite statistics and counts them; with ``stop`` it stops with one line (exit 1)."""
    from evorl.commands import main

    monkeypatch.setenv("PYTHONHASHSEED", "0")
    gym_id = "test/NaNCartPole-v0"
    import gymnasium as gym

    if gym_id not in gym.registry:
        gym.register(gym_id, entry_point=_NaNCartPole, max_episode_steps=100)
    common = ["cartpole-novel", "--quiet", "--env.id=" + gym_id, "--env.observe=null"]
    common += ["--controller.hidden=[3]", "--optimizer.popsize=6", "--eval.obs_norm=true"]
    common += ["--stop.generations=3", "--stop.target=null", "--stop.wall_time=null"]
    assert main(["evolve", *common, "--run-dir", str(tmp_path / "skip")]) == 0
    rows = read_metrics(tmp_path / "skip")
    assert sum(r.get("obs/nonfinite", 0) for r in rows) > 0
    # poisoned statistics would give every individual the same fitness from generation 2 on
    assert all(r["fitness/max"] > r["fitness/min"] for r in rows)
    stop = ["--eval.obs_nonfinite=stop", "--run-dir", str(tmp_path / "stop")]
    assert main(["evolve", *common, *stop]) == 1


class _NaNCartPole:
    """CartPole whose every 7th observation is NaN (a broken sensor)."""

    def __new__(cls, **kwargs):
        import gymnasium as gym

        class Broken(gym.ObservationWrapper):
            def __init__(self, env):
                super().__init__(env)
                self.count = 0

            def observation(self, obs):
                self.count += 1
                return obs * np.nan if self.count % 7 == 0 else obs

        return Broken(gym.make("CartPole-v1").unwrapped)


def test_signal_handler_is_restored_after_a_run(tmp_path):
    """The command installs its SIGINT handler for the run only."""
    from evorl.commands import main

    before = signal.getsignal(signal.SIGINT)
    assert main(["evolve", *ARGS, "--stop.generations=1", "--run-dir", str(tmp_path / "r")]) == 0
    assert signal.getsignal(signal.SIGINT) is before


def test_an_interrupt_during_an_atomic_write_waits_for_the_file(tmp_path):
    """A second Ctrl-C that lands inside a checkpoint's write is raised once the file is in
    place: the new file is whole, and nothing is left half-written."""
    import torch

    from evorl.errors import StopNow
    from evorl.rundir import atomic_write, interrupt

    path = tmp_path / "checkpoint.pt"
    payload = {"x": torch.arange(1000)}

    def write(fh):
        fh.write(b"")  # the handler fires in the middle of torch's zip writer
        interrupt(StopNow())
        torch.save(payload, fh)

    with pytest.raises(StopNow):
        atomic_write(path, write)
    assert torch.equal(torch.load(path)["x"], payload["x"])
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]
    with pytest.raises(StopNow):  # outside a write it is raised at once
        interrupt(StopNow())
