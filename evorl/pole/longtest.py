"""Tests of pole-balancing controllers: the 100,000-step balance test and generalisation.

The literature's two tests of a solution (Gomez, Schmidhuber & Miikkulainen, JMLR 9, 2008,
after Wieland 1991 and Gruau, Whitley & Pyeatt 1996): balancing ``TEST_STEPS`` steps from the
standard start state, and Gruau et al.'s generalisation score (the 625 start states balanced for
1,000 steps). :class:`LongTest` advances many controllers' balance tests together, in chunks,
bit-identical to running each straight through.

Example:
    >>> steps = balance_steps(controller, params, env_cfg, TEST_STEPS)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from evorl.config import ConfigError, EnvConfig
from evorl.controllers import Controller
from evorl.evaluation.obs_norm import ObsNormalizer
from evorl.spaces import ObservationMap

TRAINING_STEPS = 1000
"""Episode length of an evaluation (the registered pole envs' time limit)."""
TEST_STEPS = 100_000
"""Steps of the long balance test from the standard start state (the literature's "solved")."""


def _test_env_kwargs(env_cfg: EnvConfig) -> dict[str, Any]:
    kwargs = dict(env_cfg.kwargs)
    kwargs.pop("damping_fitness", None)
    kwargs.pop("render_mode", None)
    return kwargs


def pole_vector_env(env_cfg: EnvConfig, num_envs: int, steps: int) -> Any:
    """The run's pole env, vectorised, without damping reward, limited to ``steps`` steps.

    Raises:
        ConfigError: ``env_cfg`` is not an ``evorl/*Pole*`` env.
    """
    import gymnasium as gym

    import evorl.envs  # noqa: F401  (registers the pole envs)
    from evorl.envs.pole_vector import PoleBalancingVectorEnv

    spec = gym.registry.get(env_cfg.id)
    if spec is None or not str(spec.vector_entry_point).endswith(":PoleBalancingVectorEnv"):
        raise ConfigError(f"the pole protocol needs an evorl/*Pole* env, got '{env_cfg.id}'")
    env = gym.make_vec(
        env_cfg.id,
        num_envs,
        vectorization_mode="vector_entry_point",
        max_episode_steps=steps,
        **_test_env_kwargs(env_cfg),
    )
    assert isinstance(env, PoleBalancingVectorEnv)
    return env


def _as_input(
    obs: np.ndarray, view: ObservationMap, normalizer: ObsNormalizer | None
) -> torch.Tensor:
    """What the rollout feeds the controller: the run's rows, normalised in float64, float32."""
    x = view.batch(np.asarray(obs, dtype=np.float64))
    if normalizer is not None:
        x = normalizer(x)
    return torch.from_numpy(x.astype(np.float32))


@dataclass
class _Entry:
    """One controller under the long test, resumable between chunks."""

    tag: Any
    params: np.ndarray
    y: np.ndarray
    state: tuple[torch.Tensor, ...]
    steps: int = 0
    failed: bool = False


class LongTest:
    """Controllers balancing from the start state for ``steps`` steps, advanced in chunks.

    Entries join at any time and all pending ones advance together, as one batch of a
    :class:`~evorl.envs.pole_vector.PoleBalancingVectorEnv` and of the controller's batched
    ``step``. Between chunks an entry keeps its physical state (float64) and its recurrent state,
    so a test advanced in chunks is bit-identical to one run straight through.

    Args:
        controller: Any controller of the runs' architecture (population mode only).
        env_cfg: The runs' env config.
        steps: Steps to balance (100,000).
        normalizer: Frozen observation normaliser, if the runs use one.
    """

    def __init__(
        self,
        controller: Controller,
        env_cfg: EnvConfig,
        steps: int,
        normalizer: ObsNormalizer | None = None,
    ) -> None:
        self.controller = controller
        self.env_cfg = env_cfg
        self.steps = steps
        self.normalizer = normalizer
        probe = pole_vector_env(env_cfg, 1, 1)
        self.start = probe.initial_state.copy()
        self.view = ObservationMap(probe.single_observation_space, env_cfg.observe, env_cfg.id)
        self.entries: list[_Entry] = []

    def add(self, params: np.ndarray, tag: Any = None) -> None:
        """Queue one controller (flat parameters) for the test."""
        params = np.asarray(params, np.float64)
        self.entries.append(_Entry(tag, params, self.start, self.controller.initial_state(1)))

    def discard(self, keep: Callable[[Any], bool]) -> None:
        """Drop the pending entries whose tag fails ``keep``."""
        self.entries = [e for e in self.entries if keep(e.tag)]

    def advance(self, max_steps: int | None = None) -> list[tuple[Any, bool, int]]:
        """Run every pending entry for up to ``max_steps`` more steps (default: to the end).

        Returns:
            ``(tag, passed, balanced_steps)`` of each entry that finished, in the order added.
        """
        if not self.entries:
            return []
        todo = max(self.steps - e.steps for e in self.entries)
        chunk = todo if max_steps is None else min(max_steps, todo)
        entries = self.entries
        env = pole_vector_env(self.env_cfg, len(entries), chunk)
        obs, _ = env.reset(options={"state": np.stack([e.y for e in entries])})
        flat = torch.as_tensor(np.stack([e.params for e in entries]), dtype=torch.float32)
        weights = self.controller.population_params(flat)
        state = tuple(torch.cat(parts) for parts in zip(*(e.state for e in entries), strict=True))
        done = np.zeros(len(entries), dtype=np.bool_)
        with torch.no_grad():
            while not done.all():
                action, state = self.controller.step(
                    _as_input(obs, self.view, self.normalizer), state, weights
                )
                obs, _, terminated, truncated, _ = env.step(action.numpy())
                done = terminated | truncated
        balanced = env.balanced_steps
        finished, pending = [], []
        for i, e in enumerate(entries):
            e.steps += int(balanced[i])
            e.failed = bool(terminated[i])
            if e.steps >= self.steps or e.failed:
                finished.append((e.tag, e.steps >= self.steps, min(e.steps, self.steps)))
            else:
                e.y = env.state[:, i].copy()
                e.state = tuple(s[i : i + 1].clone() for s in state)
                pending.append(e)
        self.entries = pending
        return finished


def balance_steps(
    controller: Controller,
    params: np.ndarray,
    env_cfg: EnvConfig,
    steps: int,
    normalizer: ObsNormalizer | None = None,
) -> np.ndarray:
    """Steps each controller balances from the env's start state, up to ``steps``.

    Args:
        controller: The run's controller (population mode).
        params: ``(K, D)`` flat parameters.
        env_cfg: The run's env config (an ``evorl/*Pole*`` id).
        steps: Episode limit (100,000 for the standard test).
        normalizer: The run's frozen observation normaliser, if any.

    Returns:
        ``(K,)`` balanced steps; ``steps`` means passed.
    """
    test = LongTest(controller, env_cfg, steps, normalizer)
    for k, p in enumerate(np.atleast_2d(np.asarray(params))):
        test.add(p, k)
    out = dict((tag, n) for tag, _, n in test.advance())
    return np.array([out[k] for k in range(len(out))], dtype=np.int64)


def generalization(
    controller: Controller,
    params: np.ndarray,
    env_cfg: EnvConfig,
    normalizer: ObsNormalizer | None = None,
) -> int:
    """Gruau et al.'s generalisation score (0-625) of one controller on the run's pole task."""
    from evorl.envs.pole_vector import generalization_score, generalization_states

    probe = pole_vector_env(env_cfg, 1, TRAINING_STEPS)
    view = ObservationMap(probe.single_observation_space, env_cfg.observe, env_cfg.id)
    n = len(generalization_states(probe.num_poles))
    flat = torch.as_tensor(np.asarray(params), dtype=torch.float32).reshape(1, -1)
    weights = controller.population_params(flat.repeat(n, 1))

    def policy(obs: np.ndarray, state: Any) -> tuple[np.ndarray, Any]:
        action, state = controller.step(_as_input(obs, view, normalizer), state, weights)
        return action.numpy(), state

    with torch.no_grad():
        return generalization_score(
            policy,
            controller.initial_state(n),
            num_poles=probe.num_poles,
            markov=probe.markov,
            scale_obs=_test_env_kwargs(env_cfg).get("scale_obs", True),
        )
