"""Evolino's extensions: the gradient polish (differentiable readout, loss gradient, the polish
itself) and parallel workers."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch

from evorl.agents.evolino import Evolino, EvolinoConfig, lstm_pass, solve_readout
from evorl.agents.evolino.bench import Row, format_table
from evorl.agents.evolino.lstm_pass import LSTMPass
from evorl.agents.evolino.network import LSTMPopulation, Runner
from evorl.agents.evolino.polish import _adam, free_run_loss
from evorl.agents.evolino.readout import add_bias, solve_readout_qr
from evorl.tasks.timeseries import make_task

F64 = torch.float64


def test_qr_readout_equals_the_pseudo_inverse_and_has_the_finite_difference_gradient():
    gen = torch.Generator().manual_seed(0)
    phi = torch.randn(2, 30, 5, dtype=F64, generator=gen)
    target = torch.randn(2, 30, 1, dtype=F64, generator=gen)
    torch.testing.assert_close(solve_readout_qr(phi, target), solve_readout(phi, target))
    phi.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda p: solve_readout_qr(p, target), (phi,))


def test_qr_readout_stays_finite_when_a_feature_is_constant():
    """A memory cell saturated over the whole sequence gives a feature collinear with the bias:
    the readout still fits as well as the pseudo-inverse's, with a finite gradient."""
    gen = torch.Generator().manual_seed(0)
    phi = add_bias(torch.randn(40, 4, dtype=F64, generator=gen))
    phi[:, 2] = 1.0  # the same column as the bias
    target = torch.randn(40, 1, dtype=F64, generator=gen)
    assert solve_readout_qr(phi, target, jitter=0.0).abs().max() > 1e8  # plain QR: ill-posed
    w = solve_readout_qr(phi.requires_grad_(True), target)
    assert w.abs().max() < 10
    residual = (phi @ w - target).norm()
    torch.testing.assert_close(residual, (phi @ solve_readout(phi, target) - target).norm())
    residual.backward()
    assert torch.isfinite(phi.grad).all() and phi.grad.abs().sum() > 0


def test_free_run_loss_has_the_finite_difference_gradient():
    """Through the teacher-forced pass, the re-solved readout and the free runs."""
    series = make_task("sines2").train[:160]
    model = Evolino(EvolinoConfig(hidden=2, valid=30, valid_horizon=10), 1)
    genome = torch.as_tensor(
        np.random.default_rng(0).normal(0, 0.5, model.dim), dtype=F64
    ).requires_grad_(True)
    train = torch.as_tensor(series, dtype=F64)
    loss = free_run_loss(model, genome, train, 20, 10)
    assert loss.item() > 0
    assert torch.autograd.gradcheck(
        lambda g: free_run_loss(model, g, train, 20, 10), (genome,), eps=1e-6, atol=1e-7
    )


@pytest.mark.parametrize("peepholes", [True, False])
def test_the_fused_teacher_forced_pass_equals_autograd_step_by_step(peepholes, monkeypatch):
    """Features, snapshots, final state and their gradients in the weights and the (non-zero)
    start state; then the forward alone (no gradients recorded) in float32."""
    net = LSTMPopulation((7,), 2, 2, peepholes=peepholes, readout_cells=True)
    gen = torch.Generator().manual_seed(1)
    flat = torch.randn(3, net.controller.num_params, dtype=F64, generator=gen) * 0.5
    inputs = torch.randn(40, 1, 2, dtype=F64, generator=gen)
    start = tuple(torch.randn(3, 7, dtype=F64, generator=gen) for _ in range(2))
    weights = torch.randn(35, 3, net.features, dtype=F64, generator=gen)
    fused, apply, run = [], LSTMPass.apply, lstm_pass.run
    monkeypatch.setattr(LSTMPass, "apply", lambda *a: fused.append("apply") or apply(*a))
    monkeypatch.setattr(lstm_pass, "run", lambda *a, **k: fused.append("run") or run(*a, **k))
    results = []
    step_by_step = LSTMPopulation((7,), 2, 2, peepholes=peepholes, readout_cells=True)
    monkeypatch.setattr(step_by_step, "whole_pass", lambda *a: None)
    for runner in (net, step_by_step):
        leaves = [t.clone().requires_grad_(True) for t in (flat, *start)]
        feats, last, snaps = runner.teacher_force(
            net.params(leaves[0]), inputs, tuple(leaves[1:]), collect_from=5, snapshots=(9, 30)
        )
        loss = (
            (feats * weights).sum() + (snaps[0][1] ** 2).sum() + snaps[1][0].sum() + last[1].sum()
        )
        results.append((feats, last, snaps, *torch.autograd.grad(loss, leaves)))
    assert fused == ["apply", "run"]  # the first pass was the fused one, the second step by step
    torch.testing.assert_close(results[0], results[1], rtol=1e-12, atol=1e-12)
    with torch.no_grad():  # the forward alone, as the search runs it, in float32
        net32 = LSTMPopulation((7,), 2, 2, peepholes=peepholes, dtype=torch.float32)
        args = (net32.params(flat), inputs.float(), tuple(s.float() for s in start))
        fast = net32.teacher_force(*args, collect_from=5, snapshots=(9,))
        monkeypatch.setattr(net32, "whole_pass", lambda *a: None)
        slow = net32.teacher_force(*args, collect_from=5, snapshots=(9,))
    assert fused == ["apply", "run", "run"]  # the forward alone, without LSTMPass
    torch.testing.assert_close(fast, slow, rtol=1e-5, atol=1e-5)


def test_the_compiled_cell_saturates_as_torch_does_and_keeps_nan(monkeypatch):
    """Gate inputs far beyond ±40 (where the kernels clip exp's argument) give torch's values;
    a NaN weight makes that network's states NaN instead of being clipped away."""
    net = LSTMPopulation((5,), 1, 1, readout_cells=True)
    gen = torch.Generator().manual_seed(2)
    flat = torch.randn(2, net.controller.num_params, dtype=F64, generator=gen) * 60
    inputs = torch.randn(30, 1, 1, dtype=F64, generator=gen)
    fused = net.teacher_force(net.params(flat), inputs, net.initial_state(2))[0]
    monkeypatch.setattr(net, "whole_pass", lambda *a: None)
    reference = net.teacher_force(net.params(flat), inputs, net.initial_state(2))[0]
    assert (net.params(flat)["b0"].abs() > 40).float().mean() > 0.25  # saturated gates
    torch.testing.assert_close(fused, reference, rtol=1e-12, atol=1e-12)
    monkeypatch.undo()
    flat[1, 0] = float("nan")
    fused = net.teacher_force(net.params(flat), inputs, net.initial_state(2))[0]
    assert fused[1:, 1, :10].isnan().all() and fused[:, 0].isfinite().all()  # from step 2 on


@pytest.mark.parametrize(
    ("peepholes", "cells", "inputs"),
    [
        (True, True, True),
        (True, False, True),
        (False, True, False),
        (False, False, False),
        (True, "tanh", True),
    ],
)
def test_the_fused_free_run_equals_autograd_step_by_step(peepholes, cells, inputs, monkeypatch):
    """Outputs fed back, some of them clipped; gradients in the weights, the readout and the
    start state (which the polish takes from the teacher-forced pass); then the forward alone."""
    kinds = {"peepholes": peepholes, "readout_cells": cells, "readout_input": inputs}
    net = LSTMPopulation((7,), 2, 2, **kinds)
    gen = torch.Generator().manual_seed(1)
    flat = torch.randn(3, net.controller.num_params, dtype=F64, generator=gen) * 0.5
    start = tuple(torch.randn(3, 7, dtype=F64, generator=gen) for _ in range(2))
    readout = torch.randn(3, net.features + 1, 2, dtype=F64, generator=gen)
    last_input, target = torch.randn(3, 2, dtype=F64), torch.randn(12, 3, 2, dtype=F64)
    fused, apply, run = [], lstm_pass.FreeRun.apply, lstm_pass.free_run
    monkeypatch.setattr(lstm_pass.FreeRun, "apply", lambda *a: fused.append("apply") or apply(*a))
    monkeypatch.setattr(lstm_pass, "free_run", lambda *a, **k: fused.append("run") or run(*a, **k))
    results = []
    for free_run in (net.free_run, partial(Runner.free_run, net)):
        leaves = [t.clone().requires_grad_(True) for t in (flat, readout, *start)]
        out = free_run(net.params(leaves[0]), leaves[1], tuple(leaves[2:]), last_input, 12, 1.5)
        grads = torch.autograd.grad(((out - target) ** 2).sum(), leaves)
        with torch.no_grad():
            alone = free_run(net.params(flat), readout, start, last_input, 12, 1.5)
        results.append((out, alone, *grads))
    assert fused == ["apply", "run", "run"]  # with gradients (apply runs the forward), without
    assert 0 < (results[1][0].abs() == 1.5).float().mean() < 0.8  # some outputs clipped
    torch.testing.assert_close(results[0], results[1], rtol=1e-12, atol=1e-12)


def _fit(**changes):
    task = make_task("sines2")
    config = EvolinoConfig(
        hidden=6, generations=4, credit="max", burst_scale=0.01, readout_cells=True, **changes
    )
    model = Evolino(config, 1)
    return model, model.fit(task.train, task.washout), task


def test_polish_lowers_the_free_running_error_of_the_evolved_network():
    plain, plain_fit, task = _fit()
    model, result, _ = _fit(polish_steps=40, polish_check=5)
    assert result.search_fitness == plain_fit.fitness  # the same search, then the polish
    assert result.polish_steps == 40
    assert result.fitness > plain_fit.fitness + np.log(1.5)  # validation NRMSE down by > 1/3
    assert task.score(model.forecast)[0] < task.score(plain.forecast)[0]
    before = model.without_polish()  # the search's pick, as the unpolished fit has it
    np.testing.assert_array_equal(before.genome, plain.genome)
    assert task.score(before.forecast)[0] == task.score(plain.forecast)[0]
    row = Row("sines2", "evolino", 0.1, "NRMSE", 0.01, None, 1.0, {"polish_steps": 20})
    row.info["test_before_polish"] = 0.25
    assert "20 gradient-polish steps" in format_table([row]).splitlines()[-1]
    assert "before them: 0.25" in format_table([row])


def test_polish_keeps_the_evolved_network_when_no_step_scores_better():
    plain, plain_fit, _ = _fit()
    model, result, _ = _fit(polish_steps=5, polish_check=5, polish_lr=50.0)
    assert result.fitness == plain_fit.fitness
    np.testing.assert_array_equal(model.genome, plain.genome)


def test_a_diverging_polish_returns_to_its_best_iterate_at_a_smaller_step_size():
    """At this step size the first steps diverge (non-finite gradients: a polish that just
    stopped there would keep the evolved network); halving it from the best iterate recovers."""
    _, plain_fit, _ = _fit()
    _, result, _ = _fit(polish_steps=40, polish_check=5, polish_lr=0.5)
    assert result.polish_steps == 40
    assert result.fitness > plain_fit.fitness + np.log(1.5)
    assert result.polish_setbacks >= 1


def test_the_polish_warm_up_ramps_adams_steps_linearly():
    """Under a constant gradient Adam moves every weight by the learning rate at every step,
    whatever the gradient's size (bias-corrected m / sqrt(v) = ±1): with a 4-step warm-up, step k
    moves it by k/4 of the rate, and from step 4 on by all of it."""
    grad = torch.tensor([1e-3, -3.0, 50.0, 0.2], dtype=F64)
    g = torch.zeros(4, dtype=F64, requires_grad=True)
    opt, ramp = _adam(g, 0.1, 4)
    for k in range(1, 7):
        before = g.detach().clone()
        g.grad = grad.clone()
        opt.step()
        ramp()
        expected = -0.1 * min(k, 4) / 4 * torch.sign(grad)
        torch.testing.assert_close(g.detach() - before, expected, rtol=1e-4, atol=0)


def test_polish_stops_at_its_time_budget():
    _, result, _ = _fit(polish_steps=10**6, polish_time=0.5, polish_check=10**6)
    assert 1 <= result.polish_steps < 10**6
    assert dataclasses.asdict(result)["polish_steps"] == result.polish_steps


def test_parallel_searches_give_the_best_of_the_same_searches_run_in_turn():
    """Two worker processes, then two parallel polishes: the same result as seeds 2 and 3 alone
    (seed 1 with 2 workers: the searches share no seed with seed 0's)."""
    singles = [_fit(seed=seed, polish_steps=4, polish_check=2) for seed in (2, 3)]
    task, steps = make_task("sines2"), []
    config = dataclasses.replace(singles[0][0].config, workers=2, seed=1)
    model = Evolino(config, 1)
    result = model.fit(task.train, task.washout, lambda step, best: steps.append(step))
    best_model, best = max(((m, r) for m, r, _ in singles), key=lambda mr: mr[1].fitness)
    assert result.fitness == best.fitness
    np.testing.assert_array_equal(model.genome, best_model.genome)
    assert result.evaluations == sum(r.evaluations for _, r, _ in singles)
    assert max(steps) == 4 + 4  # generations, then polish steps, relayed from the workers


@pytest.mark.parametrize(
    "bad",
    [
        {"workers": 0},
        {"polish_steps": -1},
        {"polish_lr": 0.0},
        {"polish_warmup": -1},
        {"readout_cells": "sigmoid"},
        {"polish_time": 0.0},
        {"restarts": -1},
        {"restart_context": 0},
    ],
)
def test_bad_evolino_settings_are_refused(bad):
    with pytest.raises(ValueError, match="EvolinoConfig"):
        EvolinoConfig(**bad)


def test_workers_in_an_unguarded_script_fail_with_a_clear_error(tmp_path):
    """Spawned workers re-run a script's top level; without the main guard the fit must say so."""
    script = tmp_path / "unguarded.py"
    script.write_text(
        "from evorl.agents.evolino import Evolino, EvolinoConfig\n"
        "from evorl.tasks.timeseries import make_task\n"
        "task = make_task('sines2')\n"
        "Evolino(EvolinoConfig(hidden=2, generations=1, workers=2), 1)"
        ".fit(task.train, task.washout)\n"
    )
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode != 0
    # The traceback's last line is the error; multiprocessing's resource tracker may add a
    # warning about the dead pool's semaphores after it at interpreter exit.
    errors = [line for line in proc.stderr.splitlines() if line.startswith("RuntimeError: ")]
    assert errors, proc.stderr[-2000:]
    assert "if __name__ == '__main__'" in errors[-1]


def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
        except (OSError, ValueError):
            continue
        if entry.name.isdigit() and int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    """Running, not gone and not a zombie awaiting its reaper."""
    try:
        return (Path(f"/proc/{pid}") / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc").exists(), reason="reads /proc")
def test_workers_exit_when_their_parent_dies(tmp_path):
    script = tmp_path / "long_fit.py"
    script.write_text(
        "from evorl.agents.evolino import Evolino, EvolinoConfig\n"
        "from evorl.tasks.timeseries import make_task\n"
        "if __name__ == '__main__':\n"
        "    task = make_task('sines2')\n"
        "    config = EvolinoConfig(hidden=2, generations=10**9, time_limit=120, workers=2)\n"
        "    Evolino(config, 1).fit(task.train, task.washout, lambda s, b: print(s, flush=True))\n"
    )
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "1"  # a worker has reported its first generation
        workers = _children(proc.pid)
        assert len(workers) >= 2
    finally:
        proc.kill()
        proc.wait()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(_alive(w) for w in workers):
        time.sleep(0.2)
    alive = [w for w in workers if _alive(w)]
    for w in alive:
        os.kill(w, signal.SIGKILL)
    assert not alive, "worker processes outlived their parent"


def test_a_polish_horizon_longer_than_the_readout_segment_is_refused():
    model = Evolino(EvolinoConfig(hidden=2, valid=30), 1)
    train = torch.as_tensor(make_task("sines2").train[:160], dtype=F64)
    genome = torch.zeros(model.dim, dtype=F64)
    with pytest.raises(ValueError, match="polish horizon 200 does not fit"):
        free_run_loss(model, genome, train, 20, 200)
