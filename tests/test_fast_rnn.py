"""Ba et al.'s fast weights RNN (``fast_rnn``): the paper's equations, its initialisation, and
runs through ``evorl fit`` and ``evorl evolve`` (gradients, the population batch, resets and the
tiny associative-retrieval run are with the other fast-weight cells', in test_fast_weights.py
and test_fast_weight_tasks.py).

The reference is written here from Ba, Hinton, Mnih, Leibo & Ionescu (2016), sec. 3 (the
update of A and the layer-normalised inner loop), with the paper's time indexing (A(t) takes
in h(t) before h(t+1) is computed), one sequence at a time, and
``torch.nn.functional.layer_norm``.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import evorl.commands.cli
from evorl.builder import build_trainer
from evorl.config import load_config
from evorl.controllers import Controller, ControllerConfig, build_controller

OBS = 5
F64 = torch.float64
SPACE = gym.spaces.Discrete(3)


def make(cfg: ControllerConfig, seed: int = 0) -> Controller:
    """A controller with every gene random (N(0, 0.5^2)), away from its initial values."""
    ctrl = build_controller(cfg, OBS, SPACE, seed=seed).to(F64)
    gen = torch.Generator().manual_seed(seed + 1000)
    ctrl.set_flat(0.5 * torch.randn(ctrl.num_params, generator=gen, dtype=F64))
    return ctrl


def randn(*shape, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


def ba_reference(ctrl: Controller, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One layer, from h(0) = 0, A(0) = 0, per the paper, one sequence at a time:
    A(t) = λ A(t-1) + η h(t) h(t)^T; h_0(t+1) = f(W h(t) + C x(t) + b);
    h_{s+1}(t+1) = f(LN[W h(t) + C x(t) + b + A(t) h_s(t+1)]); outputs W_out h(t+1) + b_out.
    With the controller's ``embed`` the layer reads x(t) through a torch.nn.Linear (no bias),
    with its ``readout_hidden`` the outputs come through torch.nn's Linear, ReLU, Linear."""
    cfg, p = ctrl.config, {n: t.detach() for n, t in ctrl.named_parameters()}
    embed, head = torch.nn.Identity(), lambda h: p["w_out"].T @ h + p["b_out"]
    if cfg.embed:
        embed = torch.nn.Linear(OBS, cfg.embed, bias=False).double()
        embed.weight.data.copy_(p["w_embed"].T)
    if cfg.readout_hidden:
        head = torch.nn.Sequential(
            torch.nn.Linear(*p["w_mid"].shape), torch.nn.ReLU(), torch.nn.Linear(*p["w_out"].shape)
        ).double()
        for layer, w, b in ((head[0], "w_mid", "b_mid"), (head[2], "w_out", "b_out")):
            layer.weight.data.copy_(p[w].T), layer.bias.data.copy_(p[b])
    C, W, b = p["w_x0"].T, p["w_h0"].T, p["b0"]  # the paper's column-vector convention
    r = W.shape[0]
    outputs, finals = [], []
    for seq in range(x.shape[1]):
        h, a = torch.zeros(r, dtype=F64), torch.zeros(r, r, dtype=F64)
        out = []
        for t in range(x.shape[0]):
            a = cfg.fast_decay * a + cfg.fast_rate * torch.outer(h, h)
            boundary = W @ h + C @ embed(x[t, seq]) + b
            h_s = F.relu(boundary)
            for _ in range(cfg.fast_steps):
                z = boundary + a @ h_s
                h_s = F.relu(F.layer_norm(z, (r,), p["ln_g0"], p["ln_b0"], eps=1e-5))
            h = h_s
            out.append(head(h))
        outputs.append(torch.stack(out))
        finals.append(cfg.fast_decay * a + cfg.fast_rate * torch.outer(h, h))  # A(T) with h(T)
    return torch.stack(outputs, dim=1), torch.stack(finals)


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"fast_steps": 3, "fast_decay": 0.8, "fast_rate": 0.3},
        {"embed": 4, "readout_hidden": 9},
    ],
    ids=["paper", "S3", "embed-relu-readout"],
)
def test_fast_rnn_matches_ba_et_al_equations(kw):
    ctrl = make(ControllerConfig(kind="fast_rnn", hidden=(6,), **kw))
    x = randn(7, 3, OBS, seed=1)
    with torch.no_grad():
        out, (_, a_last) = ctrl.unroll(x, ctrl.initial_state(3, dtype=F64))
    expected, a_expected = ba_reference(ctrl, x)
    torch.testing.assert_close(out, expected, atol=1e-10, rtol=0)
    torch.testing.assert_close(a_last, a_expected, atol=1e-10, rtol=0)
    # The fast weights matter: the same net with η = 0 gives other outputs.
    still = make(ControllerConfig(kind="fast_rnn", hidden=(6,), **{**kw, "fast_rate": 0.0}))
    with torch.no_grad():
        out_still, _ = still.unroll(x, still.initial_state(3, dtype=F64))
    assert (out_still - out).abs().max() > 1e-3


def test_fast_rnn_initialisation_follows_the_paper():
    """W = 0.05 I, LN gain 1, biases 0 ("orthogonal"); every gene drawn under "uniform"."""
    ctrl = build_controller(ControllerConfig(kind="fast_rnn", hidden=(4, 3)), OBS, SPACE, seed=0)
    torch.testing.assert_close(ctrl.w_h1.detach(), 0.05 * torch.eye(3))
    assert (ctrl.ln_g0 == 1).all() and not ctrl.ln_b0.any() and not ctrl.b0.any()
    assert ctrl.w_x0.std() > 0.1
    cfg = ControllerConfig(kind="fast_rnn", hidden=(4,), init="uniform", init_scale=0.2)
    flat = build_controller(cfg, OBS, SPACE, seed=0).get_flat()
    assert flat.abs().max() <= 0.2 and (flat != 0).all()


def test_fast_rnn_runs_through_evorl_fit(capsys):
    argv = [
        "fit",
        "assoc-retrieval",
        "--controller.kind=fast_rnn",
        "--max_sequences=256",
        "--eval_every=128",
        "--test_size=64",
        "--train_size=1000",
        "--quiet",
    ]
    assert evorl.commands.cli.main(argv) == 0
    assert "assoc-retrieval: " in capsys.readouterr().out


def test_fit_builds_the_paper_net_from_controller_options():
    """``--controller.embed=E --controller.readout_hidden=M``: Ba et al.'s net, 37 symbols in,
    10 digits out (the parameter count of each piece)."""
    from evorl.supervised import resolve_config
    from evorl.supervised.learner import build_net

    overrides = [
        "controller.kind=fast_rnn",
        "controller.hidden=[20]",
        "controller.embed=100",
        "controller.readout_hidden=100",
    ]
    _, net, _ = build_net(resolve_config("assoc-retrieval", None, overrides))
    cell = 100 * 20 + 20 * 20 + 3 * 20
    assert net.num_params == 37 * 100 + cell + 20 * 100 + 100 + 100 * 10 + 10


def test_fast_rnn_evolves_through_evorl_evolve():
    """The T-maze preset with the cell swapped in: CMA-ES asks for and tells its flat vector."""
    overrides = [
        "--controller.kind=fast_rnn",
        "--stop.generations=3",
        "--stop.target=null",
        "--eval.test_every=0",
    ]
    trainer = build_trainer(load_config("tmaze-fwp", overrides))
    rows = []
    trainer.hooks.append(lambda t, row: rows.append(row))
    trainer.run()
    controller = trainer.learner.evaluator.controller
    assert controller.config.kind == "fast_rnn"
    assert trainer.learner.optimizer.center.shape == (controller.num_params,)
    assert len(rows) == 3 and all(np.isfinite(r["fitness/mean"]) for r in rows)
