"""RTRL against autograd, real-time RTRL learning XOR, gradient checks, truncated BPTT."""

from __future__ import annotations

import copy

import gymnasium as gym
import numpy as np
import pytest
import torch

from evorl.config import ConfigError
from evorl.controllers import CONTROLLERS, ControllerConfig, build_controller
from evorl.supervised import rtrl as rtrl_module
from evorl.supervised.bptt import (
    bptt_step,
    run_sequence,
    sequence_loss,
    set_forget_bias,
    set_gate_bias,
)
from evorl.supervised.config import resolve_config
from evorl.supervised.gradcheck import gradient_check
from evorl.supervised.learner import build_net
from evorl.supervised.rtrl import RealTimeRTRL, rtrl_gradient
from evorl.supervised.train import fit, to_torch


def random_problem(
    seed: int,
    units: int = 5,
    obs: int = 3,
    out: int = 2,
    steps: int = 15,
    batch: int = 4,
    activation: str = "sigmoid",
):
    """A random fully recurrent net (float64, weights ~U(-1, 1)) and random data and mask."""
    cfg = ControllerConfig(
        kind="fully_recurrent",
        hidden=(units,),
        activation=activation,
        init="uniform",
        init_scale=1.0,
    )
    net = build_controller(cfg, obs, gym.spaces.Box(-1, 1, (out,)), seed=seed).double()
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(steps, batch, obs, generator=g, dtype=torch.float64)
    d = torch.rand(steps, batch, out, generator=g, dtype=torch.float64)
    mask = torch.rand(steps, batch, out, generator=g) < 0.6
    return net, x, d, mask


def autograd_gradient(net, x, d, mask, teacher_forcing):
    net.zero_grad(set_to_none=True)
    out, _ = run_sequence(net, x, targets=d, mask=mask, teacher_forcing=teacher_forcing)
    loss = sequence_loss(out, d, mask, "sse")
    loss.backward()
    return float(loss.detach()), net.w.grad.clone(), out.detach()


@pytest.mark.parametrize("teacher_forcing", [False, True])
@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rtrl_gradient_equals_bptt_autograd(seed, activation, teacher_forcing):
    net, x, d, mask = random_problem(seed, units=3 + seed, activation=activation)
    result = rtrl_gradient(net, x, d, mask, teacher_forcing=teacher_forcing)
    loss, grad, out = autograd_gradient(net, x, d, mask, teacher_forcing)
    assert grad.abs().max() > 1e-3  # a gradient worth comparing
    torch.testing.assert_close(result.grad, grad, rtol=1e-8, atol=1e-10)
    assert result.loss == pytest.approx(loss, rel=1e-12)
    torch.testing.assert_close(result.outputs, out, rtol=0, atol=1e-12)


def test_teacher_forcing_changes_the_gradient():
    net, x, d, mask = random_problem(4)
    free = rtrl_gradient(net, x, d, mask).grad
    forced = rtrl_gradient(net, x, d, mask, teacher_forcing=True).grad
    assert (free - forced).abs().max() > 1e-3


def test_realtime_rtrl_one_step_is_the_epochwise_gradient_step():
    """On a one-step trajectory real-time and epochwise RTRL make the same weight change."""
    net, x, d, mask = random_problem(5, steps=1)
    expected = net.w.detach() - 0.5 * rtrl_gradient(net, x, d, mask).grad
    learner = RealTimeRTRL(net, lr=0.5)
    learner.run(x, d, mask)
    torch.testing.assert_close(net.w.detach(), expected, rtol=0, atol=1e-14)


def test_realtime_rtrl_learns_pipelined_xor():
    """Williams & Zipser 3.1: τ = 2, 3 units, no teacher forcing, weights changed every step."""
    cfg = resolve_config(
        "xor",
        "rtrl",
        ["seed=0", "lr=2.0", "controller.hidden=[3]", "max_sequences=1000", "eval_every=50"],
    )
    result = fit(cfg)
    assert result.solved, result.curve[-1]
    assert result.solved_at <= 500


@pytest.mark.parametrize("kind", list(CONTROLLERS))
@pytest.mark.parametrize("loss", ["sse", "bce"])
def test_gradient_check_passes_for_every_controller(kind, loss):
    hidden = (4, 3) if kind in ("mlp", "lstm") else (4,)
    cfg = ControllerConfig(kind=kind, hidden=hidden, peepholes=kind == "lstm")
    net = build_controller(cfg, 3, gym.spaces.Box(-1, 1, (2,)), seed=7)
    g = torch.Generator().manual_seed(1)
    x, d = torch.randn(6, 2, 3, generator=g), torch.rand(6, 2, 2, generator=g)
    mask = torch.rand(6, 2, 2, generator=g) < 0.7
    result = gradient_check(net, x, d, mask, loss)
    assert result.checked == net.num_params
    assert result.max_rel_error < 1e-4, result.worst


@pytest.mark.parametrize("teacher_forcing", [False, True])
def test_gradient_check_of_rtrl(teacher_forcing):
    net, x, d, mask = random_problem(3)
    result = gradient_check(net, x, d, mask, method="rtrl", teacher_forcing=teacher_forcing)
    assert result.max_rel_error < 1e-4


def test_gradient_check_catches_a_wrong_derivative(monkeypatch):
    net, x, d, mask = random_problem(3)
    true_derivative = rtrl_module.derivative
    monkeypatch.setattr(rtrl_module, "derivative", lambda *a: 1.1 * true_derivative(*a))
    assert gradient_check(net, x, d, mask, method="rtrl").max_rel_error > 1e-2


def lstm_and_data(seed: int = 0):
    cfg = ControllerConfig(kind="lstm", hidden=(5,))
    net = build_controller(cfg, 3, gym.spaces.Box(-1, 1, (2,)), seed=seed)
    g = torch.Generator().manual_seed(seed)
    x, d = torch.randn(12, 4, 3, generator=g), torch.rand(12, 4, 2, generator=g)
    return net, x, d, torch.rand(12, 4, 2, generator=g) < 0.5


def test_truncated_bptt_with_a_full_window_equals_full_bptt():
    net, x, d, mask = lstm_and_data()
    full, trunc, short = net, copy.deepcopy(net), copy.deepcopy(net)
    for model, window in ((full, None), (trunc, 12), (short, 4)):
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        bptt_step(model, opt, x, d, mask, "bce", window=window, clip=None)
    assert torch.equal(full.get_flat(), trunc.get_flat())
    assert not torch.allclose(full.get_flat(), short.get_flat())


def test_truncated_bptt_carries_the_state_across_windows():
    """With lr = 0 the windows' losses add up to the full sequence's loss only if the state
    flows from one window into the next."""
    net, x, d, mask = lstm_and_data(1)
    full = float(sequence_loss(net.unroll(x, net.initial_state(4))[0], d, mask, "bce").detach())
    opt = torch.optim.SGD(net.parameters(), lr=0.0)
    windowed = bptt_step(net, opt, x, d, mask, "bce", window=5)
    assert windowed == pytest.approx(full, rel=1e-6)


def test_gradient_clipping_bounds_the_step():
    net, x, d, mask = lstm_and_data(2)
    before = net.get_flat()
    opt = torch.optim.SGD(net.parameters(), lr=1.0)
    bptt_step(net, opt, x, 100 * d, mask, "sse", clip=0.01)
    assert torch.linalg.vector_norm(net.get_flat() - before) <= 0.01 + 1e-6


def test_forget_bias_option():
    net, *_ = lstm_and_data()
    set_forget_bias(net, 3.0)
    assert torch.all(net.b0[5:10] == 3.0) and torch.all(net.b0[:5] == 0.0)
    with pytest.raises(ValueError, match="lstm"):
        set_forget_bias(random_problem(0)[0], 1.0)


def test_input_bias_option_sets_the_first_gate_block_with_or_without_forget_gate():
    net, *_ = lstm_and_data()
    set_gate_bias(net, "input", -3.0)
    assert torch.all(net.b0[:5] == -3.0) and torch.all(net.b0[5:10] == 1.0)
    cfg = ControllerConfig(kind="lstm", hidden=(5,), forget_gate=False)
    net = build_controller(cfg, 3, gym.spaces.Box(-1, 1, (2,)), seed=0)
    set_gate_bias(net, "input", -2.0)
    assert torch.all(net.b0[:5] == -2.0) and torch.all(net.b0[5:] == 0.0)
    with pytest.raises(ValueError, match="forget_gate"):
        set_forget_bias(net, 1.0)


def early_to_late_gradient(task: str, overrides: list[str]) -> float:
    """At initialisation: |dL/dx| at steps 0-19 (where the relevant inputs lie) over steps 90-99
    (just before the target) of the task's default net, 16 sequences."""
    task_, net, loss = build_net(resolve_config(task, None, overrides))
    x, d, mask = to_torch(task_.sample(16, np.random.default_rng(0)))
    x.requires_grad_(True)
    sequence_loss(net.unroll(x, net.initial_state(16))[0], d, mask, loss).backward()
    per_step = x.grad.abs().sum(dim=(1, 2))
    return float(per_step[:20].mean() / per_step[90:100].mean())


@pytest.mark.parametrize("task", ["adding", "temporal_order"])
def test_long_lag_defaults_let_the_gradient_reach_the_first_relevant_input(task):
    """Regression (issue 7): with the usual gate biases (input 0, forget 1) the loss gradient
    at the first relevant inputs was ~90x (adding T=100) and ~36,000x (temporal order) weaker
    than near the target, and LSTM+BPTT stayed at the mean / at chance. With the tasks'
    defaults (input gate closed, forget gate open) it is as strong (ratio 6.0 and 0.52)."""
    assert early_to_late_gradient(task, []) > 0.1
    assert early_to_late_gradient(task, ["input_bias=null", "forget_bias=null"]) < 0.05


def test_long_lag_gate_biases_are_set_only_for_the_lstm():
    assert resolve_config("adding", "bptt").input_bias == -3.0
    assert resolve_config("adding", "rtrl").input_bias is None  # rtrl's net is fully recurrent
    assert resolve_config("reber").input_bias is None
    with pytest.raises(ConfigError, match="null"):
        build_net(resolve_config("temporal_order", None, ["controller.kind=gru"]))


@pytest.mark.parametrize("algo", ["bptt", "tbptt", "evolution"])
def test_every_algorithm_trains_the_fully_recurrent_net(algo):
    cfg = resolve_config("xor", algo, ["max_sequences=64", "eval_every=32", "test_size=8"])
    result = fit(cfg)
    assert result.sequences >= 64 and len(result.curve) >= 2
    again = fit(cfg)
    assert [r["loss/test"] for r in again.curve] == [r["loss/test"] for r in result.curve]
