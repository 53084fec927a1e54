"""The pole-balancing benchmark: fast physics == reference, the solve protocol, the bench script."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

from evorl.builder import build_trainer, controller_for
from evorl.config import ConfigError, ControllerConfig, EnvConfig, load_config
from evorl.controllers import build_controller
from evorl.envs import pole
from evorl.envs.pole_vector import PoleBalancingVectorEnv, advance_array
from evorl.pole import (
    LongTest,
    PoleProtocol,
    PoleTester,
    balance_steps,
    candidate_rows,
    generalization,
    run_lockstep,
)

ROOT = Path(__file__).resolve().parents[1]
SINGLE = EnvConfig(id="evorl/SinglePole-v0")
HAND_PD = np.array([0.5, 1.0, 3.0, 1.0, 0.0])
"""A hand-tuned linear law on the scaled observations [x, ẋ, θ, θ̇] (+ bias): balances 100,000
steps (checked once; the tests below use shorter horizons to stay fast)."""


def _linear(obs_dim: int = 4):
    return build_controller(ControllerConfig(kind="linear"), obs_dim, gym.spaces.Box(-1, 1, (1,)))


@pytest.mark.parametrize("num_poles", [1, 2])
def test_fast_physics_is_bit_identical_to_the_reference(num_poles):
    rng = np.random.default_rng(num_poles)
    y = rng.uniform(-1, 1, (2 + 2 * num_poles, 64))
    y[1, :8] = 0.0  # sgn(ẋ) = 0: the friction term vanishes
    y[1, 8:16] = -0.0
    force = rng.uniform(-10, 10, 64)
    force[:4] = 0.0
    reference = np.stack(pole.advance(list(y), force, num_poles, pole.NUMPY_OPS))
    assert np.array_equal(advance_array(y, force, num_poles), reference)
    for i in range(64):
        scalar = pole.advance(list(y[:, i]), force[i], num_poles, pole.FLOAT_OPS)
        assert pole.advance_float(y[:, i].tolist(), float(force[i]), num_poles) == scalar
        assert np.array_equal(scalar, reference[:, i])


def test_vector_env_paths_agree_few_and_many_envs():
    """1 running env steps with Python floats, 9 with whole arrays: same trajectories."""
    rng = np.random.default_rng(0)
    starts = np.zeros((9, 6))
    starts[:, 2] = rng.uniform(-0.05, 0.05, 9)
    many = PoleBalancingVectorEnv(9, num_poles=2, markov=False, damping_fitness=True)
    few = [
        PoleBalancingVectorEnv(1, num_poles=2, markov=False, damping_fitness=True) for _ in starts
    ]
    many.reset(options={"state": starts})
    for env, s in zip(few, starts, strict=True):
        env.reset(options={"state": s})
    for _ in range(40):
        actions = rng.uniform(-1, 1, (9, 1))
        _, rewards, *_ = many.step(actions)
        for i, env in enumerate(few):
            _, r, *_ = env.step(actions[i : i + 1])
            assert np.array_equal(env.state[:, 0], many.state[:, i]) and r[0] == rewards[i]


def test_long_test_recognises_a_solution_and_rejects_a_bad_one():
    ctrl = _linear()
    params = np.stack([HAND_PD, np.zeros(5)])
    steps = balance_steps(ctrl, params, SINGLE, 3000)
    assert steps[0] == 3000 and steps[1] < 100
    assert generalization(ctrl, np.zeros(5), SINGLE) < 200


def test_long_test_in_chunks_equals_one_pass():
    ctrl = build_controller(
        ControllerConfig(kind="elman", hidden=(3,)), 4, gym.spaces.Box(-1, 1, (1,)), seed=3
    )
    params = ctrl.get_flat().numpy().astype(np.float64)
    params[-ctrl.out_dim * 4 - 1 :] = 0.0  # a mild readout so it survives a while
    pd = np.concatenate([np.zeros(len(params) - 5), HAND_PD])
    one, chunked = LongTest(ctrl, SINGLE, 1500), LongTest(ctrl, SINGLE, 1500)
    for test in (one, chunked):
        test.add(params, "rnn")
        test.add(pd, "pd")
    whole = one.advance()
    parts = chunked.advance(600) + chunked.advance(400) + chunked.advance(None)
    assert sorted(whole) == sorted(parts)


def test_candidates():
    lengths = np.array([[1000], [40], [1000]])
    fitness = np.array([0.5, 0.9, 0.7])
    assert candidate_rows(lengths, fitness, 1000, "balanced").tolist() == [0, 2]
    assert candidate_rows(lengths, fitness, 1000, "champion").tolist() == []
    assert candidate_rows(lengths, np.array([0.5, 0.1, 0.7]), 1000, "champion").tolist() == [2]


def _config(preset: str, seed: int, *extra: str):
    return load_config(preset, [f"--seed={seed}", *extra])


def _with_protocol(cfg, protocol: PoleProtocol):
    """A trainer of ``cfg`` whose tester follows ``protocol`` (a tester of the test's own)."""
    trainer = build_trainer(cfg)
    controller = controller_for(cfg.env, cfg.controller, cfg.seed)[0]
    trainer.tester = PoleTester(controller, cfg.env, protocol)
    return trainer, controller


def test_protocol_on_a_trainer_equals_lockstep_and_counts_whole_generations():
    torch.set_num_threads(1)
    protocol = PoleProtocol(test_steps=2000, generalization=False)
    configs = [
        _config("single-pole", s, "--stop.evaluations=400", "--eval.pole_protocol=null")
        for s in (1, 2, 3)
    ]
    batched = run_lockstep(configs, protocol, chunk=700)
    for cfg, result in zip(configs, batched, strict=True):
        trainer, controller = _with_protocol(cfg, protocol)
        state = trainer.run()
        alone = trainer.tester.solution
        assert state.solved and result.solved and state.stop_reason == "solved"
        assert alone.evaluations == result.evaluations == state.episodes
        assert alone.evaluations % cfg.optimizer.popsize == 0
        assert alone.evaluations_serial == result.solution.evaluations_serial
        assert alone.evaluations - cfg.optimizer.popsize < alone.evaluations_serial
        assert np.array_equal(alone.params, result.solution.params)
        assert balance_steps(controller, alone.params, cfg.env, 2000)[0] == 2000
        np.testing.assert_array_equal(trainer.champion, alone.params)


def test_config_attaches_the_protocol():
    """``eval.pole_protocol`` in a config makes ``evorl evolve`` follow the protocol."""
    trainer = build_trainer(_config("dpnv", 1))
    assert isinstance(trainer.tester, PoleTester)
    assert trainer.tester.protocol.candidates == "balanced"
    assert trainer.tester.protocol.test_steps == 100_000
    short = build_trainer(_config("dpnv", 1, "--eval.pole_test_steps=5000"))
    assert short.tester.protocol.test_steps == 5000
    strict = build_trainer(_config("dpnv", 1, "--eval.pole_min_generalization=150"))
    assert strict.tester.protocol.min_generalization == 150
    plain = build_trainer(_config("dpnv", 1, "--eval.pole_protocol=null"))
    assert not isinstance(plain.tester, PoleTester)
    with pytest.raises(ConfigError, match=r"<= 625, got 626"):
        _config("dpnv", 1, "--eval.pole_min_generalization=626")
    with pytest.raises(ConfigError, match=r"pole_test_steps.*>= 1, got 0"):
        _config("dpnv", 1, "--eval.pole_test_steps=0")
    with pytest.raises(ConfigError, match=r"eval\.pole_protocol"):
        _config("dpnv", 1, "--eval.pole_protocol=best")
    with pytest.raises(ConfigError, match="Pole"):
        build_trainer(
            load_config("cartpole", ["--eval.test_every=0", "--eval.pole_protocol=balanced"])
        )


def test_required_generalization_turns_down_a_long_test_winner():
    """With ``min_generalization`` a candidate that balances the long test but generalises to
    fewer start states is not the solution: the run goes on to a better one, or ends unsolved."""
    torch.set_num_threads(1)
    configs = [_config("single-pole", 1, "--stop.evaluations=300")]
    loose = run_lockstep(configs, PoleProtocol(test_steps=2000))
    for cfg, first in zip(configs, loose, strict=True):
        assert first.solved and first.solution.generalization < 625
        need = first.solution.generalization + 1
        (strict,) = run_lockstep([cfg], PoleProtocol(test_steps=2000, min_generalization=need))
        assert strict.tested >= first.tested
        if strict.solved:
            assert strict.solution.generalization >= need
            assert (strict.evaluations, strict.solution.index) != (
                first.evaluations,
                first.solution.index,
            )
            controller = controller_for(cfg.env, cfg.controller, cfg.seed)[0]
            assert balance_steps(controller, strict.solution.params, cfg.env, 2000)[0] == 2000
        else:
            assert strict.evaluations >= 300


def test_lockstep_records_the_optimizers_restarts():
    """The dpnv preset restarts CMA-ES every ``maxfevals`` evaluations; the result counts them."""
    torch.set_num_threads(1)
    cfg = _config(
        "dpnv",
        3,
        "--stop.evaluations=200",
        "--optimizer.settings.cma_options.maxfevals=64",
        "--eval.pole_min_generalization=0",
    )
    (result,) = run_lockstep([cfg], PoleProtocol(test_steps=1000, generalization=False))
    trainer, _ = _with_protocol(cfg, PoleProtocol(test_steps=1000, generalization=False))
    trainer.run()
    restarts, solution = trainer.learner.optimizer.restarts, trainer.tester.solution
    assert restarts >= 2
    if solution is None:
        assert not result.solved and result.restarts == restarts
    else:
        assert result.solved and result.evaluations == solution.evaluations


def test_champion_protocol_runs_on_the_damping_task():
    protocol = PoleProtocol(candidates="champion", test_steps=1000)
    configs = [_config("dpnv", 1, "--stop.evaluations=200")]
    (result,) = run_lockstep(configs, protocol)
    assert result.evaluations >= 1 and result.generations >= 1
    if result.solved:  # unlikely in 200 evaluations; then it was scored
        assert 0 <= result.solution.generalization <= 625


def test_the_pole_tester_refuses_trainer_tests_and_other_envs():
    with pytest.raises(ConfigError, match="test_every"):
        build_trainer(_config("single-pole", 1, "--eval.test_every=5"))
    cfg = load_config("cartpole", ["--eval.test_every=0"])
    with pytest.raises(ConfigError, match="Pole"):
        PoleTester(controller_for(cfg.env, cfg.controller, 1)[0], cfg.env, PoleProtocol())


def _bench_module(monkeypatch):
    spec = importlib.util.spec_from_file_location("bench_pole", ROOT / "scripts/bench_pole.py")
    bench = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "bench_pole", bench)  # dataclasses look their module up
    spec.loader.exec_module(bench)
    return bench


def test_bench_refuses_an_impossible_generalisation_score(capsys, monkeypatch):
    with pytest.raises(SystemExit) as exit_info:
        _bench_module(monkeypatch).main(["--min-generalization", "700"])
    assert exit_info.value.code == 2
    assert "700 is not in 0..625" in capsys.readouterr().err


def test_bench_quick_mode_writes_the_table(tmp_path, capsys, monkeypatch):
    bench = _bench_module(monkeypatch)
    out = tmp_path / "pole.json"
    assert bench.main(["--quick", "--out", str(out)]) == 0
    record = json.loads(out.read_text())
    assert [row["task"] for row in record["rows"]] == ["single-pole", "double-pole", "dpnv"]
    for row in record["rows"]:
        assert row["summary"]["runs"] == 2 and row["published"]["CoSyNE"] > 0
    assert "CoSyNE" in capsys.readouterr().out


@pytest.mark.parametrize(("params", "verdict"), [(HAND_PD, "passed"), (np.zeros(5), "failed")])
def test_cli_eval_pole_tests(tmp_path, capsys, monkeypatch, params, verdict):
    """``evorl eval --pole-tests`` runs the long balance test and the generalisation test."""
    import evorl.commands.cli
    import evorl.pole
    from evorl.builder import start_run
    from evorl.rundir import CHECKPOINT, load_checkpoint, save_checkpoint

    monkeypatch.setattr(evorl.pole, "TEST_STEPS", 3000)  # the standard 100,000 takes seconds
    trainer = start_run(load_config("single-pole", [f"--out={tmp_path}", "--stop.generations=1"]))
    trainer.run()
    path = trainer.run_dir / CHECKPOINT
    payload = load_checkpoint(path)
    payload["policy"]["params"] = params
    save_checkpoint(path, payload, payload["kind"])
    args = ["eval", str(trainer.run_dir), "--checkpoint=latest", "--episodes=1", "--pole-tests"]
    assert evorl.commands.cli.main(args) == 0
    out = capsys.readouterr().out
    assert f"of 3,000 steps ({verdict})" in out
    score = int(out.split("generalisation: ")[1].split(" of 625")[0])
    # No force keeps only the 5 states that start at rest upright (θ = θ̇ = ẋ = 0, five x values).
    assert (score > 100) if verdict == "passed" else (score == 5)


def test_cli_eval_pole_tests_refuses_other_envs(tmp_path, capsys):
    import evorl.commands.cli
    from evorl.builder import start_run

    cfg = load_config("cartpole", [f"--out={tmp_path}", "--stop.generations=1"])
    trainer = start_run(cfg)
    trainer.run()
    assert (
        evorl.commands.cli.main(["eval", str(trainer.run_dir), "--episodes=1", "--pole-tests"]) == 2
    )
    assert "needs an evorl/*Pole* env" in capsys.readouterr().err
