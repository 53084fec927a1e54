"""The device option: one-line refusals on a machine without CUDA; on a GPU machine, the
population's forward pass (and the learners') give the CPU's results to float32 rounding.

CI has no GPU: the CUDA tests skip there. They run wherever ``torch.cuda.is_available()``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from evorl.config import ControllerConfig, EnvConfig
from evorl.device import resolve
from evorl.errors import ConfigError
from evorl.evaluation import VectorEvaluator

CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not CUDA, reason="no CUDA device visible to torch")


@pytest.mark.skipif(CUDA, reason="checks the refusal on a machine without CUDA")
@pytest.mark.parametrize("name", ["cuda", "cuda:0", "cuda:3"])
def test_cuda_without_a_gpu_is_one_line(name):
    with pytest.raises(ConfigError, match="sees no CUDA device") as info:
        resolve(name)
    assert "\n" not in str(info.value) and "--device cpu" in str(info.value)


@pytest.mark.parametrize("name", ["gpu", "cuda:", "CPU", "cuda:x", ""])
def test_unknown_spellings_are_refused(name):
    with pytest.raises(ConfigError, match="one of cpu, cuda, cuda:N, auto"):
        resolve(name)


def test_auto_is_the_gpu_when_there_is_one():
    assert resolve("auto").type == ("cuda" if CUDA else "cpu")


def _population(hidden: int, size: int):
    from evorl.builder import controller_for

    env = EnvConfig("CartPole-v1", max_episode_steps=200)
    controller, _ = controller_for(env, ControllerConfig("lstm", (hidden,)), seed=0)
    rng = np.random.default_rng(1)
    x0 = controller.get_flat().numpy()
    return env, controller, x0 + 0.2 * rng.standard_normal((size, controller.num_params))


@needs_cuda
def test_population_forward_pass_on_the_gpu_matches_the_cpu():
    """Episode returns of a population, CPU vs GPU: identical where the actions agree (CartPole's
    discrete actions are an argmax; float32 rounding can flip a near-tie, so most episodes, not
    all, must match exactly), and per-step outputs to float32 precision."""
    env, controller, params = _population(64, 32)
    seeds = np.array([3, 4])
    cpu = VectorEvaluator(env, controller, 64, "cpu").evaluate(params, seeds)
    gpu = VectorEvaluator(env, controller, 64, "cuda").evaluate(params, seeds)
    assert np.mean(cpu.returns == gpu.returns) >= 0.9
    flat = torch.as_tensor(params, dtype=torch.float32)
    obs = torch.randn(32, 4, generator=torch.Generator().manual_seed(0))
    out = {}
    for device in ("cpu", "cuda"):
        weights = flat.to(device)
        views = controller.population_params(weights)
        state = controller.initial_state(32, device=weights.device)
        raw, _ = controller.forward(obs.to(device), state, views)
        out[device] = raw.cpu()
    torch.testing.assert_close(out["cuda"], out["cpu"], rtol=1e-4, atol=1e-5)


# ----------------------------------------------------------------------------- gradient learners


def _config(algo: str, device: str):
    from evorl.gradient.config import load_gradient_config

    overrides = [f"algo={algo}", "stop.iterations=3", f"device={device}", "seed=5"]
    overrides += ["ppo.num_envs=4", "ppo.steps=16", "ppo.bptt=8", "ppo.epochs=2", "rpg.episodes=4"]
    return load_gradient_config("cartpole-novel", overrides)


@pytest.mark.parametrize("algo", ["ppo", "rpg"])
def test_updates_reach_the_policy_that_steps_the_envs(algo, tmp_path):
    """The optimizer trains a copy of the policy (on ``device``); after each update the CPU
    policy that rollouts and tests step holds exactly the trained weights, and a run resumed
    from its checkpoint (which reloads both) gives the uninterrupted run's rows."""
    from evorl.builder import resume_run, start_run

    trainer = start_run(_config(algo, "cpu"), tmp_path / "full")
    learner = trainer.learner
    before = learner.policy.controller.get_flat().clone()
    trainer.step()
    after = learner.policy.controller.get_flat()
    assert not torch.equal(after, before)  # the update reached the policy the envs see
    trained = dict(learner.trained.named_parameters())
    for name, p in learner.policy.named_parameters():
        assert torch.equal(p, trained[name].cpu()), name
        assert p.data_ptr() != trained[name].data_ptr()  # a copy, not the same tensors
    trainer.checkpoint()
    rows = [trainer.step() for _ in range(2)]
    trainer.close()
    resumed = resume_run(tmp_path / "full")
    again = [resumed.step() for _ in range(2)]
    resumed.close()
    keep = [k for k in rows[0] if k.startswith(("loss/", "fitness/", "grad/"))]
    assert [[r[k] for k in keep] for r in rows] == [[r[k] for k in keep] for r in again]


@pytest.mark.skipif(CUDA, reason="checks the refusal on a machine without CUDA")
def test_train_on_cuda_without_a_gpu_is_one_line(capsys):
    from evorl.commands import main

    assert main(["train", "cartpole-novel", "--device", "cuda", "--stop.iterations=1"]) == 2
    err = capsys.readouterr().err
    assert "sees no CUDA device" in err and err.count("\n") == 1


@needs_cuda
@pytest.mark.parametrize("algo", ["ppo", "rpg"])
def test_an_update_on_the_gpu_matches_the_cpus(algo):
    """One update from the same rollout: the GPU's weights equal the CPU's to float32 rounding."""
    from evorl.builder import build_trainer

    cpu, gpu = build_trainer(_config(algo, "cpu")), build_trainer(_config(algo, "cuda"))
    cpu.step()
    gpu.step()
    torch.testing.assert_close(
        gpu.learner.policy.controller.get_flat(),
        cpu.learner.policy.controller.get_flat(),
        rtol=1e-4,
        atol=1e-5,
    )
    assert next(gpu.learner.trained.parameters()).device.type == "cuda"
