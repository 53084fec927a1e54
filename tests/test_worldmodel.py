"""The world model (Ha & Schmidhuber 2018): V, M, the dream, every stage, resume, the CLI.

Numerics are checked against direct computations (torch.distributions for the mixture loss, the
closed-form VAE loss on known inputs); the pipeline runs end to end on a tiny budget in one
module-scoped directory; resume tests compare a stopped-and-resumed stage with an uninterrupted
one. One test starts a real local Ray instance (collection and evolution on 2 workers).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import importlib.util
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from gymnasium.utils.env_checker import check_env

from evorl.agents.worldmodel import cli as wm_cli
from evorl.agents.worldmodel import diagnose, pipeline
from evorl.agents.worldmodel import evolve as wm_evolve
from evorl.agents.worldmodel import iterate as iterate_module
from evorl.agents.worldmodel import train as train_module
from evorl.agents.worldmodel.dream_env import DREAM_MAKE_ID, DreamEnv, DreamVectorEnv
from evorl.agents.worldmodel.evolve import (
    evaluate_real,
    evolve,
    final_params,
    run_config,
    run_name,
)
from evorl.agents.worldmodel.latent_env import LatentVectorEnv
from evorl.agents.worldmodel.mdnrnn import MDNRNN, mixture_nll, sample_mixture
from evorl.agents.worldmodel.real_env import RealEnv, RealVectorEnv
from evorl.agents.worldmodel.rollouts import controller_episodes, perturb
from evorl.agents.worldmodel.shards import (
    pad_batch,
    sequence_pieces,
    shard_paths,
    stream_frames,
    write_shard,
)
from evorl.agents.worldmodel.train import load_rnn, load_vae
from evorl.agents.worldmodel.vae import ConvVAE, vae_loss
from evorl.builder import controller_for
from evorl.config import to_dict
from evorl.envs.takecover import TakeCoverEnv
from evorl.errors import ConfigError, StopNow
from evorl.evaluation import VectorEvaluator
from evorl.evaluation.ray_actors import EvalWorker, Generation, run_evaluator
from evorl.rundir import load_checkpoint

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [
    # [z, h] observations are unbounded by design; TakeCoverEnv is checked without a spec.
    pytest.mark.filterwarnings("ignore:.*Box observation space (max|min)imum value"),
    pytest.mark.filterwarnings("ignore:.*alternative render modes"),
]

TINY = [
    "collect.episodes=4",
    "collect.max_steps=30",
    "vae.z_dim=4",
    "vae.channels=[4,8,8,8]",
    "vae.epochs=1",
    "vae.batch_size=16",
    "rnn.hidden=8",
    "rnn.epochs=1",
    "rnn.seq_len=10",
    "rnn.batch_size=4",
    "evolve.popsize=6",
    "evolve.episodes=2",
    "evolve.generations=2",
    "evolve.max_steps=40",
    "evolve.test_every=1",
    "evolve.test_episodes=2",
    "eval_episodes=3",
]


# ----------------------------------------------------------------------------- the take-cover task


def test_take_cover_passes_check_env_and_is_deterministic():
    check_env(TakeCoverEnv(render_mode="rgb_array"), skip_render_check=False)
    runs = []
    for _ in range(2):
        env = TakeCoverEnv()
        obs, _ = env.reset(seed=3)
        frames, rng = [obs], np.random.default_rng(0)
        for _ in range(200):
            obs, reward, terminated, _, _ = env.step(int(rng.integers(3)))
            frames.append(obs)
            assert reward == 1.0
            if terminated:
                break
        runs.append(np.stack(frames))
    assert runs[0].shape[1:] == (64, 64, 3) and runs[0].dtype == np.uint8
    assert np.array_equal(runs[0], runs[1])


def test_standing_still_loses_take_cover():
    """Every fireball is aimed at the agent: staying put ends episodes early (the env's speed is
    in scripts/bench_throughput.py)."""
    env = TakeCoverEnv()
    steps = 0
    for seed in range(20):
        env.reset(seed=seed)
        terminated = False
        while not terminated:
            terminated = env.step(1)[2]  # stay
            steps += 1
    assert steps / 20 < 300


# ----------------------------------------------------------------------------- V


def test_vae_shapes_and_paper_size():
    assert sum(p.numel() for p in ConvVAE(32).parameters()) == 4_348_547  # the paper's V
    vae = ConvVAE(z_dim=6, channels=(4, 8, 8, 8))
    x = torch.rand(5, 3, 64, 64)
    mu, logvar = vae.encode(x)
    assert mu.shape == logvar.shape == (5, 6)
    recon, _, _ = vae(x, torch.Generator().manual_seed(0))
    assert recon.shape == x.shape and recon.min() >= 0 and recon.max() <= 1


def test_vae_loss_on_known_inputs():
    images = torch.full((2, 3, 64, 64), 0.5)
    recon = torch.zeros_like(images)
    mu, logvar = torch.zeros(2, 4), torch.zeros(2, 4)
    out = vae_loss(images, recon, mu, logvar, kl_tolerance=0.5)
    assert out["reconstruction"].item() == pytest.approx(0.25 * 3 * 64 * 64)
    assert out["kl"].item() == 0.0
    assert out["loss"].item() == pytest.approx(3072 + 0.5 * 4)  # KL floored at 0.5 nats × 4
    mu = torch.ones(2, 4) * 3.0  # KL of N(3, 1) to N(0, 1) is 4.5 per dimension
    out = vae_loss(images, recon, mu, logvar, kl_tolerance=0.5)
    assert out["kl"].item() == pytest.approx(18.0)
    assert out["loss"].item() == pytest.approx(3072 + 18.0)


# ----------------------------------------------------------------------------- M


def test_mdnrnn_shapes():
    m = MDNRNN(z_dim=3, action_dim=2, hidden=7, gaussians=5)
    out, (h, c) = m(torch.zeros(4, 6, 3), torch.zeros(4, 6, 2))
    assert out.logits.shape == out.mu.shape == out.log_sigma.shape == (4, 6, 3, 5)
    assert out.reward.shape == out.done_logit.shape == (4, 6)
    assert h.shape == c.shape == (1, 6, 7)


def test_mixture_loss_is_normal_log_prob_for_one_component():
    gen = torch.Generator().manual_seed(0)
    target, mu = torch.randn(10, 3, generator=gen), torch.randn(10, 3, 1, generator=gen)
    log_sigma = 0.3 * torch.randn(10, 3, 1, generator=gen)
    logits = torch.randn(10, 3, 1, generator=gen)  # any logit: one component has weight 1
    expected = -torch.distributions.Normal(mu[..., 0], log_sigma[..., 0].exp()).log_prob(target)
    torch.testing.assert_close(mixture_nll(target, logits, mu, log_sigma), expected)


def test_mixture_loss_matches_torch_mixture_for_five_components():
    gen = torch.Generator().manual_seed(1)
    target = torch.randn(8, 4, generator=gen)
    logits, mu = torch.randn(8, 4, 5, generator=gen), torch.randn(8, 4, 5, generator=gen)
    log_sigma = 0.5 * torch.randn(8, 4, 5, generator=gen)
    mixture = torch.distributions.MixtureSameFamily(
        torch.distributions.Categorical(logits=logits),
        torch.distributions.Normal(mu, log_sigma.exp()),
    )
    torch.testing.assert_close(
        mixture_nll(target, logits, mu, log_sigma), -mixture.log_prob(target)
    )


def test_mixture_loss_is_finite_for_extreme_inputs():
    target = torch.tensor([[1e4, -1e4, 0.0]])
    logits = torch.tensor([[[1e4, -1e4], [-1e4, 1e4], [0.0, 0.0]]])
    mu = torch.tensor([[[-1e4, 0.0], [1e4, 0.0], [0.0, 1e-30]]])
    for log_sigma in (torch.full((1, 3, 2), -1e3), torch.full((1, 3, 2), 1e3)):
        nll = mixture_nll(target, logits, mu, log_sigma)
        assert torch.isfinite(nll).all()
    m = MDNRNN(3, 1, hidden=4)
    losses = m.loss(
        torch.full((5, 2, 3), 1e3),
        torch.zeros(5, 2, 1),
        torch.full((5, 2, 3), -1e3),
        torch.full((5, 2), 1e3),
        torch.ones(5, 2, dtype=torch.bool),
        torch.ones(5, 2, dtype=torch.bool),
    )
    assert all(torch.isfinite(v) for v in losses.values())


def test_mdnrnn_loss_ignores_padded_steps():
    m = MDNRNN(2, 1, hidden=4)
    gen = torch.Generator().manual_seed(0)
    z, z_next = torch.randn(6, 1, 2, generator=gen), torch.randn(6, 1, 2, generator=gen)
    mask = torch.tensor([True] * 4 + [False] * 2)[:, None]
    args = (torch.zeros(6, 1, 1), z_next, torch.ones(6, 1), torch.zeros(6, 1), mask)
    full = m.loss(z, *args)
    garbage = z_next.clone()
    garbage[4:] = 1e3
    padded = m.loss(z, args[0], garbage, *args[2:])
    torch.testing.assert_close(full["loss"], padded["loss"])


def test_done_pos_weight_weights_death_steps_as_a_hand_written_cross_entropy():
    m = MDNRNN(2, 1, hidden=4)
    gen = torch.Generator().manual_seed(3)
    z, z_next = torch.randn(7, 2, 2, generator=gen), torch.randn(7, 2, 2, generator=gen)
    dones = torch.zeros(7, 2, dtype=torch.bool)
    dones[6, 0] = dones[3, 1] = True
    mask = torch.ones(7, 2, dtype=torch.bool)
    mask[4:, 1] = False  # episode 1 ended at step 3
    args = (torch.zeros(7, 2, 1), z_next, torch.ones(7, 2), dones, mask)
    with torch.no_grad():
        logit = m(z, args[0])[0].done_logit
        p = torch.sigmoid(logit).double()
        plain = F.binary_cross_entropy(p, dones.double(), reduction="none")
        for w in (1.0, 10.0):
            got = m.loss(z, *args, done_pos_weight=w)["done_bce"]
            y = dones.double()
            expected = -(w * y * torch.log(p) + (1 - y) * torch.log(1 - p))
            torch.testing.assert_close(got.double(), expected[mask].mean(), rtol=1e-5, atol=0)
        torch.testing.assert_close(
            m.loss(z, *args)["done_bce"].double(), plain[mask].mean(), rtol=1e-5, atol=0
        )


def test_temperature_changes_the_sampling_spread():
    gen = torch.Generator().manual_seed(0)
    n = 20_000
    logits = torch.tensor([2.0, 0.0]).expand(n, 1, 2)
    mu = torch.tensor([-1.0, 3.0]).expand(n, 1, 2)
    log_sigma = torch.full((n, 1, 2), math.log(0.5))
    uniform, normal = torch.rand(n, 1, generator=gen), torch.randn(n, 1, generator=gen)
    stds, far = [], []
    for tau in (0.1, 1.0, 1.3):
        z = sample_mixture(logits, mu, log_sigma, tau, uniform, normal)
        stds.append(z.std().item())
        far.append((z > 1.0).float().mean().item())  # draws from the unlikely component
    assert stds[0] < stds[1] < stds[2]
    assert far[0] < 1e-3  # τ → 0: always the most likely component
    weight = 1 / (1 + math.exp(2.0))  # π of the second component at τ = 1
    assert far[1] == pytest.approx(weight, abs=0.01)
    z = sample_mixture(logits, mu, log_sigma, 0.1, uniform, normal)
    assert z.std().item() == pytest.approx(0.5 * math.sqrt(0.1), rel=0.05)  # σ·√τ


# ----------------------------------------------------------------------------- shards


def test_streaming_loaders_visit_every_frame_once(tmp_path):
    for i, length in enumerate((5, 9, 3)):
        obs = np.zeros((length, 64, 64, 3), np.uint8)
        obs[:, 0, 0, 0] = np.arange(length) + 10 * i
        write_shard(tmp_path / f"ep_{i:06d}.npz", obs=obs)
    paths = shard_paths(tmp_path)
    batches = list(stream_frames(paths, 4, np.random.default_rng(0), group=2))
    seen = np.concatenate([b[:, 0, 0, 0] for b in batches])
    assert sorted(seen) == sorted([*range(5), *range(10, 19), *range(20, 23)])
    assert all(len(b) == 4 for b in batches[:-1])
    episode = {
        "mu": np.arange(8.0)[:, None],
        "logvar": np.zeros((8, 1)),
        "action": np.zeros((7, 2), np.float32),
        "reward": np.ones(7, np.float32),
        "done": np.zeros(7, bool),
    }
    pieces = sequence_pieces(episode, 3)
    assert [len(p["reward"]) for p in pieces] == [3, 3, 1]
    assert pieces[2]["mu"][:, 0].tolist() == [6.0, 7.0]
    batch = pad_batch(pieces)
    assert batch["mu"].shape == (4, 3, 1) and batch["mask"].sum() == 7
    short = pad_batch(pieces[2:])  # padded to its own longest piece, not to seq_len
    assert short["mu"].shape == (2, 1, 1) and short["mask"].tolist() == [[True]]


# ----------------------------------------------------------------------------- the pipeline


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A pipeline directory with data, V and M trained on a tiny budget."""
    torch.set_num_threads(1)
    directory = tmp_path_factory.mktemp("wm") / "tc"
    config = pipeline.open_pipeline(directory, "take-cover", TINY)
    pipeline.stage_collect(config, directory, quiet=True)
    pipeline.stage_train_vae(config, directory, quiet=True)
    pipeline.stage_train_rnn(config, directory, quiet=True)
    return config, directory


def test_dream_and_real_envs_pass_check_env(trained):
    _, directory = trained
    check_env(DreamEnv(str(directory), temperature=1.15), skip_render_check=True)
    check_env(RealEnv(str(directory)), skip_render_check=True)
    env = gym.make(DREAM_MAKE_ID, directory=str(directory), temperature=1.0)
    assert env.observation_space.shape == (4 + 8,)


def test_a_dream_is_the_same_in_any_batch(trained):
    _, directory = trained
    single = DreamEnv(str(directory), temperature=1.0, max_steps=15)
    batch = DreamVectorEnv(3, str(directory), temperature=1.0, max_steps=15)
    obs, _ = batch.reset(seed=[4, 5, 6])
    first, _ = single.reset(seed=5)
    np.testing.assert_allclose(obs[1], first, atol=1e-5)
    for t in range(15):
        action = t % 3
        obs, _reward, term, trunc, _ = batch.step(np.array([0, action, 2]))
        o, _r, te, tr, _ = single.step(action)
        np.testing.assert_allclose(obs[1], o, atol=1e-4)
        assert (term[1], trunc[1]) == (te, tr)
        if te or tr:
            break


def _with_constant_done_logit(directory: Path, target: Path, logit: float) -> str:
    """A copy of ``directory``'s V and M whose done head outputs ``logit`` at every step."""
    target.mkdir()
    for name in ("config.yaml", "vae.pt"):
        shutil.copy(directory / name, target / name)
    payload = torch.load(directory / "rnn.pt", weights_only=False)
    payload["model"]["head.weight"][-1] = 0.0
    payload["model"]["head.bias"][-1] = logit
    torch.save(payload, target / "rnn.pt")
    return str(target)


def test_the_threshold_rule_ends_a_dream_when_death_is_likelier_than_not(trained, tmp_path):
    _, directory = trained
    seeds = list(range(40))
    for logit, threshold_ends in ((0.1, True), (-0.1, False)):  # p = 0.525, 0.475
        root = _with_constant_done_logit(directory, tmp_path / f"m{logit}", logit)
        lengths = {}
        for rule in ("threshold", "sample"):
            env = DreamVectorEnv(len(seeds), root, temperature=1.0, max_steps=12, done=rule)
            env.reset(seed=seeds)
            length, live = np.zeros(len(seeds), int), np.ones(len(seeds), bool)
            for _ in range(12):
                _, _, term, trunc, _ = env.step(np.ones(len(seeds), np.int64))
                length += live
                live &= ~(term | trunc)
            lengths[rule] = length
        if threshold_ends:  # the first step ends every dream
            assert (lengths["threshold"] == 1).all()
        else:  # none ends before the time limit
            assert (lengths["threshold"] == 12).all()
        # a draw of p ~ 1/2 a step: some dreams end at once, some live on
        assert lengths["sample"].max() > 1 and lengths["sample"].min() < 12
    with pytest.raises(ValueError, match="done must be one of sample, threshold"):
        DreamVectorEnv(1, root, done="always")


def test_dream_done_reaches_the_evolution_env(trained):
    config, directory = trained
    for rule in ("sample", "threshold"):
        c = dataclasses.replace(config, evolve=dataclasses.replace(config.evolve, dream_done=rule))
        env = wm_evolve.run_config(c, directory, True, 1.15).env
        assert env.kwargs.get("done", "sample") == rule
        assert gym.make(env.id, **env.kwargs).unwrapped.vec.done == rule


@pytest.mark.parametrize("kind", ["real", "dream"])
def test_an_action_the_env_cannot_take_ends_its_episode_with_a_nan_reward(trained, kind):
    _, directory = trained
    if kind == "real":
        batch, single = RealVectorEnv(3, str(directory)), RealEnv(str(directory))
    else:
        batch = DreamVectorEnv(3, str(directory), temperature=1.0, max_steps=15)
        single = DreamEnv(str(directory), temperature=1.0, max_steps=15)
    batch.reset(seed=[4, 5, 6])
    single.reset(seed=5)
    obs, reward, terminated, _, _ = batch.step(np.array([3, 1, -1]))  # Discrete(3): 0, 1, 2
    o, r, te, _, _ = single.step(1)
    assert np.isnan(reward[[0, 2]]).all() and terminated[[0, 2]].all()
    np.testing.assert_allclose(obs[1], o, atol=1e-4)
    assert (reward[1], terminated[1]) == (pytest.approx(r), te)
    _, reward, terminated, _, _ = batch.step(np.array([1, 1, 1]))  # ended rows stay ended
    assert reward[0] == reward[2] == 0.0 and not terminated[[0, 2]].any()


def test_box_actions_are_clipped_and_non_finite_ones_refused():
    env = LatentVectorEnv()
    space = gym.spaces.Box(np.float32([-1, 0, 0]), np.float32([1, 1, 1]))
    env._init_latent(MDNRNN(2, 3, hidden=4, gaussians=1), space, 4, None)
    env._live[:] = [True, True, True, False]
    actions = np.array(
        [[np.nan, 0.5, 0.5], [2.0, -3.0, 0.5], [0.1, 0.2, 0.3], [np.inf, 0, 0]], np.float32
    )
    taken, rows, refused = env._take(actions)
    assert rows.tolist() == [1, 2] and refused.tolist() == [0]  # row 3 is not live
    np.testing.assert_array_equal(taken[1], [1.0, 0.0, 0.5])
    np.testing.assert_array_equal(taken[2], actions[2])  # in bounds: unchanged
    inside = np.array([[0.0, 0.5, 0.5]] * 4, np.float32)
    assert env._take(inside)[0] is inside  # nothing to clip: no copy


def test_every_stage_runs_end_to_end(trained):
    config, directory = trained
    evolve(config, directory, dream=True, temperature=1.15)
    run, params = final_params(directory / run_name(True, 1.15))
    score = pipeline.stage_eval(config, directory, True, 1.15)
    assert len(score.returns) == 3 and (score.returns >= 1).all()
    np.testing.assert_array_equal(score.returns, evaluate_real(directory, run, params, 3))
    line = pipeline.stage_dream(config, directory, True, 1.15)
    assert (directory / "pictures" / "reconstructions.png").stat().st_size > 0
    assert (directory / "pictures" / "dream-t1.15.gif").stat().st_size > 0
    assert "real return" in line


def _copy_data(directory: Path, target: Path) -> None:
    target.mkdir(parents=True)
    shutil.copy(directory / "config.yaml", target / "config.yaml")
    shutil.copytree(directory / "data", target / "data")


def test_training_stopped_and_resumed_equals_uninterrupted(trained, tmp_path):
    _config, directory = trained
    two = ["vae.epochs=2", "rnn.epochs=2"]
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    for folder in (straight, stopped):
        _copy_data(directory, folder)
    cfg = pipeline.open_pipeline(straight, None, two)
    pipeline.stage_train_vae(cfg, straight, quiet=True)
    pipeline.stage_train_rnn(cfg, straight, quiet=True)
    pipeline.stage_train_vae(pipeline.open_pipeline(stopped, None, []), stopped, quiet=True)
    assert load_checkpoint(stopped / "vae.pt")["epoch"] == 1
    cfg = pipeline.open_pipeline(stopped, None, two)
    pipeline.stage_train_vae(cfg, stopped, quiet=True)  # resumes at epoch 2
    one_epoch = dataclasses.replace(cfg, rnn=dataclasses.replace(cfg.rnn, epochs=1))
    pipeline.stage_train_rnn(one_epoch, stopped, quiet=True)
    assert load_checkpoint(stopped / "rnn.pt")["epoch"] == 1
    pipeline.stage_train_rnn(cfg, stopped, quiet=True)  # resumes at epoch 2
    for load in (load_vae, load_rnn):
        a, b = load(straight)[0].state_dict(), load(stopped)[0].state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a)
    assert load_checkpoint(stopped / "rnn.pt")["epoch"] == 2


def test_training_interrupted_mid_epoch_and_rerun_equals_uninterrupted(
    trained, tmp_path, monkeypatch
):
    """Ctrl-C in the middle of V's second epoch: the first epoch's checkpoint stands, and running
    the stage again gives the weights of an uninterrupted run, bit for bit."""
    _config, directory = trained
    two = ["vae.epochs=2"]
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    for folder in (straight, stopped):
        _copy_data(directory, folder)
    pipeline.stage_train_vae(pipeline.open_pipeline(straight, None, two), straight, quiet=True)
    real_stream, epochs = train_module.stream_frames, []

    def interrupted_stream(*args, **kwargs):
        epochs.append(1)
        for n, batch in enumerate(real_stream(*args, **kwargs)):
            if len(epochs) == 2 and n == 1:  # second batch of the second epoch
                raise KeyboardInterrupt
            yield batch

    monkeypatch.setattr(train_module, "stream_frames", interrupted_stream)
    cfg = pipeline.open_pipeline(stopped, None, two)
    with pytest.raises(KeyboardInterrupt):
        pipeline.stage_train_vae(cfg, stopped, quiet=True)
    assert load_checkpoint(stopped / "vae.pt")["epoch"] == 1
    monkeypatch.setattr(train_module, "stream_frames", real_stream)
    pipeline.stage_train_vae(cfg, stopped, quiet=True)
    a, b = load_vae(straight)[0].state_dict(), load_vae(stopped)[0].state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not list(stopped.glob(".*.tmp"))


def test_evolution_interrupted_by_a_signal_resumes_exactly(trained, tmp_path):
    """SIGINT during dream evolution: the generation finishes, a checkpoint is written, the stage
    raises StopNow (the command exits 130); running it again ends where an uninterrupted
    run does."""
    _config, directory = trained
    for d in ("a", "b"):
        shutil.copytree(directory, tmp_path / d, ignore=shutil.ignore_patterns("evolve-*"))
    four = ["evolve.generations=4"]
    evolve(pipeline.open_pipeline(tmp_path / "a", None, four), tmp_path / "a", True, 1.0)
    cfg = pipeline.open_pipeline(tmp_path / "b", None, four)

    class SignalAtGeneration2:
        def __call__(self, trainer, result):
            if trainer.state.iteration == 2:
                os.kill(os.getpid(), signal.SIGINT)

    real_build = wm_evolve.build_evolution

    def build_with_signal(run, run_dir, hooks=None):
        return real_build(run, run_dir, [*(hooks or []), SignalAtGeneration2()])

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pipeline, "build_evolution", build_with_signal)
        with pytest.raises(StopNow):
            pipeline.stage_evolve(cfg, tmp_path / "b", True, 1.0, quiet=True)
    name = run_name(True, 1.0)
    assert len((tmp_path / "b" / name / "metrics.jsonl").read_text().splitlines()) == 2
    pipeline.stage_evolve(cfg, tmp_path / "b", True, 1.0, quiet=True)
    a, b = final_params(tmp_path / "a" / name)[1], final_params(tmp_path / "b" / name)[1]
    np.testing.assert_array_equal(a, b)


def test_evolution_stopped_and_resumed_equals_uninterrupted(trained, tmp_path):
    _config, directory = trained
    shutil.copytree(directory, tmp_path / "a", ignore=shutil.ignore_patterns("evolve-*"))
    shutil.copytree(directory, tmp_path / "b", ignore=shutil.ignore_patterns("evolve-*"))
    four = pipeline.open_pipeline(tmp_path / "a", None, ["evolve.generations=4"])
    evolve(four, tmp_path / "a", dream=True, temperature=1.0)
    evolve(pipeline.open_pipeline(tmp_path / "b", None, []), tmp_path / "b", True, 1.0)
    evolve(
        pipeline.open_pipeline(tmp_path / "b", None, ["evolve.generations=4"]),
        tmp_path / "b",
        True,
        1.0,
    )
    name = run_name(True, 1.0)
    a, b = final_params(tmp_path / "a" / name)[1], final_params(tmp_path / "b" / name)[1]
    np.testing.assert_array_equal(a, b)
    rows = [(tmp_path / d / name / "metrics.jsonl").read_text() for d in ("a", "b")]
    strip = [[line.split('"time/')[0] for line in r.splitlines()] for r in rows]
    assert strip[0] == strip[1]


def test_collection_resumes_by_filling_in_missing_shards(trained, tmp_path):
    config, directory = trained
    target = tmp_path / "data"
    shutil.copytree(directory / "data", target)
    (target / "ep_000002.npz").unlink()
    assert pipeline.collect(config, target) == 1
    for path in shard_paths(directory / "data"):
        a, b = np.load(path), np.load(target / path.name)
        assert all(np.array_equal(a[k], b[k]) for k in a.files)


# ----------------------------------------------------------------------------- the CLI


def run_cli(monkeypatch, *argv: str) -> int:
    import evorl.commands.cli

    monkeypatch.setattr(evorl.commands.cli, "_registrars", lambda: [wm_cli.register])
    return evorl.commands.cli.main(list(argv))


def test_cli_stages_and_flags(trained, monkeypatch, capsys, tmp_path):
    _, directory = trained
    folder = tmp_path / "cli"
    shutil.copytree(directory, folder, ignore=shutil.ignore_patterns("evolve-*", "pictures"))
    assert run_cli(monkeypatch, "wm", "collect", str(folder), "--quiet") == 0
    assert run_cli(monkeypatch, "wm", "evolve", str(folder), "--dream", "--temperature", "1.3",
                   "--quiet", "--evolve.generations=1") == 0  # fmt: skip
    assert (folder / "evolve-dream-t1.3" / "checkpoint.pt").exists()
    assert run_cli(monkeypatch, "wm", "eval", str(folder), "--temperature", "1.3",
                   "--episodes", "2") == 0  # fmt: skip
    assert "over 2 real episodes" in capsys.readouterr().out
    parser = argparse.ArgumentParser()
    wm_cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["wm", "evolve", "d", "--real"])
    assert args.dream is False and args.handler is wm_cli.handle


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["wm", "train-vae", "{new}"], "no world-model pipeline"),
        (["wm", "eval", "{new}", "--real"], "no world-model pipeline"),
        (["wm", "collect", "{new}", "--preset", "nope"], "unknown world-model preset"),
        (["wm", "collect", "{new}", "--vae.z_dim=abc"], "vae.z_dim"),
        (["wm", "collect", "{new}", "--collect.policy=smart"], "collect.policy"),
        (["wm", "evolve", "{new}", "--temperature", "-1"], "temperature"),
        (["wm", "iterate", "{new}", "--rounds", "-1"], "--rounds"),
        (["wm", "iterate", "{new}", "--iterate.noise=2"], "iterate.noise"),
        (["wm", "diagnose", "{new}"], "no world-model pipeline"),
    ],
)
def test_bad_input_is_one_line_exit_2(argv, message, monkeypatch, capsys, tmp_path):
    argv = [a.replace("{new}", str(tmp_path / "new")) for a in argv]
    assert run_cli(monkeypatch, *argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_stage_without_its_inputs_is_one_line_exit_2(monkeypatch, capsys, tmp_path):
    folder = str(tmp_path / "p")
    assert run_cli(monkeypatch, "wm", "collect", folder, "--quiet", "--collect.episodes=1",
                   "--collect.max_steps=5") == 0  # fmt: skip
    capsys.readouterr()
    for stage, message in (("train-vae", "no episodes"), ("eval", "no evolution")):
        (tmp_path / "p" / "data" / "ep_000000.npz").unlink(missing_ok=stage == "eval")
        assert run_cli(monkeypatch, "wm", stage, folder) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1


def test_changed_architecture_is_refused(trained, tmp_path):
    _, directory = trained
    shutil.copytree(directory, tmp_path / "d")
    config = pipeline.open_pipeline(tmp_path / "d", None, ["vae.z_dim=5"])
    with pytest.raises(ConfigError, match="another architecture"):
        pipeline.stage_train_vae(config, tmp_path / "d", quiet=True)


# ----------------------------------------------------------------------------- Ray, bench


def test_a_ray_worker_builds_the_dream_from_the_plain_config(trained):
    """What each Ray worker of ``evolve.workers`` runs (evorl's EvalWorker, here in-process):
    the dream env comes from its Gymnasium id alone, and fitness matches the local batch."""
    config, directory = trained
    run = run_config(config, directory, dream=True, temperature=1.0)
    worker = EvalWorker(functools.partial(run_evaluator, to_dict(run)))
    controller = controller_for(run.env, run.controller, run.seed)[0]
    params = controller.get_flat().numpy()[None] + 0.3 * np.random.default_rng(0).standard_normal(
        (3, controller.num_params)
    )
    seeds = np.array([1, 2])
    remote = worker.evaluate(Generation(seeds, None, False, None), 0, len(params), params)
    local = VectorEvaluator(run.env, controller)
    reference = local.evaluate(params, seeds)
    np.testing.assert_array_equal(remote.lengths, reference.lengths)
    np.testing.assert_allclose(remote.returns, reference.returns, rtol=1e-4)


@pytest.mark.ray
def test_collection_on_ray_workers_gives_the_local_shards(trained, tmp_path):
    import ray

    config, directory = trained
    target = tmp_path / "data"
    shutil.copytree(directory / "data", target)
    for path in shard_paths(target)[:3]:
        path.unlink()
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=200 * 2**20)
    try:
        on_ray = dataclasses.replace(config, collect=dataclasses.replace(config.collect, workers=2))
        assert pipeline.collect(on_ray, target) == 3
    finally:
        ray.shutdown()
    for path in shard_paths(directory / "data"):
        a, b = np.load(path), np.load(target / path.name)
        assert all(np.array_equal(a[k], b[k]) for k in a.files)


@pytest.mark.ray
def test_ray_address_reaches_collection_and_evolution(trained, tmp_path):
    """``collect.ray_address`` and ``evolve.ray_address`` join a cluster as ``evorl evolve
    --ray-address`` does: the evolution run's config carries it, and a collection pointed at an
    address where nothing listens is refused in one line naming the key."""
    import socket

    config, directory = trained
    on_cluster = dataclasses.replace(
        config, evolve=dataclasses.replace(config.evolve, workers=2, ray_address="auto")
    )
    run = run_config(on_cluster, directory, dream=True, temperature=1.0)
    assert (run.eval.evaluator, run.eval.workers, run.eval.ray_address) == ("ray", 2, "auto")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{sock.getsockname()[1]}"  # closed when the block ends
    collect = dataclasses.replace(config.collect, workers=1, ray_address=address)
    target = tmp_path / "data"
    with pytest.raises(ConfigError, match=rf"collect\.ray_address={address}: no Ray cluster"):
        pipeline.collect(dataclasses.replace(config, collect=collect), target)
    with pytest.raises(ConfigError, match=r"needs collect\.workers"):
        dataclasses.replace(config.collect, ray_address=address)


CUDA = torch.cuda.is_available()


@pytest.mark.skipif(CUDA, reason="checks the refusal on a machine without CUDA")
def test_training_on_a_cuda_device_torch_cannot_see_is_one_line(trained, tmp_path):
    config, directory = trained
    shutil.copytree(directory / "data", tmp_path / "data")
    on_gpu = dataclasses.replace(config, device="cuda")
    for stage, made in ((train_module.train_vae, "vae.pt"), (train_module.train_rnn, "rnn.pt")):
        with pytest.raises(ConfigError, match="sees no CUDA device") as info:
            stage(on_gpu, tmp_path)
        assert "\n" not in str(info.value) and not (tmp_path / made).exists()
        shutil.copy(directory / made, tmp_path / made)  # M's stage needs a trained V


@pytest.mark.skipif(not CUDA, reason="no CUDA device visible to torch")
def test_v_and_m_train_on_the_gpu_as_on_the_cpu(trained, tmp_path):
    """An epoch of V and of M on the GPU: the same batches and noise (drawn on the CPU), losses
    equal to the CPU's to float32 rounding; the saved models load on the CPU."""
    config, directory = trained
    histories = {}
    for device in ("cpu", "cuda"):
        target = tmp_path / device
        shutil.copytree(directory / "data", target / "data")
        cfg = dataclasses.replace(
            config,
            device=device,
            vae=dataclasses.replace(config.vae, epochs=1),
            rnn=dataclasses.replace(config.rnn, epochs=1),
        )
        histories[device] = (
            train_module.train_vae(cfg, target),
            train_module.train_rnn(cfg, target),
        )
        load_vae(target), load_rnn(target)  # CPU loads of what the device saved
    for cpu, gpu in zip(histories["cpu"], histories["cuda"], strict=True):
        assert cpu[0]["loss"] == pytest.approx(gpu[0]["loss"], rel=1e-3)


BENCH = str(ROOT / "scripts" / "bench_world_model.py")


def _bench_command(tmp: Path, name: str) -> list[str]:
    out = ["--dir", str(tmp / name), "--out", str(tmp / f"{name}.json")]
    return [sys.executable, BENCH, "--quick", *out]


def _run_bench(tmp: Path, name: str) -> tuple[str, list[dict]]:
    proc = subprocess.run(
        _bench_command(tmp, name), capture_output=True, text=True, timeout=180, cwd=tmp
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout, json.loads((tmp / f"{name}.json").read_text())["rows"]


@pytest.fixture(scope="module")
def quick_bench(tmp_path_factory):
    """One uninterrupted ``--quick`` bench run (the reference of the tests below)."""
    tmp = tmp_path_factory.mktemp("wm-bench")
    stdout, rows = _run_bench(tmp, "whole")
    return tmp, stdout, rows


@pytest.mark.slow
def test_bench_quick_mode_rows_and_resume(quick_bench):
    tmp, stdout, first = quick_bench
    rows = {row["row"]: row for row in first}
    assert list(rows) == ["random", "dream t0.1 r0", "dream t1.15 r0", "dream t1.15 r1", "real"]
    assert all(row["seeds"] == [1] and len(row["real_means"]) == 1 for row in rows.values())
    saved = json.loads((tmp / "whole" / "seed-1" / "bench.json").read_text())
    # every dream controller was tested before a later round retrained V and M
    assert not any(row.get("retrained_since") for row in saved.values())
    assert "seed 1 dream t1.15 r1: real" in stdout
    # a second run finds every row done: it evaluates nothing and reports the same table
    again, second = _run_bench(tmp, "whole")
    assert "seed 1 " not in again
    assert [r["real_means"] for r in second] == [r["real_means"] for r in first]


@pytest.mark.slow
def test_bench_interrupted_then_rerun_gives_the_uninterrupted_table(quick_bench, tmp_path):
    """Ctrl-C once the first row is saved: exit 130 with one line; a second run completes the
    table, equal to an uninterrupted run's."""
    proc = subprocess.Popen(
        _bench_command(tmp_path, "cut"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        # as from a terminal: a test run started in the background inherits SIGINT ignored
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    saved = tmp_path / "cut" / "seed-1" / "bench.json"
    deadline = time.monotonic() + 120
    while not saved.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr[-2000:]
    assert "interrupted: finished rows are kept" in stdout and "Traceback" not in stderr
    _, rows = _run_bench(tmp_path, "cut")
    assert [r["real_means"] for r in rows] == [r["real_means"] for r in quick_bench[2]]


def _bench_module():
    spec = importlib.util.spec_from_file_location("bench_world_model", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_preset_and_no_real(tmp_path, monkeypatch, capsys):
    """``--preset`` names the preset of new seed folders (an existing folder keeps its own);
    ``--no-real`` runs every phase but the real-trained row."""
    bench = _bench_module()
    car = bench.SeedBench(tmp_path, 4, ["collect.episodes=2"], 1, "carracing")
    assert (car.config.name, car.config.env.id, car.config.seed) == ("carracing", "CarRacing-v3", 4)
    assert car.config.collect.episodes == 2
    again = bench.SeedBench(tmp_path, 4, [], 1, "take-cover")  # the folder's config wins
    assert again.config.env.id == "CarRacing-v3"
    calls = []
    for phase in ("phase_round0", "phase_rounds", "phase_real"):
        monkeypatch.setattr(bench, phase, lambda b, *a, _p=phase: calls.append((_p, b.seed)))
    bench.run_phases([car], 1.0, 0, [], True, real=False)
    assert calls == [("phase_round0", 4), ("phase_rounds", 4)]
    calls.clear()
    bench.run_phases([car], 1.0, 0, [], True)
    assert calls[-1] == ("phase_real", 4)
    # the table leaves the real row out, and gives no "x random" where random scores <= 0
    car.save("random", {"real": [-30.0, -20.0], "dream": None, "seconds": 0.0})
    car.save("dream t1 r0", {"real": [-80.0], "dream": [100.0], "seconds": 5.0})
    table = bench.report([car], 1.0, 0, [], real=False)["rows"]
    assert [row["row"] for row in table] == ["random", "dream t1 r0"]
    assert table[1]["real_means"] == [-80.0] and table[1]["x_random"] is None
    # an unknown preset or a bad override: one line, exit 2, no folder made
    for bad in (["--preset", "nosuch"], ["--set", "rnn.hidden=-3"]):
        with pytest.raises(SystemExit) as stop:
            bench.main([*bad, "--seeds", "9", "--dir", str(tmp_path / "bad"), "--report"])
        assert stop.value.code == 2
        assert "error: " in capsys.readouterr().err and not (tmp_path / "bad").exists()


# ----------------------------------------------------------------------------- diagnostics


def test_spearman_matches_scipy_with_ties():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    for _ in range(20):
        a = rng.integers(0, 6, 15).astype(float)  # many ties
        b = a + rng.normal(0, 2, 15)
        assert diagnose.spearman(a, b) == pytest.approx(stats.spearmanr(a, b).statistic)
    assert math.isnan(diagnose.spearman([1, 1, 1], [1, 2, 3]))


def test_death_rates_by_step_match_a_loop():
    lengths, limit = np.array([3, 60, 120, 120, 1000]), 1000  # the last one was cut, not ended
    steps, deaths = diagnose.lengths_by_step(lengths, limit)
    rows = diagnose.by_step(steps, deaths, np.full(len(steps), 0.01))
    edges = [*diagnose.STEP_BINS[:-1], math.inf]
    for row, low, high in zip(rows, edges[:-1], edges[1:], strict=True):
        lived = died = 0
        for n in lengths:
            for t in range(n):
                if low <= t < high:
                    lived += 1
                    died += int(t == n - 1 and n < limit)
        assert row["n"] == lived
        assert row["real"] == (pytest.approx(died / lived) if lived else None)
        assert row["predicted"] == (pytest.approx(0.01) if lived else None)


def test_model_errors_match_a_step_by_step_reference():
    """M teacher-forced over a whole episode, against nn.LSTMCell stepped by hand and
    torch.distributions' mixture."""
    torch.manual_seed(0)
    rnn = MDNRNN(z_dim=3, action_dim=2, hidden=5, gaussians=2)
    gen = np.random.default_rng(1)
    episodes = [
        {
            "mu": gen.normal(size=(n + 1, 3)).astype(np.float32),
            "action": np.eye(2, dtype=np.float32)[gen.integers(0, 2, n)],
            "done": np.arange(n) == n - 1,
        }
        for n in (7, 4)
    ]
    report = diagnose.model_errors(rnn, episodes)
    cell = torch.nn.LSTMCell(5, 5)
    cell.load_state_dict({k[:-3]: v for k, v in rnn.lstm.state_dict().items()})
    nll, p, still, mse = [], [], [], []
    with torch.no_grad():
        for ep in episodes:
            h = c = torch.zeros(1, 5)
            for t in range(len(ep["done"])):
                x = torch.cat([torch.from_numpy(ep["mu"][t]), torch.from_numpy(ep["action"][t])])
                h, c = cell(x[None], (h, c))
                out = rnn.head(h)[0]
                mix = out[:-2].view(3, 3, 2)
                dist = torch.distributions.MixtureSameFamily(
                    torch.distributions.Categorical(logits=mix[0]),
                    torch.distributions.Normal(mix[1], mix[2].clamp(-10, 10).exp()),
                )
                nll.append(-dist.log_prob(torch.from_numpy(ep["mu"][t + 1])).mean().item())
                p.append(torch.sigmoid(out[-1]).item())
                still.append(((ep["mu"][t + 1] - ep["mu"][t]) ** 2).mean())
                mean = (torch.softmax(mix[0], -1) * mix[1]).sum(-1).numpy()
                mse.append(((mean - ep["mu"][t + 1]) ** 2).mean())
    assert report["z_nll"] == pytest.approx(np.mean(nll), rel=1e-5)
    assert report["deaths_real"] == 2 and report["steps"] == 11
    assert report["deaths_predicted"] == pytest.approx(sum(p), rel=1e-5)
    assert report["done_p_at_deaths"] == pytest.approx((p[6] + p[10]) / 2, rel=1e-5)
    # an M trained with deaths weighted w: its odds divided by w
    weighted = diagnose.model_errors(rnn, episodes, done_pos_weight=10.0)
    unweighted = [q / (q + 10.0 * (1 - q)) for q in p]
    assert weighted["deaths_predicted"] == pytest.approx(sum(unweighted), rel=1e-5)
    assert report["z_mse_still"] == pytest.approx(np.mean(still), rel=1e-5)
    assert report["z_mse"] == pytest.approx(np.mean(mse), rel=1e-5)
    # the done head's cross-entropy against torch's, and the constant rate's (2 deaths in 11)
    dead = torch.tensor([t in (6, 10) for t in range(11)], dtype=torch.float64)
    ce = torch.nn.functional.binary_cross_entropy(torch.tensor(p, dtype=torch.float64), dead)
    ce_rate = torch.nn.functional.binary_cross_entropy(torch.full((11,), 2 / 11).double(), dead)
    assert report["done_ce"] == pytest.approx(ce.item(), rel=1e-5)
    assert report["done_ce_constant"] == pytest.approx(ce_rate.item(), rel=1e-9)
    assert report["done_skill"] == pytest.approx(1 - ce.item() / ce_rate.item(), rel=1e-5)
    assert report["done_p_first_step"] == pytest.approx((p[0] + p[7]) / 2, rel=1e-5)


def test_exploration_noise_is_epsilon_greedy_or_clipped_gaussian():
    space = gym.spaces.Discrete(3)
    rng = np.random.default_rng(0)
    picks = np.array([int(perturb(space, 1, 0.3, rng)) for _ in range(6000)])
    assert np.mean(picks != 1) == pytest.approx(0.3 * 2 / 3, abs=0.02)  # a uniform pick may be 1
    assert all(int(perturb(space, 2, 0.0, rng)) == 2 for _ in range(50))
    box = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    moved = np.stack([perturb(box, np.array([0.0, 0.99]), 0.1, rng) for _ in range(4000)])
    assert moved.min() >= -1 and moved.max() <= 1
    assert moved[:, 0].std() == pytest.approx(0.2, rel=0.05)  # 0.1 of the range 2
    assert (moved[:, 1] == 1.0).mean() == pytest.approx(0.5, abs=0.03)  # clipped half the time


def test_controller_episodes_are_what_the_real_env_does(trained):
    """Recorded episodes replay exactly in a fresh TakeCoverEnv with the same seeds and actions,
    and the same seeds and noise streams give the same episodes."""
    config, directory = trained
    run = run_config(config, directory, dream=True, temperature=1.0)
    controller, _ = controller_for(run.env, run.controller, run.seed)
    params = controller.get_flat().numpy() + 0.5 * np.random.default_rng(3).standard_normal(
        controller.num_params
    )
    rngs = [np.random.default_rng(k) for k in range(3)]
    episodes = controller_episodes(directory, controller, params, [7, 8, 9], rngs, 0.2, 50)
    again = controller_episodes(directory, controller, params, [7, 8, 9],
                                [np.random.default_rng(k) for k in range(3)], 0.2, 50)  # fmt: skip
    for seed, ep, ep2 in zip([7, 8, 9], episodes, again, strict=True):
        assert all(np.array_equal(ep[k], ep2[k]) for k in ep)
        env = TakeCoverEnv()
        obs, _ = env.reset(seed=seed)
        assert np.array_equal(ep["obs"][0], obs)
        for t, action in enumerate(ep["action"]):
            obs, reward, terminated, _, _ = env.step(int(action))
            assert np.array_equal(ep["obs"][t + 1], obs)
            assert (ep["reward"][t], ep["done"][t]) == (reward, terminated)
        assert ep["done"][-1] or len(ep["action"]) == 50


def test_diagnose_reports_every_measurement(trained, tmp_path, monkeypatch, capsys):
    _, directory = trained
    folder = tmp_path / "d"
    shutil.copytree(directory, folder, ignore=shutil.ignore_patterns("evolve-*", "pictures"))
    evolve(pipeline.open_pipeline(folder, None, []), folder, dream=True, temperature=1.15)
    assert run_cli(monkeypatch, "wm", "diagnose", str(folder), "--episodes", "3") == 0
    out = capsys.readouterr().out
    assert "Spearman dream vs real" in out and "death rate by step" in out
    assert "for the episodes' constant death rate (skill" in out
    report = json.loads((folder / "diagnostics" / "evolve-dream-t1.15.json").read_text())
    for key in ("population_first", "population_last"):
        pop = report[key]
        assert len(pop["dream"]) == len(pop["real"]) == 6
        assert pop["spearman"] == pytest.approx(diagnose.spearman(pop["dream"], pop["real"]))
    assert report["model_on_random"]["episodes"] == report["model_on_controller"]["episodes"] == 3
    assert report["model_on_controller"]["deaths_real"] <= 3
    assert 0 <= report["coverage"]["share_of_steps_beyond_longest"] <= 1


# ----------------------------------------------------------------------------- iterate

ROUNDS = [
    "iterate.episodes=3",
    "iterate.vae_epochs=1",
    "iterate.rnn_epochs=1",
    "iterate.generations=2",
    "iterate.noise=0.2",
]


@pytest.mark.parametrize("where", ["collect", "train-rnn"])
def test_iterate_stopped_mid_round_and_rerun_equals_uninterrupted(
    where, trained, tmp_path, monkeypatch
):
    """Ctrl-C inside round 2 (between two collection chunks, or in the middle of M's epoch):
    running ``iterate`` again ends bit for bit where an uninterrupted run does — data, V, M
    and every round's controller."""
    _, directory = trained
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    for folder in (straight, stopped):
        shutil.copytree(directory, folder, ignore=shutil.ignore_patterns("evolve-*", "pictures"))
    monkeypatch.setattr(iterate_module, "CHUNK", 2)  # rounds of 3 episodes: chunks of 2 and 1
    cfg = pipeline.open_pipeline(straight, None, ROUNDS)
    lines = pipeline.stage_iterate(cfg, straight, 2, 1.15, quiet=True)
    assert "round 2: collect: 3 episodes written with the round 1 C" in lines
    calls = []
    if where == "collect":
        real = iterate_module.controller_episodes

        def interrupted(*args, **kwargs):
            calls.append(1)
            if len(calls) == 4:  # round 2's second chunk
                raise KeyboardInterrupt
            return real(*args, **kwargs)

        monkeypatch.setattr(iterate_module, "controller_episodes", interrupted)
    else:
        real = train_module.stream_sequences

        def interrupted(*args, **kwargs):
            calls.append(1)
            for n, batch in enumerate(real(*args, **kwargs)):
                if len(calls) == 2 and n == 1:  # M's epoch of round 2 (round 0 is trained)
                    raise KeyboardInterrupt
                yield batch

        monkeypatch.setattr(train_module, "stream_sequences", interrupted)
    cfg = pipeline.open_pipeline(stopped, None, ROUNDS)
    with pytest.raises(KeyboardInterrupt):
        pipeline.stage_iterate(cfg, stopped, 2, 1.15, quiet=True)
    assert not (stopped / run_name(True, 1.15, 2)).exists()
    monkeypatch.undo()
    monkeypatch.setattr(iterate_module, "CHUNK", 2)
    pipeline.stage_iterate(cfg, stopped, 2, 1.15, quiet=True)
    if where == "collect":  # a chunk with a missing shard is collected again, whole
        shard_paths(stopped / "data")[-2].unlink()
        assert iterate_module.collect_round(cfg, stopped, 2, 1.15) == 1
    names = [p.name for p in shard_paths(straight / "data")]
    assert names == [p.name for p in shard_paths(stopped / "data")] and len(names) == 4 + 6
    for name in names:
        a, b = np.load(straight / "data" / name), np.load(stopped / "data" / name)
        assert a.files == b.files and all(np.array_equal(a[k], b[k]) for k in a.files)
    assert int(np.load(straight / "data" / names[-1])["round"]) == 2
    for load in (load_vae, load_rnn):
        a, b = load(straight)[0].state_dict(), load(stopped)[0].state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a)
    assert load_checkpoint(stopped / "rnn.pt")["epoch"] == 1 + 2
    for r in (0, 1, 2):
        name = run_name(True, 1.15, r)
        a, b = final_params(straight / name)[1], final_params(stopped / name)[1]
        np.testing.assert_array_equal(a, b)


def test_iterate_rounds_start_from_the_last_champion(trained, tmp_path):
    _, directory = trained
    shutil.copytree(directory, tmp_path / "p", ignore=shutil.ignore_patterns("evolve-*"))
    cfg = pipeline.open_pipeline(tmp_path / "p", None, ROUNDS)
    run = run_config(cfg, tmp_path / "p", True, 1.15, round_index=1)
    assert run.init_from == str((tmp_path / "p" / "evolve-dream-t1.15").resolve())
    assert run.stop.generations == 2 and run.seed != cfg.seed
    cold = dataclasses.replace(cfg, iterate=dataclasses.replace(cfg.iterate, warm_start=False))
    assert run_config(cold, tmp_path / "p", True, 1.15, round_index=1).init_from is None
