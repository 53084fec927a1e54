"""Fast-weight and plastic cells (fwp_sum, fwp_delta, hebbian) and their memory tasks.

References written here from the papers: causal linear attention in parallel form (Schlag et al.
2021), the delta rule's algebra (their sec. 4.2), Miconi et al.'s (2018) plastic layer;
finite differences for gradients; per-individual runs for the population batch.
"""

from __future__ import annotations

import re

import gymnasium as gym
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from evorl.builder import optimizer_for
from evorl.config import OptimizerConfig
from evorl.controllers import Controller, ControllerConfig, build_controller
from evorl.controllers.fast_weights import NORM_EPS
from evorl.optimizers import make_optimizer
from evorl.tasks.fast_weights import (
    SPLITS,
    SYMBOLS,
    AssociativeRetrieval,
    KeyValueRetrieval,
    decode,
    encode,
    retrieval_loss,
)

OBS = 5
F64 = torch.float64
EXACT = {"atol": 0.0, "rtol": 0.0}
SPACE = gym.spaces.Discrete(3)
NEW_KINDS = ["fwp_sum", "fwp_delta", "hebbian", "fast_rnn"]


def make(cfg: ControllerConfig, seed: int = 0, dtype=F64) -> Controller:
    """A controller with every gene random (N(0, 0.5^2)), away from its initial values."""
    ctrl = build_controller(cfg, OBS, SPACE, seed=seed).to(dtype)
    gen = torch.Generator().manual_seed(seed + 1000)
    ctrl.set_flat(0.5 * torch.randn(ctrl.num_params, generator=gen, dtype=dtype))
    return ctrl


def randn(*shape, seed: int, dtype=F64) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def random_state(ctrl: Controller, batch: int, seed: int) -> tuple[torch.Tensor, ...]:
    shapes = [(n,) if isinstance(n, int) else n for n in ctrl.state_sizes]
    return tuple(0.5 * randn(batch, *s, seed=seed + i) for i, s in enumerate(shapes))


def layout_of(ctrl: Controller, name: str) -> slice:
    """Where parameter ``name`` lies in the flat vector."""
    offset, shape = {n: (o, s) for n, o, s in ctrl.flat_layout()}[name]
    return slice(offset, offset + shape.numel())


def first_step(ctrl: Controller, flat: torch.Tensor, x: torch.Tensor, state):
    """The state after one step of the single individual ``flat`` (population path)."""
    with torch.no_grad():
        return ctrl(x, state, ctrl.population_params(flat[None]))[1]


def phi_hat(z: torch.Tensor, feature_map: str) -> torch.Tensor:
    """The sum-normalised feature maps, written from Katharopoulos et al. / Schlag et al."""
    if feature_map == "elu":
        phi = F.elu(z) + 1
    else:
        nu = int(feature_map[-1])
        r = torch.cat([F.relu(z), F.relu(-z)], dim=-1)
        phi = torch.cat([r * torch.roll(r, j, -1) for j in range(1, nu + 1)], dim=-1)
    return phi / (phi.sum(-1, keepdim=True) + NORM_EPS)


def slow_outputs(ctrl: Controller, x: torch.Tensor):
    """k̂ = φ̂(k), q̂ = φ̂(q), v and β of layer 0 (feed-forward slow net), from the parameters."""
    d_k, d_v = ctrl.keys[0], ctrl.config.hidden[0]
    pre = x @ ctrl.w_x0.detach() + ctrl.b0.detach()
    k, q, v = pre[..., :d_k], pre[..., d_k : 2 * d_k], pre[..., 2 * d_k : 2 * d_k + d_v]
    beta = torch.sigmoid(pre[..., -1:])
    fm = ctrl.config.feature_map
    return phi_hat(k, fm), phi_hat(q, fm), v, beta


# --------------------------------------------------------------------------- the identity
@pytest.mark.parametrize("feature_map", ["elu", "dpfp2"])
def test_sum_rule_unrolled_equals_causal_linear_attention(feature_map):
    """Schlag et al. 2021: W(t) = Σ_{s<=t} v(s) ⊗ φ̂(k(s)), y(t) = W(t) φ̂(q(t)) is
    Y = (φ̂(Q) φ̂(K)^T ⊙ M) V with M the causal mask (diagonal included), computed in parallel."""
    cfg = ControllerConfig(kind="fwp_sum", hidden=(4,), key_size=3, feature_map=feature_map)
    ctrl = make(cfg)
    steps, batch = 9, 3
    x = randn(steps, batch, OBS, seed=1)
    with torch.no_grad():
        out, (y_last, w_last) = ctrl.unroll(x, ctrl.initial_state(batch, dtype=F64))
    k, q, v, _ = slow_outputs(ctrl, x)  # (T, B, .) for all steps at once
    scores = torch.einsum("tbd,sbd->bts", q, k) * torch.tril(torch.ones(steps, steps, dtype=F64))
    y = torch.einsum("bts,sbv->tbv", scores, v)
    expected = y @ ctrl.w_out.detach() + ctrl.b_out.detach()
    torch.testing.assert_close(out, expected, atol=1e-10, rtol=0)
    torch.testing.assert_close(y_last, y[-1], atol=1e-10, rtol=0)
    torch.testing.assert_close(w_last, torch.einsum("sbv,sbd->bvd", v, k), atol=1e-10, rtol=0)
    delta = make(ControllerConfig(kind="fwp_delta", hidden=(4,), key_size=3))
    with torch.no_grad():
        out_delta, _ = delta.unroll(x, delta.initial_state(batch, dtype=F64))
    k, q, v, _ = slow_outputs(delta, x)  # the delta rule is not linear attention
    y = torch.einsum("bts,sbv->tbv", torch.einsum("tbd,sbd->bts", q, k).tril(), v)
    assert (out_delta - (y @ delta.w_out.detach() + delta.b_out.detach())).abs().max() > 1e-3


# --------------------------------------------------------------------------- delta rule
def _two_writes(ctrl: Controller, x: torch.Tensor, w0: torch.Tensor):
    """W before, after one and after two steps on the same input from W0 (one layer)."""
    state = (torch.zeros(x.shape[0], ctrl.config.hidden[0], dtype=F64), w0)
    with torch.no_grad():
        _, state1 = ctrl(x, state)
        _, state2 = ctrl(x, state1)
    return w0, state1[1], state2[1]


@pytest.mark.parametrize("feature_map", ["elu", "dpfp1"])
def test_delta_rule_writes_only_what_the_memory_lacks(feature_map):
    """Where W already maps φ̂(k) to v the delta write is a no-op, the sum write adds v ⊗ φ̂(k);
    writing the same pair twice, the delta rule's second increment is (1 - β ||φ̂(k)||^2) times
    the first (exact algebra of W' = W + β (v - W φ̂) ⊗ φ̂), the sum rule's equals the first."""
    kw = {"hidden": (4,), "key_size": 5, "feature_map": feature_map}
    delta = make(ControllerConfig(kind="fwp_delta", **kw))
    total = make(ControllerConfig(kind="fwp_sum", **kw))
    x, w0 = randn(3, OBS, seed=1), randn(3, 4, delta.state_sizes[1][1], seed=2)
    k, _, v, beta = slow_outputs(delta, x)
    # A memory that already holds v at k: W0 plus the rank-one fix (v - W0 k̂) k̂^T / ||k̂||^2.
    fix = (v - torch.einsum("bvd,bd->bv", w0, k)).unsqueeze(2) * k.unsqueeze(1)
    held = w0 + fix / k.square().sum(-1)[:, None, None]
    torch.testing.assert_close(torch.einsum("bvd,bd->bv", held, k), v, atol=1e-12, rtol=0)
    _, after, _ = _two_writes(delta, x, held)
    torch.testing.assert_close(after, held, atol=1e-12, rtol=0)

    before, once, twice = _two_writes(delta, x, w0)
    first, second = once - before, twice - once
    assert first.abs().max() > 1e-2
    shrink = 1 - beta * k.square().sum(-1, keepdim=True)  # (B, 1)
    torch.testing.assert_close(second, shrink[:, :, None] * first, atol=1e-12, rtol=0)

    k, _, v, _ = slow_outputs(total, x)
    _, after, _ = _two_writes(total, x, held)
    torch.testing.assert_close(after - held, v.unsqueeze(2) * k.unsqueeze(1), atol=1e-12, rtol=0)
    before, once, twice = _two_writes(total, x, w0)
    torch.testing.assert_close(twice - once, once - before, atol=1e-12, rtol=0)


# --------------------------------------------------------------------------- plastic layer
def test_hebbian_matches_miconi_equations():
    """Miconi et al. 2018, written per connection in numpy: x_j = tanh(Σ_i (w_ij +
    α_ij Hebb_ij) x_i(t-1) + input_j), Hebb_ij += η (x_i(t-1) x_j(t) - Hebb_ij)."""
    ctrl = make(ControllerConfig(kind="hebbian", hidden=(4,)))
    p = {n: t.detach().numpy() for n, t in ctrl.named_parameters()}
    eta = 1 / (1 + np.exp(-p["eta"][0]))
    x = randn(6, 2, OBS, seed=1)
    h0, hebb0 = random_state(ctrl, 2, seed=2)
    with torch.no_grad():
        out, (h_end, hebb_end) = ctrl.unroll(x, (h0, hebb0))
    h, hebb = h0.numpy().copy(), hebb0.numpy().copy()
    for t in range(6):
        for b in range(2):
            drive = x[t, b].numpy() @ p["w_x0"] + p["b0"]
            new = np.tanh(
                [
                    drive[j]
                    + sum(
                        (p["w_h0"][i, j] + p["alpha0"][i, j] * hebb[b, i, j]) * h[b, i]
                        for i in range(4)
                    )
                    for j in range(4)
                ]
            )
            hebb[b] = (1 - eta) * hebb[b] + eta * np.outer(h[b], new)
            h[b] = new
        np.testing.assert_allclose(out[t].numpy(), h @ p["w_out"] + p["b_out"], atol=1e-12)
    np.testing.assert_allclose(h_end.numpy(), h, atol=1e-12)
    np.testing.assert_allclose(hebb_end.numpy(), hebb, atol=1e-12)


def test_hebbian_trace_stays_within_one():
    """0 < η < 1 for every genome, so |Hebb| <= 1 needs no clipping (a running mean of products
    of tanh outputs), even with huge genes."""
    ctrl = build_controller(ControllerConfig(kind="hebbian", hidden=(5,)), OBS, SPACE, seed=0)
    x = 10 * randn(50, 4, OBS, seed=2, dtype=torch.float32)
    for eta_gene in (-20.0, 0.0, 20.0):
        genes = 20 * randn(ctrl.num_params, seed=1, dtype=torch.float32)
        genes[layout_of(ctrl, "eta")] = eta_gene
        ctrl.set_flat(genes)
        with torch.no_grad():
            _, (_, hebb) = ctrl.unroll(x, ctrl.initial_state(4))
        assert hebb.abs().max() <= 1.0
    assert hebb.abs().max() > 0.9  # η ≈ 1: the trace is the last outer product of ±1 outputs


# --------------------------------------------------------------------------- gradients
GRAD_CONFIGS = [
    ControllerConfig(kind="fwp_sum", hidden=(3,), key_size=2),
    ControllerConfig(kind="fwp_sum", hidden=(3, 2), slow_recurrent=True, feature_map="dpfp1"),
    ControllerConfig(kind="fwp_delta", hidden=(3,), key_size=2),
    ControllerConfig(kind="fwp_delta", hidden=(3,), slow_recurrent=True, feature_map="dpfp2"),
    ControllerConfig(kind="hebbian", hidden=(3, 2)),
    ControllerConfig(kind="fast_rnn", hidden=(3,), fast_steps=2),
    ControllerConfig(kind="fast_rnn", hidden=(3, 2), fast_steps=2),
]


@pytest.mark.parametrize(
    "cfg", GRAD_CONFIGS, ids=[f"{c.kind}-{c.hidden}-{c.feature_map}" for c in GRAD_CONFIGS]
)
def test_gradients_match_finite_differences(cfg):
    """torch.autograd.gradcheck (central differences, float64) of the unrolled outputs with
    respect to every gene and the initial state (fast weights / trace included), gradient mode
    (unbatched weights), across an episode start."""
    ctrl = make(cfg)
    x = randn(4, 2, OBS, seed=1)
    start = torch.tensor([[False, False], [False, False], [True, False], [False, False]])
    shapes = [(name, offset, shape) for name, offset, shape in ctrl.flat_layout()]
    state0 = random_state(ctrl, 2, seed=2)

    def outputs(flat: torch.Tensor, *state: torch.Tensor) -> torch.Tensor:
        params = {n: flat[o : o + s.numel()].view(s) for n, o, s in shapes}
        return ctrl.unroll(x, state, episode_start=start, params=params)[0]

    inputs = (ctrl.get_flat().requires_grad_(), *(s.requires_grad_() for s in state0))
    assert torch.autograd.gradcheck(outputs, inputs, eps=1e-6, atol=1e-7, rtol=1e-5)


# --------------------------------------------------------------------------- population
POP_CONFIGS = [
    ControllerConfig(kind="fwp_sum", hidden=(4, 3), slow_recurrent=True),
    ControllerConfig(kind="fwp_delta", hidden=(4,), key_size=2, feature_map="dpfp3"),
    ControllerConfig(kind="hebbian", hidden=(4, 3)),
    ControllerConfig(kind="fast_rnn", hidden=(4, 3), fast_steps=2),
]


@pytest.mark.parametrize("cfg", POP_CONFIGS, ids=[c.kind for c in POP_CONFIGS])
def test_population_equals_individual_runs(cfg):
    """Row b of one batched pass (params = population_params(flat)) equals individual b run
    alone through the module's own parameters, with random initial fast weights and a reset."""
    ctrl = make(cfg)
    flat = 0.5 * randn(4, ctrl.num_params, seed=3)
    x, state = randn(6, 4, OBS, seed=4), random_state(ctrl, 4, seed=5)
    start = torch.zeros(6, 4, dtype=torch.bool)
    start[2, 1] = start[4, 3] = True
    with torch.no_grad():
        out, final = ctrl.unroll(x, state, start, params=ctrl.population_params(flat))
        for b in range(4):
            ctrl.set_flat(flat[b])
            row = (slice(None), slice(b, b + 1))
            out_b, final_b = ctrl.unroll(x[row], tuple(s[b : b + 1] for s in state), start[row])
            torch.testing.assert_close(out[row], out_b, atol=1e-12, rtol=0)
            for s, s_b in zip(final, final_b, strict=True):
                torch.testing.assert_close(s[b : b + 1], s_b, atol=1e-12, rtol=0)


# --------------------------------------------------------------------------- state
@pytest.mark.parametrize("kind", NEW_KINDS)
def test_episode_start_gives_the_zero_matrix(kind):
    """Rows with episode_start get the zero fast weights / trace (and vector), the others keep
    theirs; the step after a reset writes into the zero matrix exactly once."""
    ctrl = make(ControllerConfig(kind=kind, hidden=(4,)))
    state = random_state(ctrl, 4, seed=1)
    mask = torch.tensor([True, False, True, False])
    reset = ctrl.reset_state(state, mask)
    assert reset[1].shape == (4, *ctrl.state_sizes[1])  # the matrix, not a flattened copy
    for s, r in zip(state, reset, strict=True):
        assert not r[mask].any() and torch.equal(r[~mask], s[~mask])
        assert s[mask].any()  # the input state is not modified in place
    x = randn(3, 4, OBS, seed=2)
    start = torch.zeros(3, 4, dtype=torch.bool)
    start[0] = mask
    with torch.no_grad():
        out, final = ctrl.unroll(x, state, start)
        fresh, fresh_final = ctrl.unroll(x, ctrl.initial_state(4, dtype=F64))
        kept, kept_final = ctrl.unroll(x, state)
        _, (h_one, one) = ctrl(x[0], reset)
    torch.testing.assert_close(out[:, mask], fresh[:, mask], **EXACT)
    torch.testing.assert_close(out[:, ~mask], kept[:, ~mask], **EXACT)
    for s, s_fresh, s_kept in zip(final, fresh_final, kept_final, strict=True):
        assert torch.equal(s[mask], s_fresh[mask]) and torch.equal(s[~mask], s_kept[~mask])
    if kind == "hebbian":  # h(t-1) = 0 after a reset: the first step adds nothing to the trace
        assert not one[mask].any()
    elif kind == "fast_rnn":  # A(1) = λ A(0) + η h hᵀ = η h hᵀ from A(0) = 0
        write = ctrl.config.fast_rate * h_one.unsqueeze(2) * h_one.unsqueeze(1)
        torch.testing.assert_close(one[mask], write[mask], **EXACT)
    else:  # W(1) = [β] v ⊗ φ̂(k) from W(0) = 0
        k, _, v, beta = slow_outputs(ctrl, x[0])
        write = (beta * v if kind == "fwp_delta" else v).unsqueeze(2) * k.unsqueeze(1)
        torch.testing.assert_close(one[mask], write[mask], atol=1e-12, rtol=0)


@pytest.mark.parametrize("kind", [*NEW_KINDS, "lstm", "elman", "gru", "linear"])
def test_hidden_state_index_is_the_top_hidden_vector(kind):
    """The indexed state tensor is (B, H_top) and is what the readout reads."""
    ctrl = build_controller(ControllerConfig(kind=kind, hidden=(4, 3)), OBS, SPACE, seed=0)
    if kind == "linear":
        assert ctrl.hidden_state_index is None
        return
    out, state = ctrl(torch.randn(2, OBS), ctrl.initial_state(2))
    top = state[ctrl.hidden_state_index]
    assert top.shape == (2, 3)
    torch.testing.assert_close(out, ctrl.readout(top, dict(ctrl.named_parameters())), **EXACT)


def test_value_head_reads_the_top_hidden_vector():
    """RecurrentPolicy sizes its value head from hidden_state_index (a matrix state is not it)."""
    from evorl.gradient.config import PolicyConfig
    from evorl.gradient.policy import RecurrentPolicy

    for kind in NEW_KINDS:
        ctrl = build_controller(ControllerConfig(kind=kind, hidden=(4, 3)), OBS, SPACE, seed=0)
        policy = RecurrentPolicy(ctrl, SPACE, PolicyConfig(), seed=0)
        assert policy.value_head.in_features == 3
        _, value, _ = policy.step(torch.randn(2, OBS), policy.initial_state(2))
        assert value.shape == (2,)


# --------------------------------------------------------------------------- ESP
def test_fwp_unit_index_pairs_keys_with_queries_and_values_with_readout_rows():
    """Address unit j = key and query column j, value unit i = value column i and readout row
    i, one β unit; bumping a value unit's genes moves only its row of W and its output y_i."""
    cfg = ControllerConfig(kind="fwp_delta", hidden=(4,), key_size=3, slow_recurrent=True)
    ctrl = make(cfg)
    index = ctrl.unit_index()
    columns = [0, 1, 2, 0, 1, 2, 3, 4, 5, 6, 7]  # k0-2, q0-2, v0-3, β
    for name in ("w_x0", "w_y0", "b0"):
        genes = index[layout_of(ctrl, name)].reshape(getattr(ctrl, name).shape)
        assert (genes == columns).all()
    assert (index[layout_of(ctrl, "w_out")].reshape(4, 3).T == [3, 4, 5, 6]).all()
    assert (index[layout_of(ctrl, "b_out")] == -1).all()
    no_readout, readout_start = ctrl.unit_index(readout=False), layout_of(ctrl, "w_out").start
    assert (no_readout[readout_start:] == -2).all()
    assert np.array_equal(no_readout[:readout_start], index[:readout_start])

    flat, x, state = ctrl.get_flat(), randn(1, OBS, seed=1), random_state(ctrl, 1, seed=2)
    y0, w0 = first_step(ctrl, flat, x, state)
    for row, unit in enumerate([3, 4, 5, 6]):
        y, w = first_step(ctrl, flat + 0.5 * torch.as_tensor(index == unit), x, state)
        assert ((y - y0).abs()[0] > 1e-9).tolist() == [r == row for r in range(4)]
        assert ((w - w0).abs()[0].amax(1) > 1e-9).tolist() == [r == row for r in range(4)]


def test_hebbian_unit_index_gives_each_neuron_its_columns():
    """Unit u = column u of w_x, w_h, alpha and b[u] (and readout row u); η and b_out shared;
    bumping unit u's genes moves h_u and trace column u only."""
    ctrl = make(ControllerConfig(kind="hebbian", hidden=(4,)))
    index, flat = ctrl.unit_index(), ctrl.get_flat()
    for name in ("w_x0", "w_h0", "b0", "alpha0"):
        genes = index[layout_of(ctrl, name)].reshape(getattr(ctrl, name).shape)
        assert (genes == [0, 1, 2, 3]).all()
    assert (index[layout_of(ctrl, "eta")] == -1).all()
    x, state = randn(1, OBS, seed=1), random_state(ctrl, 1, seed=2)
    h0, hebb0 = first_step(ctrl, flat, x, state)
    for unit in range(4):
        h, hebb = first_step(ctrl, flat + 0.5 * torch.as_tensor(index == unit), x, state)
        assert ((h - h0).abs()[0] > 1e-9).tolist() == [u == unit for u in range(4)]
        assert ((hebb - hebb0).abs()[0].amax(0) > 1e-9).tolist() == [u == unit for u in range(4)]


@pytest.mark.parametrize(("kind", "groups"), [("fwp_sum", 7), ("fwp_delta", 8), ("hebbian", 5)])
def test_esp_asks_and_tells_on_a_new_cell(kind, groups):
    """make_optimizer("esp", ..., unit_index=ctrl.unit_index()) evolves the cell's flat vector:
    one subpopulation per unit plus the shared genes; the builder asks the cell for it."""
    cfg = ControllerConfig(kind=kind, hidden=(4,), key_size=2)
    ctrl = build_controller(cfg, OBS, SPACE, seed=0)
    index = ctrl.unit_index()
    built = optimizer_for(
        OptimizerConfig("esp", 8, 0.1, {"subpop_size": 4}),
        1,
        ctrl.get_flat().double().numpy(),
        ctrl,
    )
    assert np.array_equal(built.settings.unit_index, index)
    opt = make_optimizer(
        "esp",
        ctrl.get_flat().double().numpy(),
        sigma=0.1,
        seed=1,
        unit_index=tuple(index.tolist()),
        subpop_size=4,
        trials=2,
    )
    assert len(opt.groups) == groups
    x = randn(5, opt.popsize, OBS, seed=2, dtype=torch.float32)
    best = -np.inf
    for _ in range(3):
        candidates = opt.ask()
        assert candidates.shape == (8, ctrl.num_params)
        params = ctrl.population_params(torch.as_tensor(candidates, dtype=torch.float32))
        with torch.no_grad():
            out, _ = ctrl.unroll(x, ctrl.initial_state(8), params=params)
        fitness = -out.square().mean(dim=(0, 2)).double().numpy()
        best = max(best, fitness.max())
        metrics = opt.tell(candidates, fitness)
    assert metrics["opt/best"] == best


# --------------------------------------------------------------------------- tasks
def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def test_associative_retrieval_follows_ba_et_al():
    """K = 4 distinct letters each with a digit, "??", one of the letters; target its digit;
    one-hot over the 37 symbols; the paper's split sizes; seeded."""
    assert SYMBOLS == "abcdefghijklmnopqrstuvwxyz0123456789?" and len(SYMBOLS) == 37
    assert SPLITS == {"train": 100_000, "valid": 10_000, "test": 20_000}
    codes, digits = encode(["c9k8j3f1??c", "j0a5s5z2??a"])  # the paper's examples
    assert digits.tolist() == [9, 5]
    task = AssociativeRetrieval()
    codes, digits = task.sample_codes(400, rng(0))
    strings = decode(codes)
    for s, d in zip(strings, digits, strict=True):
        assert re.fullmatch(r"([a-z][0-9]){4}\?\?[a-z]", s), s
        keys, values = s[0:8:2], s[1:8:2]
        assert len(set(keys)) == 4 and int(values[keys.index(s[-1])]) == d
    assert {s[0] for s in strings} == set(SYMBOLS[:26]) and set(digits.tolist()) == set(range(10))
    again, other = task.sample_codes(400, rng(0)), task.sample_codes(400, rng(1))
    assert np.array_equal(again[0], codes) and not np.array_equal(other[0], codes)
    assert all(map(np.array_equal, encode(strings), (codes, digits)))

    batch = task.sample(400, rng(0))
    assert batch.inputs.shape == (11, 400, 37) and batch.targets.shape == (11, 400, 10)
    assert (batch.inputs.sum(-1) == 1).all() and np.array_equal(batch.inputs.argmax(-1), codes.T)
    assert batch.mask[-1].all() and not batch.mask[:-1].any()
    assert np.array_equal(batch.targets[-1].argmax(-1), digits) and batch.targets.sum() == 400
    assert task.correct(batch.targets, batch).all()
    assert not task.correct(np.roll(batch.targets, 1, axis=2), batch).any()
    assert AssociativeRetrieval(pairs=8).sample(3, rng(0)).inputs.shape == (19, 3, 37)
    sizes = {name: codes.shape for name, (codes, _) in task.splits(rng(0)).items()}
    assert sizes == {name: (n, 11) for name, n in SPLITS.items()}
    with pytest.raises(ValueError, match="not an associative retrieval string"):
        encode(["c9c8??c"])


def test_key_value_retrieval_capacity_setting():
    """Setting 1: S keys and S values without replacement, L = S pairs, query one of them;
    target its value one-hot; loss 1/2 Σ (v̂ - v)^2; evaluation: every key of 20 sequences."""
    task = KeyValueRetrieval(keys=6)
    batch = task.sample(50, rng(0))
    assert batch.inputs.shape == (7, 50, 13) and batch.targets.shape == (7, 50, 6)
    keys, values = batch.inputs[:-1, :, :6].argmax(-1), batch.inputs[:-1, :, 6:12].argmax(-1)
    assert (np.sort(keys, axis=0) == np.arange(6)[:, None]).all()  # a permutation of the keys
    assert (np.sort(values, axis=0) == np.arange(6)[:, None]).all()
    assert (batch.inputs[:-1, :, :12].sum(-1) == 2).all() and not batch.inputs[:-1, :, 12].any()
    query = batch.inputs[-1]
    assert (query[:, :6].sum(-1) == 1).all() and not query[:, 6:12].any() and query[:, 12].all()
    answer = values.T[(keys == query[:, :6].argmax(-1)).T]  # the value paired with the query
    assert np.array_equal(batch.targets[-1].argmax(-1), answer)
    assert batch.mask[-1].all() and not batch.mask[:-1].any()
    assert retrieval_loss(batch.targets, batch) == 0.0
    assert retrieval_loss(np.zeros_like(batch.targets), batch) == 0.5
    assert retrieval_loss(batch.targets + batch.mask * 0.1, batch) == pytest.approx(0.5 * 6e-2)

    evaluation = task.all_queries(rng(1))
    assert evaluation.inputs.shape == (7, 20 * 6, 13)
    for seq in range(20):
        rows = evaluation.inputs[:, 6 * seq : 6 * (seq + 1)]
        assert (rows[:-1] == rows[:-1, :1]).all()  # one sequence, asked six times
        assert sorted(rows[-1, :, :6].argmax(-1).tolist()) == list(range(6))


def test_key_value_retrieval_update_setting():
    """Setting 2: with replacement and L = 2S, keys recur; the answer is the last value."""
    task = KeyValueRetrieval(keys=4, replace=True)
    assert task.pairs == 8
    for batch in (task.sample(200, rng(2)), task.all_queries(rng(3))):
        keys, values = batch.inputs[:-1, :, :4].argmax(-1), batch.inputs[:-1, :, 4:8].argmax(-1)
        query = batch.inputs[-1, :, :4].argmax(-1)
        for b in range(batch.inputs.shape[1]):
            last = max(t for t in range(8) if keys[t, b] == query[b])
            assert batch.targets[-1, b].argmax() == values[last, b]
    counts = [len(set(keys[:, b])) for b in range(keys.shape[1])]
    assert min(counts) < 4  # recurring keys do occur
