"""Every standard space, checked against Gymnasium's own ``flatten`` / ``unflatten``.

Observations (evorl.spaces.ObservationMap: one env's observation, a vector env's batch, the
previous action and reward), the deterministic action heads (the population path) and the
stochastic heads of gradient training, and the one-line refusals of spaces evorl cannot serve.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.spaces import Box, Dict, Discrete, MultiBinary, MultiDiscrete, Tuple
from gymnasium.spaces.utils import flatten, unflatten
from gymnasium.vector.utils import batch_space, concatenate, create_empty_array

from evorl.config import EnvConfig
from evorl.controllers import ControllerConfig, build_controller
from evorl.env_factory import env_spec
from evorl.env_pool import EnvPool
from evorl.errors import ConfigError
from evorl.gradient.config import PolicyConfig
from evorl.gradient.policy import RecurrentPolicy
from evorl.spaces import ObservationMap, check_action_space

OBSERVATION_SPACES = {
    "box": Box(-1.0, 1.0, (3,)),
    "box-2d": Box(0.0, 1.0, (2, 3)),
    "discrete": Discrete(4, start=2),
    "multidiscrete": MultiDiscrete([2, 3, 4]),
    "multibinary": MultiBinary((2, 2)),
    "tuple": Tuple((Discrete(2), Box(-1.0, 1.0, (2,)))),
    "dict": Dict({"card": Discrete(3), "pos": Box(0.0, 1.0, (2,)), "seen": MultiBinary(2)}),
    "nested": Tuple((Dict({"a": MultiDiscrete([2, 2])}), Discrete(3))),
}
ACTION_SPACES = {
    "discrete": Discrete(3, start=1),
    "multidiscrete": MultiDiscrete([2, 3, 4], start=[0, -1, 5]),
    "multibinary": MultiBinary(3),
    "multibinary-2d": MultiBinary((2, 2)),
    "box": Box(-2.0, 2.0, (2,)),
    "box-2d": Box(-1.0, 1.0, (2, 3)),
}


def _samples(space: gym.Space, n: int, seed: int = 0) -> list:
    space.seed(seed)
    return [space.sample() for _ in range(n)]


def _batched(space: gym.Space, samples: list):
    """What a vector env returns for these observations (Gymnasium's own batching)."""
    out = create_empty_array(space, len(samples))
    return concatenate(space, samples, out)


# --------------------------------------------------------------------------- observations


@pytest.mark.parametrize("name", OBSERVATION_SPACES)
def test_observation_rows_are_gymnasium_flatten(name):
    space = OBSERVATION_SPACES[name]
    view = ObservationMap(space)
    samples = _samples(space, 6)
    expected = np.stack([flatten(space, x) for x in samples]).astype(np.float64)
    assert view.dim == gym.spaces.flatdim(space) == expected.shape[1]
    # one env's observation (the list backend) and a vector env's batch (the native backend)
    assert np.array_equal(np.stack([view.one(x) for x in samples]), expected)
    assert np.array_equal(view.batch(_batched(space, samples)), expected)
    # and the rows are Gymnasium's flat form: unflatten gives the observation back
    for row, x in zip(expected, samples, strict=True):
        back = unflatten(space, row.astype(gym.spaces.flatten_space(space).dtype))
        assert np.array_equal(flatten(space, back), flatten(space, x))


def test_observe_selects_entries_of_the_flattened_observation():
    space = OBSERVATION_SPACES["dict"]  # card one-hot (3), pos (2), seen (2)
    view = ObservationMap(space, observe=(3, 4, 0))
    x = space.sample()
    assert view.dim == 3
    assert np.array_equal(view.one(x), flatten(space, x)[[3, 4, 0]].astype(float))
    with pytest.raises(ConfigError, match="out of range for 7"):
        ObservationMap(space, observe=(7,))


@pytest.mark.parametrize("name", ACTION_SPACES)
def test_previous_action_and_reward_are_flattened_and_zero_at_start(name):
    obs_space, act_space = OBSERVATION_SPACES["discrete"], ACTION_SPACES[name]
    view = ObservationMap(obs_space, action_space=act_space, previous_action=True,
                          previous_reward=True)  # fmt: skip
    k = gym.spaces.flatdim(act_space)
    assert view.dim == 4 + k + 1
    x = obs_space.sample()
    start = view.one(x)
    assert np.array_equal(start[4:], np.zeros(k + 1))
    actions = _samples(act_space, 5, seed=1)
    rewards = np.linspace(-1, 1, 5)
    expected = [
        np.concatenate([flatten(act_space, a), [r]]) for a, r in zip(actions, rewards, strict=True)
    ]
    rows = [view.one(x, a, r) for a, r in zip(actions, rewards, strict=True)]
    assert np.allclose(np.stack(rows)[:, 4:], np.stack(expected))
    batch = view.batch(_batched(obs_space, [x] * 5), _batched(act_space, actions), rewards)
    assert np.allclose(batch, np.stack(rows))
    assert np.array_equal(view.batch(_batched(obs_space, [x] * 5))[:, 4:], np.zeros((5, k + 1)))


@pytest.mark.parametrize("vectorization", ["sync", "native"])
def test_pool_appends_previous_action_and_clears_it_on_reset(vectorization):
    cfg = EnvConfig("CartPole-v1", vectorization=vectorization, previous_action=True,
                    previous_reward=True)  # fmt: skip
    pool = EnvPool.make(cfg, num_envs=3)
    assert pool.native == (vectorization == "native") and pool.observation_dim == 4 + 2 + 1
    obs = pool.reset(np.arange(3), np.array([1, 2, 3]))
    assert np.array_equal(obs[:, 4:], np.zeros((3, 3)))
    obs, reward, _, _ = pool.step(np.array([0, 1, 1]), np.ones(3, bool))
    assert np.array_equal(obs[:, 4:6], np.eye(2)[[0, 1, 1]])
    assert np.array_equal(obs[:, 6], reward)
    obs = pool.reset(np.array([1]), np.array([9]))
    assert np.array_equal(obs[0, 4:], np.zeros(3))
    pool.close()


def test_pool_rows_are_the_same_for_a_list_and_a_native_vector_env():
    rows = []
    for vectorization in ("sync", "native"):
        cfg = EnvConfig("CartPole-v1", vectorization=vectorization, previous_action=True)
        pool = EnvPool.make(cfg, num_envs=4)
        out = [pool.reset(np.arange(4), np.arange(4) + 10).copy()]
        for t in range(5):
            out.append(pool.step((np.arange(4) + t) % 2, np.ones(4, bool))[0].copy())
        rows.append(np.stack(out))
        pool.close()
    assert np.allclose(rows[0], rows[1])


# --------------------------------------------------------------------------- action heads


def _controller(space: gym.Space, kind: str = "lstm"):
    cfg = ControllerConfig(kind, (4,), continuous_action="clip")
    return build_controller(cfg, 3, space, seed=0)


def _logits(space: gym.Space, action) -> torch.Tensor:
    """Outputs whose mode is ``action``: Gymnasium's flat form (one-hots, 0/1) made signed."""
    return torch.as_tensor(2.0 * flatten(space, action).astype(np.float64) - 1.0)


@pytest.mark.parametrize("name", ACTION_SPACES)
def test_deterministic_head_inverts_gymnasium_flatten(name):
    space = ACTION_SPACES[name]
    head = _controller(space).head
    assert head.out_dim == gym.spaces.flatdim(space)
    actions = _samples(space, 8)
    if isinstance(space, Box):  # clip head: the outputs are the action's entries
        outputs = torch.stack([torch.as_tensor(flatten(space, a)) for a in actions])
    else:
        outputs = torch.stack([_logits(space, a) for a in actions])
    got = head(outputs).numpy()
    for row, a in zip(got, actions, strict=True):
        assert space.contains(row.astype(space.dtype))
        flat = flatten(space, a)
        assert np.array_equal(flatten(space, row.astype(space.dtype)), flat)
        assert np.array_equal(
            np.asarray(unflatten(space, flat)), np.asarray(row.astype(space.dtype))
        )


@pytest.mark.parametrize("name", ACTION_SPACES)
def test_population_path_acts_in_the_space(name):
    space = ACTION_SPACES[name]
    ctrl = _controller(space, "gru")
    flat = ctrl.get_flat().repeat(5, 1) + torch.randn(5, ctrl.num_params) * 2.0
    action, _ = ctrl.step(torch.randn(5, 3), ctrl.initial_state(5), ctrl.population_params(flat))
    assert action.shape == (5, *space.shape)
    for row in action.numpy():
        assert space.contains(np.asarray(row).astype(space.dtype))
        if not isinstance(space, Box):
            flat_row = flatten(space, np.asarray(row).astype(space.dtype))
            assert np.array_equal(unflatten(space, flat_row), row)


def _reference_log_prob(space, outputs, index):
    """log π and entropy from torch.distributions, one distribution per component."""
    if isinstance(space, MultiBinary):
        dist = torch.distributions.Bernoulli(logits=outputs)
        return dist.log_prob(index).sum(-1), dist.entropy().sum(-1)
    sizes = [space.n] if isinstance(space, Discrete) else list(space.nvec)
    index = index.reshape(len(outputs), -1)
    logp, ent = 0.0, 0.0
    for i, part in enumerate(torch.split(outputs, sizes, dim=-1)):
        dist = torch.distributions.Categorical(logits=part)
        logp, ent = logp + dist.log_prob(index[:, i]), ent + dist.entropy()
    return logp, ent


@pytest.mark.parametrize("name", ACTION_SPACES)
@torch.no_grad()
def test_stochastic_head_samples_in_the_space_with_summed_log_prob(name):
    space = ACTION_SPACES[name]
    ctrl = _controller(space)
    policy = RecurrentPolicy(ctrl, space, PolicyConfig(), seed=0).double()
    outputs = torch.randn(64, ctrl.out_dim, dtype=torch.float64, generator=torch.manual_seed(1))
    sample = policy.sample(outputs, torch.Generator().manual_seed(2))
    env_actions = policy.env_action(sample)
    assert env_actions.shape == (64, *space.shape)
    for a in env_actions:
        assert space.contains(np.asarray(a).astype(space.dtype))
    logp, entropy = policy.log_prob(outputs, sample), policy.entropy(outputs)
    assert logp.shape == entropy.shape == (64,)
    if isinstance(space, Box):
        normal = torch.distributions.Normal(policy.mean(outputs), policy.log_std.exp())
        assert torch.allclose(logp, normal.log_prob(sample).sum(-1))
        assert torch.allclose(entropy, normal.entropy().sum(-1))
        return
    ref_logp, ref_entropy = _reference_log_prob(space, outputs, sample)
    assert torch.allclose(logp, ref_logp) and torch.allclose(entropy, ref_entropy)
    # the deterministic head is the mode: very peaked outputs sample the head's action
    peaked = torch.sign(outputs) * (outputs.abs() + 1.0) * 1e6
    mode = policy.env_action(policy.sample(peaked, torch.Generator().manual_seed(3)))
    assert np.array_equal(mode, ctrl.act(peaked).numpy())


def test_stochastic_head_matches_the_env_action_of_flatten():
    """Sampled indices map to the env's actions as Gymnasium's unflatten of their one-hots."""
    space = ACTION_SPACES["multidiscrete"]
    policy = RecurrentPolicy(_controller(space), space, PolicyConfig(), seed=0)
    index = torch.tensor([[1, 2, 3], [0, 0, 0]])
    for row, a in zip(index, policy.env_action(index), strict=True):
        onehot = np.concatenate(
            [np.eye(n)[i] for n, i in zip(space.nvec, row.tolist(), strict=True)]
        )
        assert np.array_equal(unflatten(space, onehot.astype(np.int64)), a)


# --------------------------------------------------------------------------- refusals


class _OddEnv(gym.Env):
    """An env with a space evorl cannot serve (its observation or its action)."""

    def __init__(self, observation=None, action=None):
        self.observation_space = observation or Box(-1.0, 1.0, (2,))
        self.action_space = action or Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self.observation_space.sample(), {}

    def step(self, action):
        return self.observation_space.sample(), 0.0, True, False, {}


BAD = {
    "text": (gym.spaces.Text(8), None, "Text"),
    "sequence": (gym.spaces.Sequence(Discrete(2)), None, "Sequence"),
    "graph": (gym.spaces.Graph(Box(0.0, 1.0, (2,)), None), None, "Graph"),
    "tuple-of-text": (Tuple((Discrete(2), gym.spaces.Text(4))), None, "Text"),
    "tuple-action": (None, Tuple((Discrete(2), Discrete(2))), "Tuple"),
    "text-action": (None, gym.spaces.Text(4), "Text"),
}


@pytest.mark.parametrize("name", BAD)
def test_unservable_spaces_fail_in_one_line_naming_space_and_wrapper(name):
    observation, action, space_name = BAD[name]
    env_id = f"evorl-test/Odd-{name}-v0"
    if env_id not in gym.registry:
        gym.register(env_id, entry_point=_OddEnv, kwargs={"observation": observation,
                                                          "action": action})  # fmt: skip
    with pytest.raises(ConfigError) as err:
        env_spec(EnvConfig(env_id))
    message = str(err.value)
    assert "\n" not in message
    assert space_name in message and env_id in message and "env.wrappers" in message


def test_check_action_space_accepts_every_standard_action_space():
    for space in ACTION_SPACES.values():
        check_action_space(space)


def test_batched_spaces_match_gymnasium_batch_space():
    """The vector path reads what Gymnasium's batch_space describes (tuples of arrays)."""
    space = OBSERVATION_SPACES["nested"]
    samples = _samples(space, 3)
    batched = _batched(space, samples)
    assert batch_space(space, 3).contains(batched)
    assert ObservationMap(space).batch(batched).shape == (3, gym.spaces.flatdim(space))
