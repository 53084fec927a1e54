"""Tests of evorl.controllers: numerics against references, both execution modes, state, heads.

References: torch.nn.LSTM / GRU / RNN with copied weights, explicit numpy loops written from the
papers' equations (fully recurrent net, LSTM with peepholes / without forget gate), and finite
differences for gradients. Registry-driven: every kind in CONTROLLERS is covered.
"""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import numpy as np
import pytest
import torch

from evorl.controllers import CONTROLLERS, Controller, ControllerConfig, build_controller
from evorl.controllers.functional import linear

OBS = 5
DISCRETE = gym.spaces.Discrete(3)
EXACT = {"atol": 0.0, "rtol": 0.0}
F64 = {"atol": 1e-10, "rtol": 0.0}


def _config(kind: str, **kw) -> ControllerConfig:
    hidden = (6,) if kind in ("linear", "fully_recurrent") else (6, 5)
    return ControllerConfig(kind=kind, hidden=kw.pop("hidden", hidden), **kw)


VARIANTS = [_config(kind) for kind in CONTROLLERS] + [
    _config("lstm", peepholes=True),
    _config("lstm", forget_gate=False, peepholes=True),
    _config("lstm", forget_gate=False),
    _config("elman", activation="relu"),
    _config("fully_recurrent", activation="sigmoid"),
    _config("mlp", activation="sigmoid"),
    _config("fwp_sum", slow_recurrent=True, key_size=3),
    _config("fwp_delta", slow_recurrent=True, feature_map="dpfp2"),
    _config("fwp_delta", key_size=4, feature_map="dpfp1"),
    _config("fast_rnn", fast_steps=2, fast_decay=0.9, fast_rate=0.3),
    _config("fast_rnn", embed=4, readout_hidden=7),
    _config("lstm", embed=3, readout_hidden=4),
    _config("gru", readout_hidden=4),
    _config("elman", embed=7),
    _config("mlp", embed=3, readout_hidden=4),
]
IO_KINDS = [kind for kind, cls in CONTROLLERS.items() if cls.io_layers]


def _id(cfg: ControllerConfig) -> str:
    default = ControllerConfig()
    changed = [
        f"{f.name}={getattr(cfg, f.name)}"
        for f in dataclasses.fields(cfg)
        if f.name not in ("kind", "hidden") and getattr(cfg, f.name) != getattr(default, f.name)
    ]
    return "-".join([cfg.kind, *changed])


variants = pytest.mark.parametrize("cfg", VARIANTS, ids=[_id(c) for c in VARIANTS])


def make(cfg: ControllerConfig, space=DISCRETE, seed: int = 0, dtype=torch.float32) -> Controller:
    """A controller with all parameters random (peepholes and biases too), away from init values."""
    ctrl = build_controller(cfg, OBS, space, seed=seed).to(dtype)
    gen = torch.Generator().manual_seed(seed + 1000)
    ctrl.set_flat(0.5 * torch.randn(ctrl.num_params, generator=gen, dtype=dtype))
    return ctrl


def randn(*shape, seed: int = 0, dtype=torch.float32) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def state_shape(size: int | tuple[int, ...]) -> tuple[int, ...]:
    return (size,) if isinstance(size, int) else tuple(size)


def random_state(ctrl: Controller, batch: int, seed: int, dtype=torch.float32):
    return tuple(
        0.5 * randn(batch, *state_shape(n), seed=seed + i, dtype=dtype)
        for i, n in enumerate(ctrl.state_sizes)
    )


def sig(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def np_params(ctrl: Controller) -> dict[str, np.ndarray]:
    return {n: p.detach().numpy() for n, p in ctrl.named_parameters()}


# --------------------------------------------------------------------------- torch.nn references
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("kind", ["lstm", "gru", "elman"])
def test_matches_torch_nn(kind: str, layers: int) -> None:
    ctrl = make(ControllerConfig(kind=kind, hidden=(5,) * layers), dtype=torch.float64)
    p = ctrl.state_dict()
    ref_cls = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "elman": torch.nn.RNN}[kind]
    ref = ref_cls(OBS, 5, num_layers=layers).double()
    with torch.no_grad():
        for k in range(layers):
            getattr(ref, f"weight_ih_l{k}").copy_(p[f"w_x{k}"].T)
            getattr(ref, f"weight_hh_l{k}").copy_(p[f"w_h{k}"].T)
            bias_ih, bias_hh = getattr(ref, f"bias_ih_l{k}"), getattr(ref, f"bias_hh_l{k}")
            bias_ih.copy_(p[f"b_x{k}"] if kind == "gru" else p[f"b{k}"])
            bias_hh.copy_(p[f"b_h{k}"]) if kind == "gru" else bias_hh.zero_()
    x = randn(7, 4, OBS, seed=1, dtype=torch.float64)
    state = random_state(ctrl, 4, seed=2, dtype=torch.float64)
    out, final = ctrl.unroll(x, state)
    if kind == "lstm":
        ref_state = (torch.stack(state[0::2]), torch.stack(state[1::2]))
        ref_out, (h_n, c_n) = ref(x, ref_state)
        torch.testing.assert_close(torch.stack(final[1::2]), c_n, **F64)
    else:
        ref_out, h_n = ref(x, torch.stack(state))
    torch.testing.assert_close(torch.stack(final[0::2] if kind == "lstm" else final), h_n, **F64)
    torch.testing.assert_close(out, ref_out @ p["w_out"] + p["b_out"], **F64)


@pytest.mark.parametrize("kind", ["lstm", "gru", "elman"])
def test_embedding_and_relu_readout_match_torch_nn(kind: str) -> None:
    """embed / readout_hidden: torch.nn.Linear (no bias) -> the torch.nn cell -> Linear, ReLU,
    Linear, with copied weights."""
    cfg = ControllerConfig(kind=kind, hidden=(5,), embed=4, readout_hidden=6)
    ctrl = make(cfg, dtype=torch.float64)
    p = ctrl.state_dict()
    names = list(p)
    assert names[0] == "w_embed" and names[-4:] == ["w_mid", "b_mid", "w_out", "b_out"]
    embed = torch.nn.Linear(OBS, 4, bias=False).double()
    cell = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "elman": torch.nn.RNN}[kind](4, 5)
    head = torch.nn.Sequential(torch.nn.Linear(5, 6), torch.nn.ReLU(), torch.nn.Linear(6, 3))
    cell, head = cell.double(), head.double()
    with torch.no_grad():
        embed.weight.copy_(p["w_embed"].T)
        cell.weight_ih_l0.copy_(p["w_x0"].T)
        cell.weight_hh_l0.copy_(p["w_h0"].T)
        cell.bias_ih_l0.copy_(p["b_x0"] if kind == "gru" else p["b0"])
        cell.bias_hh_l0.copy_(p["b_h0"]) if kind == "gru" else cell.bias_hh_l0.zero_()
        head[0].weight.copy_(p["w_mid"].T), head[0].bias.copy_(p["b_mid"])
        head[2].weight.copy_(p["w_out"].T), head[2].bias.copy_(p["b_out"])
        x = randn(7, 4, OBS, seed=1, dtype=torch.float64)
        out, _ = ctrl.unroll(x, ctrl.initial_state(4, dtype=torch.float64))
        torch.testing.assert_close(out, head(cell(embed(x))[0]), **F64)


def test_embed_and_readout_hidden_extend_the_flat_vector_and_esp_units() -> None:
    """w_embed first and shared; w_mid's rows are the last layer's units, w_out then shared;
    readout=False leaves w_mid, b_mid, w_out, b_out out."""
    plain = build_controller(_config("elman"), OBS, DISCRETE, seed=0)
    ctrl = build_controller(_config("elman", embed=4, readout_hidden=7), OBS, DISCRETE, seed=0)
    assert ctrl.num_params == plain.num_params - OBS * 6 + (OBS + 6) * 4 + 5 * 7 + 7 + 7 * 3 - 5 * 3
    units = ctrl.unit_index()
    assert (units[: OBS * 4] == -1).all()
    mid = ctrl.flat_layout()[[n for n, _, _ in ctrl.flat_layout()].index("w_mid")][1]
    assert units[mid : mid + 5 * 7].reshape(5, 7).tolist() == [[6 + r] * 7 for r in range(5)]
    assert (units[mid + 5 * 7 :] == -1).all()
    assert (ctrl.unit_index(readout=False)[mid:] == -2).all()


@pytest.mark.parametrize("kind", [k for k in CONTROLLERS if k not in IO_KINDS])
def test_cells_without_io_layers_refuse_them(kind: str) -> None:
    for extra in ({"embed": 4}, {"readout_hidden": 4}):
        with pytest.raises(ValueError, match="takes no embed / readout_hidden"):
            build_controller(_config(kind, **extra), OBS, DISCRETE, seed=0)


# --------------------------------------------------------------------------- explicit loops
def test_fully_recurrent_matches_williams_zipser_equations() -> None:
    ctrl = make(ControllerConfig(kind="fully_recurrent", hidden=(6,)), dtype=torch.float64)
    w = np_params(ctrl)["w"]  # w[k, l]: unit k from line l of z = [x; 1; y]
    x = randn(6, 3, OBS, seed=1, dtype=torch.float64)
    (y0,) = random_state(ctrl, 3, seed=2, dtype=torch.float64)
    with torch.no_grad():
        out, (y_final,) = ctrl.unroll(x, (y0,))
    y = y0.numpy().copy()
    for t in range(x.shape[0]):
        for b in range(x.shape[1]):
            z = np.concatenate([x[t, b].numpy(), [1.0], y[b]])  # eq. 2.1
            s = np.array([sum(w[k, j] * z[j] for j in range(len(z))) for k in range(6)])  # eq. 2.2
            y[b] = np.tanh(s)  # eq. 2.3
        np.testing.assert_allclose(out[t].numpy(), y[:, : ctrl.out_dim], rtol=0, atol=1e-12)
    np.testing.assert_allclose(y_final.numpy(), y, rtol=0, atol=1e-12)


def _lstm_reference(p, x, h, c, forget_gate: bool, peepholes: bool):
    """One-layer LSTM written gate by gate from the equations (Greff et al. 2017, table 1)."""
    width = h.shape[1]
    names = ["i", "f", "g", "o"] if forget_gate else ["i", "g", "o"]
    outs = []
    for t in range(x.shape[0]):
        pre = {
            n: x[t] @ p["w_x0"][:, k * width : (k + 1) * width]
            + h @ p["w_h0"][:, k * width : (k + 1) * width]
            + p["b0"][k * width : (k + 1) * width]
            for k, n in enumerate(names)
        }
        peep = {n: (p[f"p_{n}0"] if peepholes else 0.0) for n in ["i", "f", "o"] if n in names}
        i = sig(pre["i"] + peep["i"] * c)
        g = np.tanh(pre["g"])
        c = (sig(pre["f"] + peep["f"] * c) * c if forget_gate else c) + i * g
        o = sig(pre["o"] + peep["o"] * c)
        h = o * np.tanh(c)
        outs.append(h @ p["w_out"] + p["b_out"])
    return np.stack(outs), h, c


@pytest.mark.parametrize("peepholes", [False, True])
@pytest.mark.parametrize("forget_gate", [False, True])
def test_lstm_matches_equations(forget_gate: bool, peepholes: bool) -> None:
    cfg = ControllerConfig(kind="lstm", hidden=(5,), forget_gate=forget_gate, peepholes=peepholes)
    ctrl = make(cfg, dtype=torch.float64)
    x = randn(7, 3, OBS, seed=1, dtype=torch.float64)
    h0, c0 = random_state(ctrl, 3, seed=2, dtype=torch.float64)
    with torch.no_grad():
        out, (h, c) = ctrl.unroll(x, (h0, c0))
    ref_out, ref_h, ref_c = _lstm_reference(
        np_params(ctrl), x.numpy(), h0.numpy(), c0.numpy(), forget_gate, peepholes
    )
    for got, want in [(out, ref_out), (h, ref_h), (c, ref_c)]:
        np.testing.assert_allclose(got.numpy(), want, rtol=0, atol=1e-12)


# --------------------------------------------------------------------------- population path
def _population(ctrl: Controller, size: int, seed: int) -> torch.Tensor:
    return 0.5 * randn(size, ctrl.num_params, seed=seed)


@variants
def test_population_equals_individual_forward(cfg: ControllerConfig) -> None:
    """Equal up to float32 rounding, relative to the values (a fast-weight matrix grows > 1)."""
    ctrl = make(cfg)
    flat = _population(ctrl, 4, seed=3)
    x = randn(5, 4, OBS, seed=4)
    out, final = ctrl.unroll(x, ctrl.initial_state(4), params=ctrl.population_params(flat))
    for b in range(4):
        ctrl.set_flat(flat[b])
        with torch.no_grad():
            out_b, final_b = ctrl.unroll(x[:, b : b + 1], ctrl.initial_state(1))
        # Two float32 code paths (batched vs plain matmul): equal to a few ulps of the values.
        torch.testing.assert_close(out[:, b : b + 1], out_b, atol=1e-6, rtol=1e-6)
        for s, s_b in zip(final, final_b, strict=True):
            torch.testing.assert_close(s[b : b + 1], s_b, atol=1e-6, rtol=1e-6)


@variants
def test_population_batch_invariance(cfg: ControllerConfig) -> None:
    """A row's result is bit-identical whatever the batch size and its position in the batch."""
    ctrl = make(cfg)
    target, x_target = _population(ctrl, 1, seed=5), randn(4, 1, OBS, seed=6)
    results = []
    for size, pos in [(1, 0), (7, 3), (64, 63), (64, 17)]:
        flat, x = _population(ctrl, size, seed=size), randn(4, size, OBS, seed=size + 1)
        flat[pos], x[:, pos] = target[0], x_target[:, 0]
        out, state = ctrl.unroll(x, ctrl.initial_state(size), params=ctrl.population_params(flat))
        results.append((out[:, pos], [s[pos] for s in state]))
    for out, state in results[1:]:
        assert torch.equal(out, results[0][0])
        assert all(torch.equal(s, s0) for s, s0 in zip(state, results[0][1], strict=True))


def test_linear_with_several_inputs_per_row_uses_that_rows_weights() -> None:
    """x (B, n, in) with per-row weights: input k of row b goes through row b's matrix and
    bias (what Evolino's restart runs use to share one network's weights across its runs)."""
    f64 = torch.float64
    x, w = randn(3, 4, 5, seed=1, dtype=f64), randn(3, 5, 2, seed=2, dtype=f64)
    b = randn(3, 2, seed=3, dtype=f64)
    expected = torch.einsum("bki,bio->bko", x, w) + b[:, None]
    torch.testing.assert_close(linear(x, w, b[:, None]), expected, **F64)
    torch.testing.assert_close(linear(x, w), expected - b[:, None], **F64)
    for k in range(4):  # the same as the one-input-per-row form, up to rounding
        torch.testing.assert_close(linear(x[:, k], w, b)[:, None], expected[:, k : k + 1], **F64)


@variants
def test_population_params_are_views(cfg: ControllerConfig) -> None:
    ctrl = make(cfg)
    flat = _population(ctrl, 3, seed=7)
    params = ctrl.population_params(flat)
    names = {n for n, _ in ctrl.named_parameters()}
    assert names <= set(params)  # cells may add derived views (the LSTM's fused w_xh)
    for name, p in params.items():
        if name in names:
            assert p.shape == (3, *getattr(ctrl, name).shape)
        assert p.untyped_storage().data_ptr() == flat.untyped_storage().data_ptr()
    x, state = randn(3, OBS, seed=8), random_state(ctrl, 3, seed=9)
    before, _ = ctrl(x, state, params)
    new_row = _population(ctrl, 1, seed=10)[0]
    flat[1].copy_(new_row)  # what an evaluator does when it swaps an individual into slot 1
    after, _ = ctrl(x, state, params)
    torch.testing.assert_close(after[[0, 2]], before[[0, 2]], **EXACT)
    fresh, _ = ctrl(x, state, ctrl.population_params(flat.clone()))
    torch.testing.assert_close(after, fresh, **EXACT)
    assert not torch.equal(after[1], before[1])


def test_population_params_rejects_wrong_shape() -> None:
    ctrl = make(_config("gru"))
    for bad in [torch.zeros(ctrl.num_params), torch.zeros(2, ctrl.num_params + 1)]:
        with pytest.raises(ValueError, match=r"shape \(B, "):
            ctrl.population_params(bad)


# --------------------------------------------------------------------------- flat vector
@variants
def test_flat_roundtrip(cfg: ControllerConfig) -> None:
    ctrl = make(cfg)
    assert ctrl.num_params == sum(p.numel() for p in ctrl.parameters())
    flat = ctrl.get_flat()
    assert flat.shape == (ctrl.num_params,)
    expected = torch.cat([p.detach().reshape(-1) for p in ctrl.parameters()])
    torch.testing.assert_close(flat, expected, **EXACT)  # documented order = registration order
    flat.add_(1.0)  # get_flat returns a copy
    torch.testing.assert_close(ctrl.get_flat(), expected, **EXACT)
    ctrl.set_flat(flat.numpy())
    torch.testing.assert_close(ctrl.get_flat(), flat, **EXACT)
    with pytest.raises(ValueError, match=f"shape \\({ctrl.num_params},\\)"):
        ctrl.set_flat(torch.zeros(ctrl.num_params - 1))


def test_seed_is_deterministic_and_private() -> None:
    for kind in CONTROLLERS:
        rng_before = torch.random.get_rng_state()
        a = build_controller(_config(kind), OBS, DISCRETE, seed=3).get_flat()
        b = build_controller(_config(kind), OBS, DISCRETE, seed=3).get_flat()
        c = build_controller(_config(kind), OBS, DISCRETE, seed=4).get_flat()
        assert torch.equal(torch.random.get_rng_state(), rng_before)
        assert torch.equal(a, b) and not torch.equal(a, c)


def test_orthogonal_init() -> None:
    eye = torch.eye(5)
    lstm = build_controller(_config("lstm", hidden=(5,), peepholes=True), OBS, DISCRETE, seed=0)
    for k in range(4):
        block = lstm.w_h0[:, 5 * k : 5 * (k + 1)].detach()
        torch.testing.assert_close(block.T @ block, eye, atol=1e-5, rtol=0)
    assert torch.equal(lstm.b0.detach(), torch.tensor([0.0] * 5 + [1.0] * 5 + [0.0] * 10))
    assert not lstm.p_i0.detach().any()
    frnn = build_controller(_config("fully_recurrent", hidden=(5,)), OBS, DISCRETE, seed=0)
    rec = frnn.w[:, OBS + 1 :].detach()
    torch.testing.assert_close(rec.T @ rec, eye, atol=1e-5, rtol=0)
    assert not frnn.w[:, OBS].detach().any()


@pytest.mark.parametrize("kind", list(CONTROLLERS))
def test_uniform_init(kind: str) -> None:
    ctrl = build_controller(_config(kind, init="uniform", init_scale=0.3), OBS, DISCRETE, seed=0)
    flat = ctrl.get_flat()
    assert flat.abs().max() <= 0.3 and flat.std() > 0.1


# --------------------------------------------------------------------------- state and unroll
@variants
def test_state_shapes_and_reset(cfg: ControllerConfig) -> None:
    ctrl = make(cfg)
    state = ctrl.initial_state(4, dtype=torch.float64)
    assert [s.shape for s in state] == [(4, *state_shape(n)) for n in ctrl.state_sizes]
    assert all(s.dtype == torch.float64 and not s.any() for s in state)
    state = random_state(ctrl, 4, seed=1)
    mask = torch.tensor([True, False, True, False])
    reset = ctrl.reset_state(state, mask)
    for s, r in zip(state, reset, strict=True):
        assert not r[mask].any() and torch.equal(r[~mask], s[~mask])
        assert s[mask].any()  # the input state is not modified in place


@variants
def test_unroll_reset_equals_separate_episodes(cfg: ControllerConfig) -> None:
    ctrl = make(cfg)
    x, state = randn(6, 3, OBS, seed=1), random_state(ctrl, 3, seed=2)
    start = torch.zeros(6, 3, dtype=torch.bool)
    start[3] = True  # every row starts a new episode at t = 3
    start[1, 1] = True  # row 1 also at t = 1
    with torch.no_grad():
        out, final = ctrl.unroll(x, state, episode_start=start)
        first, _ = ctrl.unroll(x[:3], state)
        second, final2 = ctrl.unroll(x[3:], ctrl.initial_state(3))
        row1, _ = ctrl.unroll(x[1:3], ctrl.initial_state(3))
    torch.testing.assert_close(out[3:], second, **EXACT)
    torch.testing.assert_close(out[:1], first[:1], **EXACT)
    torch.testing.assert_close(out[1:3, [0, 2]], first[1:3, [0, 2]], **EXACT)
    torch.testing.assert_close(out[1:3, 1], row1[:, 1], **EXACT)
    for s, s2 in zip(final, final2, strict=True):
        torch.testing.assert_close(s, s2, **EXACT)


@variants
def test_unroll_gradient_matches_finite_differences(cfg: ControllerConfig) -> None:
    ctrl = make(cfg, dtype=torch.float64)
    x = randn(5, 2, OBS, seed=1, dtype=torch.float64)
    state = random_state(ctrl, 2, seed=2, dtype=torch.float64)
    start = torch.zeros(5, 2, dtype=torch.bool)
    start[2, 0] = True
    weights = randn(5, 2, ctrl.out_dim, seed=3, dtype=torch.float64)

    def loss() -> torch.Tensor:
        return (ctrl.unroll(x, state, episode_start=start)[0] * weights).sum()

    ctrl.zero_grad()
    loss().backward()
    grad = torch.cat([p.grad.reshape(-1) for p in ctrl.parameters()])
    # One random entry of every parameter tensor, so recurrent weights (BPTT) are always probed.
    gen, flat, eps, offset = torch.Generator().manual_seed(0), ctrl.get_flat(), 1e-6, 0
    for p in ctrl.parameters():
        i = offset + int(torch.randint(p.numel(), (1,), generator=gen))
        offset += p.numel()
        values = []
        for delta in (eps, -eps):
            shifted = flat.clone()
            shifted[i] += delta
            ctrl.set_flat(shifted)
            with torch.no_grad():
                values.append(loss().item())
        fd = (values[0] - values[1]) / (2 * eps)
        assert abs(grad[i].item() - fd) <= 1e-6 * max(1.0, abs(fd)), (i, grad[i].item(), fd)


# --------------------------------------------------------------------------- action heads
def test_discrete_head() -> None:
    ctrl = build_controller(_config("mlp"), OBS, gym.spaces.Discrete(3, start=2), seed=0)
    action = ctrl.act(torch.tensor([[0.1, 0.9, -1.0], [2.0, 0.0, 1.0]]))
    assert action.dtype == torch.int64 and action.tolist() == [3, 2]
    action, _ = ctrl.step(randn(4, OBS), ())
    assert action.shape == (4,) and not action.requires_grad


def test_box_tanh_head() -> None:
    box = gym.spaces.Box(np.array([-2, 0], np.float32), np.array([1, 5], np.float32))
    ctrl = build_controller(_config("lstm"), OBS, box, seed=0)
    assert ctrl.out_dim == 2
    big = torch.tensor([[1e3, 1e3], [-1e3, -1e3], [0.0, 0.0]], dtype=torch.float64)
    action = ctrl.act(big)
    assert action.dtype == torch.float32
    assert action.tolist() == [[1.0, 5.0], [-2.0, 0.0], [-0.5, 2.5]]
    out, mid, half = 3 * randn(100, 2, seed=1), torch.tensor([-0.5, 2.5]), torch.tensor([1.5, 2.5])
    torch.testing.assert_close(ctrl.act(out), mid + half * torch.tanh(out))
    action, _ = ctrl.step(randn(4, OBS), ctrl.initial_state(4))
    assert action.shape == (4, 2) and box.contains(action[0].numpy())


def test_box_clip_head() -> None:
    box = gym.spaces.Box(np.array([-2, -np.inf], np.float32), np.array([1, 5], np.float32))
    ctrl = build_controller(_config("gru", continuous_action="clip"), OBS, box, seed=0)
    out = 10 * randn(50, 2, seed=1)
    expected = torch.stack([out[:, 0].clamp(-2, 1), out[:, 1].clamp(max=5)], dim=1)
    torch.testing.assert_close(ctrl.act(out), expected, **EXACT)


# --------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("kind", "transformer"),
        ("hidden", ()),
        ("hidden", (4, 0)),
        ("hidden", (4.0,)),
        ("forget_gate", "yes"),
        ("init", "xavier"),
        ("init_scale", 0.0),
        ("init_scale", float("nan")),
        ("continuous_action", "sigmoid"),
        ("activation", "gelu"),
        ("key_size", 0),
        ("key_size", 2.0),
        ("feature_map", "softmax"),
        ("slow_recurrent", 1),
        ("fast_decay", 1.5),
        ("fast_rate", -0.1),
        ("fast_rate", float("inf")),
        ("fast_steps", 0),
        ("embed", -1),
        ("embed", 2.0),
        ("readout_hidden", True),
    ],
)
def test_bad_config_raises(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=f"ControllerConfig.{field}=") as err:
        ControllerConfig(**{field: value})
    assert "\n" not in str(err.value)


def test_config_coerces_list_hidden() -> None:
    cfg = ControllerConfig(hidden=[4, 3])
    assert cfg.hidden == (4, 3) and hash(cfg) == hash(ControllerConfig(hidden=(4, 3)))


@pytest.mark.parametrize(
    ("cfg", "space", "match"),
    [
        (_config("fully_recurrent", hidden=(2,)), DISCRETE, "n >= 3"),
        (_config("fully_recurrent", hidden=(4, 4)), DISCRETE, "hidden=\\(n,\\)"),
        (_config("lstm"), gym.spaces.Text(4), "cannot use the action space Text"),
        (_config("lstm"), gym.spaces.Tuple([DISCRETE] * 2), "cannot use the action space Tuple"),
        (_config("lstm"), gym.spaces.Box(-np.inf, np.inf, (2,)), "finite Box bounds"),
    ],
)
def test_bad_build_raises(cfg: ControllerConfig, space: gym.spaces.Space, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        build_controller(cfg, OBS, space, seed=0)
