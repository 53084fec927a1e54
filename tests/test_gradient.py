"""Recurrent policy gradients and recurrent PPO (evorl.gradient): numerics, resets, resume, CLI."""

from __future__ import annotations

import itertools
import json
import math

import gymnasium as gym
import numpy as np
import pytest
import torch

import evorl.commands.cli
from evorl import seeding
from evorl.builder import build_trainer, resume_run, start_run
from evorl.config import ConfigError, EnvConfig
from evorl.controllers import ControllerConfig, build_controller
from evorl.env_pool import EnvPool
from evorl.evaluation import VectorEvaluator
from evorl.gradient.config import PolicyConfig, load_gradient_config, preset_names
from evorl.gradient.policy import RecurrentPolicy
from evorl.gradient.ppo import chunk, gae
from evorl.gradient.rollouts import EpisodeBatch, collect_steps, start_carry
from evorl.gradient.rpg import rpg_losses
from evorl.logger import read_metrics
from evorl.playback import evaluate_policy, load_policy


def make_policy(
    kind="lstm", hidden=(3,), obs_dim=3, space=None, fast=True, readout_hidden=0, **policy_kw
):
    space = space if space is not None else gym.spaces.Discrete(2)
    cfg = ControllerConfig(
        kind=kind, hidden=hidden, continuous_action="clip", readout_hidden=readout_hidden
    )
    ctrl = build_controller(cfg, obs_dim, space, seed=3)
    with torch.no_grad():  # a policy far from uniform, so every term of the gradient matters
        ctrl.set_flat(ctrl.get_flat() + 0.5 * torch.randn(ctrl.num_params, generator=_gen(4)))
    policy = RecurrentPolicy(ctrl, space, PolicyConfig(**policy_kw), seed=5).double()
    if not fast:
        policy.fast = None
    return policy


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --------------------------------------------------------------------------- exact gradient

# A tiny episodic POMDP: a cue (0 or 1, each with probability 1/2) is shown at t = 0 only; then
# the agent sees its own previous action. Rewards depend on the cue, the action and the previous
# action; the episode terminates early when the first two actions are both 1.
REWARD = np.random.default_rng(0).normal(size=(3, 2, 2, 2))  # [t, cue, action, previous]
HORIZON = 3


def _episode(cue: int, actions: tuple[int, ...]):
    obs, rewards, prev = [], [], 0
    for t, a in enumerate(actions):
        obs.append([1.0, float(cue), 0.0] if t == 0 else [0.0, 0.0, 2.0 * prev - 1.0])
        rewards.append(REWARD[t, cue, a, prev])
        prev = a
        if t == 1 and actions[:2] == (1, 1):
            break
    return obs, rewards


def all_episodes():
    """Every (cue, action sequence) with its observations and rewards, as padded batches."""
    seen = []
    for cue in (0, 1):
        for actions in itertools.product((0, 1), repeat=HORIZON):
            obs, rewards = _episode(cue, actions)
            key = (cue, actions[: len(rewards)])
            if key not in seen:
                seen.append(key)
                yield obs, list(actions[: len(rewards)]), rewards


def as_batch(episodes) -> EpisodeBatch:
    n = len(episodes)
    obs = torch.zeros(HORIZON, n, 3, dtype=torch.float64)
    actions = torch.zeros(HORIZON, n, dtype=torch.long)
    rewards = torch.zeros(HORIZON, n, dtype=torch.float64)
    mask = torch.zeros(HORIZON, n, dtype=torch.bool)
    for b, (o, a, r) in enumerate(episodes):
        k = len(r)
        obs[:k, b] = torch.tensor(o, dtype=torch.float64)
        actions[:k, b], rewards[:k, b], mask[:k, b] = torch.tensor(a), torch.tensor(r), True
    return EpisodeBatch(obs, actions, rewards, mask, np.zeros(n), np.zeros(n, int), [])


def episode_probs(policy, batch):
    outputs, _ = policy.unroll(batch.obs, policy.initial_state(batch.obs.shape[1]))
    logp = (policy.log_prob(outputs, batch.actions) * batch.mask).sum(0)
    return 0.5 * logp.exp()  # the cue's probability times the actions'


def expected_return(policy, batch):
    return (episode_probs(policy, batch) * (batch.rewards * batch.mask).sum(0)).sum()


@pytest.mark.parametrize("fast", [True, False], ids=["nn.LSTM-path", "cell-path"])
def test_rpg_gradient_equals_finite_differences_of_the_exact_expected_return(fast):
    policy = make_policy(fast=fast)
    ctrl = policy.controller
    batch = as_batch(list(all_episodes()))
    n = batch.obs.shape[1]
    assert n == 14  # 2 cues × (8 sequences − 2 merged by the early termination)
    probs = episode_probs(policy, batch).detach()
    assert math.isclose(float(probs.sum()), 1.0, rel_tol=1e-12)

    # E[-∇ loss] over the enumerated episodes, each weighted by its probability.
    expected = [torch.zeros_like(p) for p in ctrl.parameters()]
    for b in range(n):
        one = EpisodeBatch(
            *(getattr(batch, f)[:, b : b + 1] for f in ("obs", "actions", "rewards", "mask")),
            None,
            None,
            [],
        )
        loss = rpg_losses(policy, one, gamma=1.0, baseline=True)["policy"]
        grads = torch.autograd.grad(loss, list(ctrl.parameters()))
        for acc, g in zip(expected, grads, strict=True):
            acc -= probs[b] * g
    reinforce = torch.cat([g.reshape(-1) for g in expected])

    flat, eps = ctrl.get_flat().clone(), 1e-6
    fd = torch.zeros_like(flat)
    with torch.no_grad():
        for i in range(len(flat)):
            for sign in (1, -1):
                ctrl.set_flat(flat + sign * eps * (torch.arange(len(flat)) == i))
                fd[i] += sign * expected_return(policy, batch) / (2 * eps)
        ctrl.set_flat(flat)
    assert fd.abs().max() > 1e-2  # the problem has a real gradient
    torch.testing.assert_close(reinforce, fd, rtol=1e-5, atol=1e-7)
    # The history-dependent baseline changes single-episode gradients, not their expectation.
    assert float(policy.value_head.weight.detach().abs().sum()) > 0


def test_gaussian_reinforce_estimate_matches_the_analytic_gradient():
    """One-step Gaussian bandit, r(a) = −(a − 1)²: ∇J by REINFORCE ≈ ∇(−(μ − 1)² − σ²)."""
    space = gym.spaces.Box(-10.0, 10.0, shape=(1,))
    policy = make_policy(kind="linear", obs_dim=1, space=space, log_std_init=-0.7)
    ctrl, n = policy.controller, 40_000
    obs = torch.ones(1, n, 1, dtype=torch.float64)
    with torch.no_grad():
        outputs, _ = policy.unroll(obs, ())
        actions = policy.sample(outputs, _gen(0))
    batch = EpisodeBatch(
        obs,
        actions,
        -((actions[..., 0] - 1.0) ** 2),
        torch.ones(1, n, dtype=torch.bool),
        None,
        None,
        [],
    )
    loss = rpg_losses(policy, batch, gamma=1.0, baseline=False)["policy"]
    params = [*ctrl.parameters(), policy.log_std]
    estimate = torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, params)])
    mu = policy.mean(ctrl(obs[0, :1], ())[0])[0, 0]
    exact_j = -((mu - 1.0) ** 2) - policy.log_std.exp()[0] ** 2
    exact = torch.cat([g.reshape(-1) for g in torch.autograd.grad(exact_j, params)])
    assert float(exact.abs().max()) > 0.5
    torch.testing.assert_close(-estimate, exact, rtol=0.0, atol=0.15)


# --------------------------------------------------------------------------- resets and GAE


@pytest.mark.parametrize("fast", [True, False], ids=["nn.LSTM-path", "cell-path"])
@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_a_batch_with_resets_equals_separate_episodes(kind, fast):
    policy = make_policy(kind=kind, hidden=(4,), fast=fast)
    lengths = [3, 5, 1, 4]
    episodes = [torch.randn(k, 1, 3, dtype=torch.float64, generator=_gen(k)) for k in lengths]
    joined = torch.cat(episodes)  # back to back in one row
    start = torch.zeros(len(joined), 1, dtype=torch.bool)
    start[np.cumsum([0, *lengths[:-1]])] = True
    dirty = tuple(torch.randn_like(s) for s in policy.initial_state(1))  # reset at t = 0 too
    out, values = policy.unroll(joined, dirty, start)
    alone = [policy.unroll(e, policy.initial_state(1)) for e in episodes]
    torch.testing.assert_close(out, torch.cat([o for o, _ in alone]))
    torch.testing.assert_close(values, torch.cat([v for _, v in alone]))


@pytest.mark.parametrize("readout_hidden", [0, 6], ids=["linear-readout", "relu-readout"])
def test_fast_lstm_path_equals_the_controller_cell_with_gradients(readout_hidden):
    policy = make_policy(hidden=(5, 4), readout_hidden=readout_hidden)
    assert policy.fast is not None
    x = torch.randn(9, 6, 3, dtype=torch.float64, generator=_gen(1))
    start = torch.rand(9, 6, generator=_gen(2)) < 0.25
    state = tuple(torch.randn_like(s) for s in policy.initial_state(6))
    results = []
    for fast in (policy.fast, None):
        policy.fast = fast
        out, values = policy.unroll(x, state, start)
        grads = torch.autograd.grad((out**2).sum() + values.sum(), list(policy.parameters()))
        results.append((out, values, grads))
        ref = policy.controller.unroll(x, state, start)[0]
        torch.testing.assert_close(out, ref)
    for a, b in zip(results[0][2], results[1][2], strict=True):
        torch.testing.assert_close(a, b)


def test_recorded_log_probs_equal_the_chunked_replay():
    """What PPO replays (chunks from recorded states, resets inside) is what the policy did."""
    cfg = EnvConfig("CartPole-v1", observe=(0, 2))
    envs = EnvPool.make(cfg, 3)
    policy = make_policy(hidden=(4,), obs_dim=2).float()
    carry = start_carry(policy, envs, np.array([1, 2, 3]))
    rollout = collect_steps(policy, envs, carry, 48, _gen(0), np.random.default_rng(0))
    assert rollout.episode_start[1:].any()  # episodes ended inside the rollout
    for length in (8, 48):
        init = tuple(s[::length].reshape(-1, s.shape[-1]) for s in rollout.states)
        out, values = policy.unroll(
            chunk(rollout.obs, length), init, chunk(rollout.episode_start, length)
        )
        logp = policy.log_prob(out, chunk(rollout.actions, length))
        torch.testing.assert_close(logp, chunk(rollout.logp, length), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(values, chunk(rollout.values, length), atol=1e-5, rtol=1e-5)
    envs.close()


def test_gae_matches_the_textbook_recursion():
    rng = np.random.default_rng(0)
    t_len, n, gamma, lam = 7, 3, 0.9, 0.8
    r, v, boot = (torch.as_tensor(rng.normal(size=(t_len, n))) for _ in range(3))
    last = torch.as_tensor(rng.normal(size=n))
    term = torch.zeros(t_len, n, dtype=torch.bool)
    trunc = torch.zeros(t_len, n, dtype=torch.bool)
    term[2, 0], trunc[4, 1], term[6, 2] = True, True, True
    done = term | trunc
    nxt = torch.cat([v[1:], last[None]])
    nxt = torch.where(trunc, boot, nxt)
    adv = gae(r, v, nxt, term, done, gamma, lam)
    for b in range(n):
        for t in range(t_len):
            total, k = 0.0, t
            while True:
                bootstrap = 0.0 if term[k, b] else float(nxt[k, b])
                delta = float(r[k, b]) + gamma * bootstrap - float(v[k, b])
                total += (gamma * lam) ** (k - t) * delta
                if done[k, b] or k == t_len - 1:
                    break
                k += 1
            assert math.isclose(float(adv[t, b]), total, rel_tol=1e-12, abs_tol=1e-12)


# --------------------------------------------------------------------------- runs

TINY = {
    "ppo": ["ppo.num_envs=2", "ppo.steps=16", "ppo.bptt=8", "ppo.epochs=2", "ppo.minibatches=2"],
    "rpg": ["rpg.episodes=3"],
}


def tiny(preset: str, algo: str | None = None, *extra: str):
    algo = algo or load_gradient_config(preset).algo
    return load_gradient_config(
        preset,
        [
            f"algo={algo}",
            *TINY[algo],
            "controller.hidden=[4]",
            "env.max_episode_steps=30",
            "eval.test_every=1",
            "eval.test_episodes=2",
            "eval.test_max_episode_steps=null",
            "stop.target=null",
            "stop.env_steps=null",
            "stop.episodes=null",
            "stop.iterations=2",
            *extra,
        ],
    )


def _metrics_without_timing(run_dir):
    return [
        {k: v for k, v in row.items() if not k.startswith(("time/", "perf/"))}
        for row in read_metrics(run_dir)
    ]


@pytest.mark.parametrize(
    ("preset", "algo"), [("tmaze-10", "ppo"), ("cartpole-novel", "ppo"), ("pendulum-novel", "rpg")]
)
def test_resume_equals_an_uninterrupted_run(tmp_path, preset, algo):
    cfg = tiny(preset, algo, "stop.iterations=6", "checkpoint_every=3", "obs_norm=true")
    full = start_run(cfg, tmp_path / "full")
    full.run()
    full.close()
    half = start_run(tiny(preset, algo, "stop.iterations=3", "obs_norm=true"), tmp_path / "half")
    half.run()
    half.close()
    again = resume_run(tmp_path / "half", cfg)
    again.run()
    again.close()
    assert _metrics_without_timing(tmp_path / "half") == _metrics_without_timing(tmp_path / "full")
    assert len(read_metrics(tmp_path / "full")) == 6


@pytest.mark.parametrize("name", [n for n in preset_names() if not n.startswith("popgym-")])
def test_every_gradient_preset_trains_with_a_tiny_budget(name):
    """(The POPGym presets train in tests/test_popgym.py.)"""
    if name.startswith("inverted"):
        pytest.importorskip("mujoco")
    trainer = build_trainer(tiny(name))
    try:
        state = trainer.run()
    finally:
        trainer.close()
    assert state.iteration == 2 and state.env_steps > 0 and np.isfinite(state.champion_score)


def test_policy_file_replays_its_recorded_score(tmp_path):
    """The champion's policy file, played on the test seeds it was scored on, scores what the
    run recorded: the file holds everything the score depended on."""
    cfg = tiny("tmaze-10", None, "obs_norm=true")
    trainer = start_run(cfg, tmp_path / "run")
    state = trainer.run()
    trainer.close()
    policy = load_policy(tmp_path / "run")
    np.testing.assert_array_equal(policy.params, trainer.champion)
    assert policy.obs_stats is not None and policy.score == state.champion_score
    seeds = seeding.episode_seeds(
        cfg.seed, seeding.STREAM_TEST_EPISODES, state.champion_iteration, cfg.eval.test_episodes
    )
    evaluator = VectorEvaluator(policy.env, policy.controller())
    replayed = evaluator.evaluate(policy.params[None], seeds, policy.normalizer()).fitness[0]
    assert replayed == state.champion_score
    assert evaluate_policy(policy, episodes=2, seed=0).shape == (2,)


# --------------------------------------------------------------------------- CLI


@pytest.fixture
def cli(monkeypatch):
    monkeypatch.setattr(
        evorl.commands.cli,
        "COMMANDS",
        ("evorl.commands.train", "evorl.commands.runs", "evorl.commands.inspect"),
    )
    return evorl.commands.cli.main


ARGS = [
    "--ppo.num_envs=2", "--ppo.steps=16", "--ppo.bptt=8", "--ppo.epochs=1",
    "--ppo.minibatches=1", "--controller.hidden=[4]", "--eval.test_every=1",
    "--eval.test_episodes=2", "--stop.target=null", "--stop.env_steps=null",
    "--stop.iterations=2",
]  # fmt: skip


def test_cli_train_eval_plot_and_init_from_an_evolved_run(cli, tmp_path, capsys):
    run = tmp_path / "grad"
    assert cli(["train", "tmaze-10", "--run-dir", str(run), "--quiet", *ARGS]) == 0
    for name in ("config.yaml", "metrics.jsonl", "metrics.csv", "checkpoint.pt", "best.pt"):
        assert (run / name).is_file(), name
    assert "kind: gradient" in (run / "config.yaml").read_text()
    assert cli(["eval", str(run), "--episodes", "2"]) == 0
    assert "mean return" in capsys.readouterr().out
    assert cli(["plot", str(run)]) == 0

    evolved = tmp_path / "evo"
    evo_args = ["--env.id=evorl/TMaze-v0", "--env.observe=null", "--controller.hidden=[4]",
                "--optimizer.popsize=4", "--stop.generations=1", "--stop.wall_time=null",
                "--stop.target=null", "--eval.test_every=1", "--eval.test_episodes=2"]  # fmt: skip
    assert cli(["evolve", "--run-dir", str(evolved), "--quiet", *evo_args]) == 0
    fine = tmp_path / "fine"
    code = cli(["train", "tmaze-10", "--init-from", str(evolved), "--run-dir", str(fine),
                "--quiet", *ARGS, "--stop.iterations=1", "--eval.test_every=0"])  # fmt: skip
    assert code == 0
    cfg = load_gradient_config(str(fine / "config.yaml"))
    assert cfg.init_from == str(evolved)
    trainer = build_trainer(cfg)  # the fine-tuning run starts from the evolved champion
    np.testing.assert_allclose(
        trainer.learner.policy_params(), load_policy(evolved).params, rtol=1e-6
    )
    trainer.close()


def test_cli_resume_print_config_and_errors(cli, tmp_path, capsys):
    run = tmp_path / "grad"
    assert cli(["train", "cartpole-novel", "--run-dir", str(run), "--quiet", *ARGS]) == 0
    assert cli(["resume", str(run), "--stop.iterations=3", "--quiet"]) == 0
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 3
    assert "after 3 updates" in capsys.readouterr().out
    assert cli(["train", "tmaze-50", "--print-config", "--algo=rpg"]) == 0
    out = capsys.readouterr().out
    assert "kind: gradient" in out and "algo: rpg" in out
    assert cli(["train", "--list"]) == 0
    assert "tmaze-100" in capsys.readouterr().out
    assert cli(["train", "tmaze-10", "--ppo.epoch=3"]) == 2
    assert "unknown config key 'ppo.epoch'" in capsys.readouterr().err
    assert cli(["train", "tmaze-10", "--init-from", str(tmp_path / "nope")]) == 2
    with pytest.raises(ConfigError, match=r"ppo\.bptt"):
        load_gradient_config("tmaze-10", ["ppo.bptt=7"])


@pytest.mark.slow
def test_bench_script_quick_mode(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "scripts" / "bench_gradient_vs_evolution.py"
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(script), "--quick", "--out", str(out)],
        capture_output=True, text=True, timeout=240, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(out.read_text())["rows"]
