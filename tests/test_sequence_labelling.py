"""evorl.labelling: CTC against a forward-backward written here, bidirectional and 2-D LSTM
against explicit loops, weight-noise gradients against finite differences, RNNLIB's optimiser
rules, NetCDF files, data, and a BLSTM-CTC that learns."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.io import netcdf_file

from evorl.controllers import ControllerConfig
from evorl.errors import ConfigError
from evorl.labelling import (
    DIRECTIONS,
    AdaptiveWeightNoise,
    BidirectionalLayer,
    EarlyStopping,
    HierarchicalMDLSTM,
    MDLSTMLayer,
    RnnlibData,
    RnnlibRprop,
    SequenceNet,
    best_path_decode,
    ctc_loss,
    edit_distance,
    label_error_rate,
    make_optimiser,
    prefix_beam_search,
    read_rnnlib,
    reverse_padded,
    sequence_error_rate,
    write_rnnlib,
)
from evorl.labelling.data import DigitStrings, pad_sequences

NEG = -math.inf


# ------------------------------------------------------------------ CTC reference (Graves 2006)
def ctc_reference(logits: np.ndarray, z: list[int]) -> tuple[float, np.ndarray]:
    """-ln p(z|x) and its gradient w.r.t. the unnormalised outputs, from section 4.1's alpha /
    beta recursions in log space (beta_t(s) includes y_t, as in the paper) and eq. 16."""
    steps, classes = logits.shape
    blank = classes - 1
    lp = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)
    ext = [blank]
    for k in z:
        ext += [k, blank]
    size = len(ext)
    alpha = np.full((steps, size), NEG)
    alpha[0, 0] = lp[0, blank]
    if size > 1:
        alpha[0, 1] = lp[0, ext[1]]
    for t in range(1, steps):
        for s in range(size):
            a = alpha[t - 1, s]
            if s >= 1:
                a = np.logaddexp(a, alpha[t - 1, s - 1])
            if s >= 2 and ext[s] != blank and ext[s] != ext[s - 2]:
                a = np.logaddexp(a, alpha[t - 1, s - 2])
            alpha[t, s] = a + lp[t, ext[s]]
    beta = np.full((steps, size), NEG)
    beta[-1, -1] = lp[-1, blank]
    if size > 1:
        beta[-1, -2] = lp[-1, ext[-2]]
    for t in range(steps - 2, -1, -1):
        for s in range(size):
            b = beta[t + 1, s]
            if s + 1 < size:
                b = np.logaddexp(b, beta[t + 1, s + 1])
            if s + 2 < size and ext[s] != blank and ext[s + 2] != ext[s]:
                b = np.logaddexp(b, beta[t + 1, s + 2])
            beta[t, s] = b + lp[t, ext[s]]
    log_p = alpha[-1, -1] if size == 1 else np.logaddexp(alpha[-1, -1], alpha[-1, -2])
    grad = np.exp(lp)
    for t in range(steps):
        ab = alpha[t] + beta[t]
        # eq. 14: sum_s alpha_t(s) beta_t(s) / y^t_{l'_s} = p(z|x) at every t
        assert np.logaddexp.reduce(ab - lp[t, ext]) == pytest.approx(log_p, abs=1e-9)
        for k in set(ext):
            mass = np.logaddexp.reduce([ab[s] for s in range(size) if ext[s] == k])
            grad[t, k] -= np.exp(mass - log_p - lp[t, k])
    return -log_p, grad


CTC_CASES = [  # (frames, target): plain, repeated labels, an empty labelling, blanks needed
    (6, [1, 2, 1]),
    (6, [2, 2]),
    (4, []),
    (5, [0, 3, 3, 0]),
    (3, [3]),
]


def test_ctc_loss_and_gradient_match_forward_backward_written_here():
    rng = np.random.default_rng(0)
    steps = max(t for t, _ in CTC_CASES)
    logits = torch.tensor(rng.normal(size=(steps, len(CTC_CASES), 5)) * 2, requires_grad=True)
    lengths = torch.tensor([t for t, _ in CTC_CASES])
    targets = [z for _, z in CTC_CASES]
    per_seq = ctc_loss(logits, targets, lengths, reduction="none")
    per_seq.sum().backward()
    for b, (frames, z) in enumerate(CTC_CASES):
        loss, grad = ctc_reference(logits.detach()[:frames, b].numpy(), z)
        assert per_seq[b].item() == pytest.approx(loss, rel=1e-9)
        np.testing.assert_allclose(logits.grad[:frames, b].numpy(), grad, atol=1e-9)
        assert torch.all(logits.grad[frames:, b] == 0)  # padding frames get no gradient
    mean = ctc_loss(logits, targets, lengths)
    assert mean.item() == pytest.approx(per_seq.sum().item() / len(CTC_CASES))


def test_ctc_impossible_alignment_is_skipped_and_bad_labels_rejected():
    logits = torch.zeros(2, 1, 3, requires_grad=True)  # 2 frames cannot emit "a a" (needs 3)
    loss = ctc_loss(logits, [[0, 0]], torch.tensor([2]))
    loss.backward()
    assert loss.item() == 0 and torch.all(logits.grad == 0)
    with pytest.raises(ValueError, match="blank = 2"):
        ctc_loss(logits, [[2]], torch.tensor([2]))


def _log_posteriors(rows: list[list[float]]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float64).log()


def test_best_path_collapses_repeats_and_removes_blanks():
    a, b, blank = 0, 1, 2
    path = [a, a, blank, a, b, b, blank, b]
    post = torch.full((len(path), 1, 3), 0.1, dtype=torch.float64)
    for t, k in enumerate(path):
        post[t, 0, k] = 0.8
    assert best_path_decode(post.log(), torch.tensor([8])) == [[a, a, b, b]]
    assert best_path_decode(post.log(), torch.tensor([3])) == [[a]]


def test_prefix_beam_search_finds_the_labelling_best_path_misses():
    # Each frame: P(a) = 0.4, P(blank) = 0.6. Best path "- -" gives the empty labelling
    # (p = 0.36), but "a" collects the paths "a a", "a -", "- a": p = 0.64.
    log_probs = _log_posteriors([[0.4, 0.6], [0.4, 0.6]])
    assert best_path_decode(log_probs.unsqueeze(1), torch.tensor([2])) == [[]]
    labelling, log_p = prefix_beam_search(log_probs, beam_width=4)
    assert labelling == [0] and log_p == pytest.approx(math.log(0.64))
    exact = -ctc_loss(log_probs.unsqueeze(1), [[0]], torch.tensor([2]), reduction="sum")
    assert log_p == pytest.approx(exact.item())


def test_prefix_beam_search_keeps_repeats_apart_only_across_a_blank():
    # "a - a" is two labels; its probability here beats the one-label readings.
    log_probs = _log_posteriors([[0.9, 0.05, 0.05], [0.05, 0.05, 0.9], [0.9, 0.05, 0.05]])
    assert prefix_beam_search(log_probs)[0] == [0, 0]


def test_label_error_rate_sums_edit_distances_over_the_set():
    assert edit_distance([1, 2, 3], [1, 3]) == 1
    assert edit_distance([], [4, 4]) == 2
    assert edit_distance([1, 2, 3, 4], [2, 1, 3, 5]) == 3
    preds, targets = [[1, 2, 3], [1]], [[1, 2, 4], [1, 1]]
    # (1 + 1) / (3 + 2), not the mean of the per-sequence rates (1/3 + 1/2) / 2
    assert label_error_rate(preds, targets) == pytest.approx(0.4)
    assert sequence_error_rate(preds, targets) == 1.0
    assert sequence_error_rate([[1, 2, 4], [1]], targets) == 0.5


# ------------------------------------------------------------------ bidirectional layers
@pytest.mark.parametrize("kind", ["lstm", "gru", "elman"])
def test_bidirectional_layer_equals_two_one_directional_passes(kind):
    cfg = ControllerConfig(kind=kind, hidden=(4,), peepholes=kind == "lstm")
    layer = BidirectionalLayer(cfg, in_dim=3, seed=0).double()
    lengths = torch.tensor([5, 3, 1])
    x = torch.randn(5, 3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    x[3:, 1] = 99.0  # padding must not reach the backward cell of a shorter sequence
    x[1:, 2] = -99.0
    out = layer(x, lengths)
    assert out.shape == (5, 3, 8)
    for b, n in enumerate(lengths.tolist()):
        seq = x[:n, b : b + 1]
        fwd = BidirectionalLayer.run(layer.forward_cell, seq)
        bwd = BidirectionalLayer.run(layer.backward_cell, seq.flip(0)).flip(0)
        torch.testing.assert_close(out[:n, b : b + 1], torch.cat([fwd, bwd], -1))


def test_reverse_padded_reverses_within_each_length():
    x = torch.arange(4.0).view(4, 1, 1).repeat(1, 2, 1)
    out = reverse_padded(x, torch.tensor([4, 2]))
    assert out[:, 0, 0].tolist() == [3, 2, 1, 0]
    assert out[:, 1, 0].tolist() == [1, 0, 2, 3]
    torch.testing.assert_close(reverse_padded(out, torch.tensor([4, 2])), x)


def test_sequence_net_collapse_sums_only_real_frames():
    cfg = ControllerConfig(kind="lstm", hidden=(3,), peepholes=True)
    net = SequenceNet(cfg, 2, 4, layers=2, collapse="sum", seed=3).double()
    x = torch.randn(6, 2, 2, dtype=torch.float64)
    together = net(x, torch.tensor([6, 4]))
    alone = net(x[:4, 1:2], torch.tensor([4]))
    torch.testing.assert_close(together[1:2], alone)


# ------------------------------------------------------------------ 2-D LSTM
def loop_2d(layer: MDLSTMLayer, n: int, x: torch.Tensor, direction) -> torch.Tensor:
    """The 2-D LSTM pixel by pixel, as Graves et al. 2007 section 4 states it."""
    rows, cols, _ = x.shape
    size = layer.hidden
    dr, dc = direction
    w_x, w_h, b = layer.w_x[n], layer.w_h[n], layer.b[n]
    p_i, p_f1, p_f2, p_o = layer.p_i[n], layer.p_f1[n], layer.p_f2[n], layer.p_o[n]
    zero = x.new_zeros(size)
    h, s = {}, {}
    for r in range(rows) if dr > 0 else range(rows - 1, -1, -1):
        for c in range(cols) if dc > 0 else range(cols - 1, -1, -1):
            h1, s1 = h.get((r - dr, c), zero), s.get((r - dr, c), zero)
            h2, s2 = h.get((r, c - dc), zero), s.get((r, c - dc), zero)
            a = x[r, c] @ w_x + h1 @ w_h[:size] + h2 @ w_h[size:] + b
            i, f1, f2, g, o = a.chunk(5)
            i = torch.sigmoid(i + p_i * (s1 + s2))
            f1 = torch.sigmoid(f1 + p_f1 * s1)
            f2 = torch.sigmoid(f2 + p_f2 * s2)
            s[r, c] = i * torch.tanh(g) + f1 * s1 + f2 * s2
            h[r, c] = torch.sigmoid(o + p_o * s[r, c]) * torch.tanh(s[r, c])
    return torch.stack([torch.stack([h[r, c] for c in range(cols)]) for r in range(rows)])


@pytest.mark.parametrize("n", range(4), ids=[str(d) for d in DIRECTIONS])
def test_mdlstm_equals_per_pixel_loop_values_and_gradients(n):
    gen = torch.Generator().manual_seed(5)
    layer = MDLSTMLayer(2, 3, init_scale=0.5, gen=gen).double()
    x = torch.randn(1, 3, 4, 2, dtype=torch.float64, generator=gen, requires_grad=True)
    weights = torch.randn(3, 4, 3, dtype=torch.float64, generator=gen)
    fast = layer(x, torch.tensor([4]))[n, 0]
    (fast * weights).sum().backward()
    fast_grads = [x.grad.clone()] + [p.grad.clone() for p in layer.parameters()]
    x.grad = None
    layer.zero_grad()
    slow = loop_2d(layer, n, x[0], DIRECTIONS[n])
    (slow * weights).sum().backward()
    slow_grads = [x.grad] + [p.grad for p in layer.parameters()]
    torch.testing.assert_close(fast, slow)
    for got, want in zip(fast_grads, slow_grads, strict=True):
        torch.testing.assert_close(got, want)


def test_mdlstm_narrow_image_in_a_padded_batch_scans_from_its_own_edge():
    gen = torch.Generator().manual_seed(6)
    layer = MDLSTMLayer(2, 3, init_scale=0.5, gen=gen).double()
    x = torch.randn(2, 3, 5, 2, dtype=torch.float64, generator=gen)
    x[1, :, 3:] = 7.0  # padding of the 3-column image
    out = layer(x, torch.tensor([5, 3]))
    for n, direction in enumerate(DIRECTIONS):
        torch.testing.assert_close(out[n, 1, :, :3], loop_2d(layer, n, x[1, :, :3], direction))
    assert torch.all(out[:, 1, :, 3:] == 0)


def test_hierarchical_mdlstm_shapes_and_padding_invariance():
    net = HierarchicalMDLSTM(
        1,
        5,
        hidden_sizes=(2, 3, 4),
        subsample_sizes=(4, 6),
        hidden_blocks=((2, 2), (1, 2)),
        input_block=(2, 2),
        seed=0,
    ).double()
    images = torch.rand(2, 8, 23, 1, dtype=torch.float64)
    logits, lengths = net(images, torch.tensor([23, 13]))
    assert logits.shape == (3, 2, 5) and lengths.tolist() == [3, 2]  # 23 -> 12 -> 6 -> 3
    alone, alone_len = net(images[1:, :, :13], torch.tensor([13]))
    assert alone_len.tolist() == [2]
    torch.testing.assert_close(logits[:2, 1:], alone)
    with pytest.raises(ValueError, match="fewer entries"):
        HierarchicalMDLSTM(1, 5, hidden_sizes=(2,), subsample_sizes=(4,), hidden_blocks=())


# ------------------------------------------------------------------ adaptive weight noise
def _tiny_ctc_problem():
    cfg = ControllerConfig(kind="lstm", hidden=(2,), peepholes=True)
    net = SequenceNet(cfg, 2, 3, seed=1).double()
    x = torch.randn(5, 2, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    lengths = torch.tensor([5, 4])
    targets = [[0, 1], [1]]
    return net, lambda model: ctc_loss(model(x, lengths), targets, lengths, reduction="sum")


def test_weight_noise_gradients_match_finite_differences_with_fixed_noise():
    net, loss_fn = _tiny_ctc_problem()
    noisy = AdaptiveWeightNoise(net, init_std=0.1, samples=2, symmetric=True, seed=0)
    with torch.no_grad():  # spread the sigmas so the complexity term is not symmetric
        for rho in noisy.log_std:
            rho.add_(0.3 * torch.randn(rho.shape, generator=noisy.gen, dtype=rho.dtype))
    noises = noisy.draws()
    assert all(torch.equal(a, -b) for a, b in zip(noises[0], noises[1], strict=True))
    objective = lambda: noisy.mdl_loss(loss_fn, batch_fraction=0.25, noises=noises)  # noqa: E731
    objective().backward()
    rng = np.random.default_rng(0)
    for group in (list(net.parameters()), list(noisy.log_std)):
        for _ in range(12):
            p = group[rng.integers(len(group))]
            idx = tuple(int(rng.integers(s)) for s in p.shape)
            with torch.no_grad():
                old = p[idx].item()
                p[idx] = old + 1e-6
                up = objective().item()
                p[idx] = old - 1e-6
                down = objective().item()
                p[idx] = old
            assert p.grad[idx].item() == pytest.approx((up - down) / 2e-6, rel=1e-5, abs=1e-8)


def test_complexity_gradient_is_rnnlibs_closed_form():
    net = torch.nn.Linear(4, 3).double()
    noisy = AdaptiveWeightNoise(net, mdl_weight=0.5, seed=0)
    with torch.no_grad():
        for rho in noisy.log_std:
            rho.uniform_(-3, -1, generator=noisy.gen)
    noisy.complexity().backward()
    mu_hat, var_hat = noisy.prior()
    for mu, rho in zip(net.parameters(), noisy.log_std, strict=True):
        sigma = rho.detach().exp()
        want_mu = 0.5 * (mu.detach() - mu_hat.detach()) / var_hat.detach()
        want_sigma = 0.5 * (sigma / var_hat.detach() - 1 / sigma)  # Trainer::mdl_differentiate
        torch.testing.assert_close(mu.grad, want_mu)
        torch.testing.assert_close(rho.grad, want_sigma * sigma)  # chain rule to log sigma
    # at the optimal prior the KL sum is sum_i ln(sigma_hat / sigma_i)
    sigmas = torch.cat([r.detach().exp().reshape(-1) for r in noisy.log_std])
    assert noisy.complexity().item() == pytest.approx(
        0.5 * torch.log(var_hat.sqrt() / sigmas).sum().item()
    )


# ------------------------------------------------------------------ optimisers, early stopping
GRADS = [[0.5, -1.0], [0.2, 1.0], [0.3, 0.5], [-0.1, 0.5], [0.4, 0.0], [0.4, -0.2]]


def test_steepest_descent_follows_rnnlibs_update():
    w = torch.nn.Parameter(torch.tensor([1.0, 2.0], dtype=torch.float64))
    opt = make_optimiser("steepest", [w], learn_rate=0.1, momentum=0.9)
    ref, delta = np.array([1.0, 2.0]), np.zeros(2)
    for g in GRADS:
        w.grad = torch.tensor(g, dtype=torch.float64)
        opt.step()
        delta = 0.9 * delta - 0.1 * np.array(g)  # SteepestDescent.hpp
        ref = ref + delta
        np.testing.assert_allclose(w.detach().numpy(), ref, rtol=1e-12)


def test_rprop_follows_rnnlibs_update_unlike_torch():
    def rnnlib(weights):
        w, step, prev = np.array(weights), np.full(2, 0.01), np.zeros(2)
        for g in map(np.array, GRADS):
            for i in range(2):
                if g[i] * prev[i] > 0:
                    w[i] -= np.sign(g[i]) * step[i]
                    step[i], prev[i] = min(step[i] * 1.2, 0.2), g[i]
                elif g[i] * prev[i] < 0:
                    step[i], prev[i] = max(step[i] * 0.5, 1e-9), 0.0
                else:
                    w[i] -= np.sign(g[i]) * step[i]
                    prev[i] = g[i]
        return w

    def run(opt_cls, **kw):
        w = torch.nn.Parameter(torch.tensor([1.0, 2.0], dtype=torch.float64))
        opt = opt_cls([w], **kw)
        for g in GRADS:
            w.grad = torch.tensor(g, dtype=torch.float64)
            opt.step()
        return w.detach().numpy()

    np.testing.assert_allclose(run(RnnlibRprop), rnnlib([1.0, 2.0]), rtol=1e-12)
    torch_rprop = run(torch.optim.Rprop, lr=0.01, step_sizes=(1e-9, 0.2))
    assert not np.allclose(torch_rprop, rnnlib([1.0, 2.0]))  # torch moves by the grown step


def test_early_stopping_counts_tests_without_a_new_best():
    stop = EarlyStopping(max_tests_no_best=2)
    history = [{"ctcError": 5.0, "labelError": 0.5}, {"ctcError": 4.0, "labelError": 0.6}]
    history += [{"ctcError": 4.5, "labelError": 0.55}] * 3
    flags = []
    for errors in history:
        flags.append(stop.update(errors))
        if stop.should_stop:
            break
    assert flags == [True, True, False, False, False]  # stops after the 3rd test without best
    assert stop.best == {"ctcError": 4.0, "labelError": 0.5}
    assert stop.best_test == {"ctcError": 2, "labelError": 1}
    never = EarlyStopping(max_tests_no_best=0)
    for _ in range(50):
        never.update({"labelError": 1.0})
    assert not never.should_stop


# ------------------------------------------------------------------ NetCDF files
def test_netcdf_round_trip_1d_and_2d(tmp_path):
    rng = np.random.default_rng(0)
    seqs = [rng.normal(size=(n, 3)).astype(np.float32) for n in (4, 7, 1)]
    data = RnnlibData(
        seqs,
        labels=["a", "bb", "c"],
        target_strings=["a bb", "c c a", ""],
        seq_tags=["one", "two", "three"],
    )
    back = read_rnnlib(write_rnnlib(tmp_path / "seq.nc", data), task="transcription")
    assert [x.shape for x in back.inputs] == [(4, 3), (7, 3), (1, 3)]
    for a, b in zip(seqs, back.inputs, strict=True):
        np.testing.assert_array_equal(a, b)
    assert back.labels == ["a", "bb", "c"] and back.seq_tags == ["one", "two", "three"]
    assert back.label_sequences() == [[0, 1], [2, 2, 0], []]
    images = [rng.random((3, 5, 1)).astype(np.float32), rng.random((2, 4, 1)).astype(np.float32)]
    classes = [rng.integers(0, 2, (3, 5)), rng.integers(0, 2, (2, 4))]
    data2 = RnnlibData(images, labels=["0", "1"], target_classes=classes)
    back2 = read_rnnlib(write_rnnlib(tmp_path / "img.nc", data2), task="classification")
    for a, b in zip(images + classes, back2.inputs + back2.target_classes, strict=True):
        np.testing.assert_array_equal(a, b)


def test_netcdf_reads_rnnlibs_point_order_written_by_scipy(tmp_path):
    # An RNNLIB image file: seqDims (height 2, width 3), points column by column.
    path = tmp_path / "rnnlib.nc"
    with netcdf_file(path, "w") as nc:
        for name, size in [("numSeqs", 1), ("numTimesteps", 6), ("inputPattSize", 1)]:
            nc.createDimension(name, size)
        nc.createDimension("numDims", 2)
        order = [10 * r + c for c in range(3) for r in range(2)]
        nc.createVariable("inputs", "f", ("numTimesteps", "inputPattSize"))[:] = np.array(
            order, np.float32
        ).reshape(6, 1)
        nc.createVariable("seqDims", "i", ("numSeqs", "numDims"))[:] = [[2, 3]]
    (image,) = read_rnnlib(path).inputs
    np.testing.assert_array_equal(image[..., 0], [[0, 1, 2], [10, 11, 12]])


def _write_raw(path, inputs_rows=6, seq_dims=(2, 3), with_inputs=True, labels=None):
    with netcdf_file(path, "w") as nc:
        nc.createDimension("numSeqs", 1)
        nc.createDimension("numTimesteps", inputs_rows)
        nc.createDimension("inputPattSize", 1)
        nc.createDimension("numDims", len(seq_dims))
        if with_inputs:
            var = nc.createVariable("inputs", "f", ("numTimesteps", "inputPattSize"))
            var[:] = np.zeros((inputs_rows, 1), np.float32)
        nc.createVariable("seqDims", "i", ("numSeqs", "numDims"))[:] = [list(seq_dims)]
        if labels is not None:
            nc.createDimension("numLabels", 1)
            nc.createDimension("maxLabelLength", 2)
            nc.createVariable("labels", "c", ("numLabels", "maxLabelLength"))[:] = np.array(
                [[b"a", b"\0"]], dtype="S1"
            )
            nc.createDimension("maxTargStringLength", 2)
            nc.createVariable("targetStrings", "c", ("numSeqs", "maxTargStringLength"))[:] = (
                np.array([[labels.encode(), b"\0"]], dtype="S1")
            )


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_bytes(b"CDF? this is not a NetCDF file at all"), "not a classic NetCDF"),
        (lambda p: None, "no such file"),
        (lambda p: _write_raw(p, with_inputs=False), "variable inputs missing"),
        (lambda p: _write_raw(p, inputs_rows=7), "add up to 6 points but inputs has 7"),
        (lambda p: _write_raw(p, labels="b"), "label 'b' is not in labels"),
    ],
    ids=["garbage", "missing", "no-inputs", "bad-shapes", "unknown-label"],
)
def test_bad_netcdf_files_give_one_line_config_errors(tmp_path, make, message):
    path = tmp_path / "bad.nc"
    make(path)
    with pytest.raises(ConfigError) as info:
        read_rnnlib(path, task="transcription")
    assert message in str(info.value) and "\n" not in str(info.value)
    assert str(path) in str(info.value)


# ------------------------------------------------------------------ data
def test_digit_strings_are_seeded_and_consistent():
    task = DigitStrings(split="test", min_digits=3, max_digits=8)
    a = task.sample(6, np.random.default_rng(4))
    b = task.sample(6, np.random.default_rng(4))
    assert torch.equal(a.images, b.images) and a.targets == b.targets
    assert a.images.shape[1] == task.height and a.columns().shape[1:] == (6, task.height)
    for img, width, target in zip(a.images, a.widths, a.targets, strict=True):
        assert 3 <= len(target) <= 8 and all(0 <= d <= 9 for d in target)
        assert torch.all(img[:, width:] == 0) and img[:, :width].max() > 0.5


def test_japanese_vowels_loads_from_the_installed_wheel():
    pytest.importorskip("sktime")
    from evorl.labelling.data import load_japanese_vowels

    seqs, labels = load_japanese_vowels("train")
    assert len(seqs) == 270 and sorted(set(labels.tolist())) == list(range(9))
    assert all(s.shape[1] == 12 and 7 <= len(s) <= 29 for s in seqs)
    x, lengths = pad_sequences(seqs[:5])
    assert x.shape == (int(lengths.max()), 5, 12)


# ------------------------------------------------------------------ smoke: BLSTM-CTC learns
def toy_transcription(count: int, rng: np.random.Generator):
    """2-4 labels of 3; each shown as 1-3 noisy one-hot frames, 0-2 empty frames between."""
    seqs, targets = [], []
    for _ in range(count):
        labels = rng.integers(0, 3, size=rng.integers(2, 5)).tolist()
        frames = [np.zeros(3)] * int(rng.integers(0, 3))
        for k in labels:
            frames += [np.eye(3)[k]] * int(rng.integers(1, 4)) + [np.zeros(3)] * int(
                rng.integers(1, 3)
            )
        seq = np.array(frames, np.float32) + rng.normal(0, 0.1, (len(frames), 3))
        seqs.append(seq.astype(np.float32))
        targets.append(labels)
    return (*pad_sequences(seqs), targets)


def test_blstm_ctc_learns_a_toy_transcription():
    torch.manual_seed(0)  # unused by the library; pins anything torch might draw globally
    rng = np.random.default_rng(0)
    cfg = ControllerConfig(kind="lstm", hidden=(8,), peepholes=True)
    net = SequenceNet(cfg, 3, 4, seed=0)
    opt = torch.optim.Adam(net.parameters(), lr=0.03)
    test_x, test_len, test_z = toy_transcription(64, np.random.default_rng(99))

    def ler() -> float:
        with torch.no_grad():
            decoded = best_path_decode(net(test_x, test_len).log_softmax(-1), test_len)
        return label_error_rate(decoded, test_z)

    before = ler()
    for _ in range(120):
        x, lengths, z = toy_transcription(16, rng)
        loss = ctc_loss(net(x, lengths), z, lengths)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = ler()
    # untrained: LER 0.75 (random labels); trained for ~2 s: 0.0 (seeded)
    assert before > 0.5 and after < 0.2, (before, after)
