"""What evorl does with Gymnasium spaces — the one place where spaces are handled.

Controllers read one flat vector per environment and write one flat vector of raw outputs. This
module holds everything in between:

* :class:`ObservationMap` turns what an env (or a natively vectorised env) returns into those
  rows: the observation flattened with Gymnasium's own ``gymnasium.spaces.flatten`` (a Box of
  any shape row-major, a Discrete as one-hot, a MultiDiscrete as one one-hot per component, a
  MultiBinary as 0/1, a Tuple or Dict as its parts in order), ``env.observe`` (the selection of
  entries) applied to the flattened vector, then — memory-task conventions switched on in
  :class:`~evorl.config.EnvConfig` — the previous action (flattened the same way: one-hot for
  discrete actions) and the previous reward appended, both zero at an episode's start. It is
  built once per env pool, so every learner sees the same rows.
* :func:`check_observation_space` and :func:`check_action_space` say in one line what evorl
  cannot serve (Text, Graph, Sequence, ...) and which wrapper to use instead.
* :func:`action_components` gives the action heads their layout: one categorical per
  component of a Discrete or MultiDiscrete, Bernoulli units of a MultiBinary, the entries of a
  Box (any shape, flattened). The deterministic heads (:mod:`evorl.controllers.heads`) and the
  stochastic ones (:mod:`evorl.gradient.policy`) both read it.

Example:
    >>> import gymnasium as gym
    >>> space = gym.spaces.Box(-1.0, 1.0, (4,))
    >>> view = ObservationMap(space, observe=(0, 2))
    >>> view.dim, view.batch(np.arange(8.0).reshape(2, 4)).tolist()
    (2, [[0.0, 2.0], [4.0, 6.0]])
    >>> cards = ObservationMap(gym.spaces.Discrete(4), action_space=gym.spaces.Discrete(3),
    ...                        previous_action=True, previous_reward=True)
    >>> cards.dim, cards.one(2).tolist(), cards.one(1, action=2, reward=0.5).tolist()
    (8, [0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.5])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np
from gymnasium.spaces import Box, Dict, Discrete, MultiBinary, MultiDiscrete, Tuple
from gymnasium.spaces.utils import flatdim, flatten
from gymnasium.vector.utils import batch_space, iterate

from evorl.errors import ConfigError

if TYPE_CHECKING:
    from evorl.config import EnvConfig

OBSERVATION_SPACES = (Box, Discrete, MultiDiscrete, MultiBinary, Tuple, Dict)
"""Observation spaces evorl reads (Tuple and Dict of these, nested, too)."""
ACTION_SPACES = (Discrete, Box, MultiDiscrete, MultiBinary)
"""Action spaces evorl's heads produce."""

_ADVICE = {
    "Text": "encode the text as a Box or MultiDiscrete",
    "Sequence": "pad the sequence into a fixed-size Box",
    "Graph": "encode the graph as a fixed-size Box",
    "OneOf": "give one fixed space (a Box or Dict)",
}


def _refuse(kind: str, space: gym.Space, env_id: str, wanted: str) -> ConfigError:
    name = type(space).__name__
    how = _ADVICE.get(name, f"turn it into {wanted}")
    where = f"env '{env_id}': " if env_id else ""
    return ConfigError(
        f"{where}evorl cannot use the {kind} space {space}; add a wrapper to env.wrappers that "
        f"will {how} (gymnasium.wrappers.Transform{kind.capitalize()} or module:Class)"
    )


def check_observation_space(space: gym.Space, env_id: str = "") -> None:
    """Raise :class:`ConfigError` (one line) unless evorl can flatten ``space``."""
    if isinstance(space, Tuple | Dict):
        for part in space.spaces if isinstance(space, Tuple) else space.spaces.values():
            if not isinstance(part, OBSERVATION_SPACES):
                raise _refuse("observation", part, env_id, "a Box")
            check_observation_space(part, env_id)
    elif not isinstance(space, OBSERVATION_SPACES):
        raise _refuse("observation", space, env_id, "a Box")
    elif isinstance(space, Box) and not np.issubdtype(space.dtype, np.number):
        raise _refuse("observation", space, env_id, "a numeric Box")


def check_action_space(space: gym.Space, env_id: str = "") -> None:
    """Raise :class:`ConfigError` (one line) unless evorl's heads can produce ``space``."""
    if not isinstance(space, ACTION_SPACES):
        raise _refuse("action", space, env_id, "a Discrete, MultiDiscrete, MultiBinary or Box")


@dataclass(frozen=True)
class ActionComponents:
    """How a controller's ``size`` raw outputs map onto an action space.

    ``kind`` is ``categorical`` (Discrete, MultiDiscrete: one categorical per entry of
    ``sizes``, offset by ``start``), ``bernoulli`` (MultiBinary) or ``box`` (Box; ``shape`` is
    the env's, the outputs are its entries row-major).
    """

    kind: str
    size: int
    shape: tuple[int, ...]
    sizes: tuple[int, ...] = ()
    start: tuple[int, ...] = ()


def action_components(space: gym.Space, env_id: str = "") -> ActionComponents:
    """The output layout of ``space`` (see :class:`ActionComponents`)."""
    check_action_space(space, env_id)
    size = flatdim(space)
    if isinstance(space, Discrete):
        return ActionComponents("categorical", size, (), (int(space.n),), (int(space.start),))
    if isinstance(space, MultiDiscrete):
        if space.nvec.ndim != 1:
            raise ConfigError(f"env '{env_id}': MultiDiscrete actions must be 1-D, got {space}")
        return ActionComponents(
            "categorical",
            size,
            space.shape,
            tuple(int(n) for n in space.nvec),
            tuple(int(s) for s in space.start),
        )
    kind = "bernoulli" if isinstance(space, MultiBinary) else "box"
    return ActionComponents(kind, size, tuple(space.shape))


class ObservationMap:
    """Env observations → rows of ``dim`` floats (float64): flattened, ``observe`` applied, and
    the previous action and reward appended where asked.

    Args:
        space: The env's (single) observation space.
        observe: Indices of the flattened observation's entries to keep (``None``: all), in the
            order wanted.
        env_id: Named in error messages.
        action_space: The env's action space (needed with ``previous_action``).
        previous_action: Append the previous action, flattened (one-hot for Discrete, one
            one-hot per component for MultiDiscrete); zeros at an episode's start.
        previous_reward: Append the previous reward; 0 at an episode's start.

    Raises:
        ConfigError: A space evorl cannot read, or an index out of range.
    """

    def __init__(
        self,
        space: gym.Space,
        observe: Sequence[int] | None = None,
        env_id: str = "",
        action_space: gym.Space | None = None,
        previous_action: bool = False,
        previous_reward: bool = False,
    ) -> None:
        check_observation_space(space, env_id)
        size = flatdim(space)
        self.keep = None if observe is None else np.asarray(observe, dtype=np.intp)
        if self.keep is not None:
            if self.keep.size == 0:
                raise ConfigError("env.observe: keep at least one entry (or null for all)")
            bad = [int(i) for i in self.keep if not -size <= i < size]
            if bad:
                raise ConfigError(
                    f"env.observe: index {bad[0]} out of range for {size} (flattened) observations"
                )
        if previous_action:
            if action_space is None:
                raise ValueError("previous_action needs the action space")
            check_action_space(action_space, env_id)
        self.space, self.action_space = space, action_space
        self.obs_dim = size if self.keep is None else len(self.keep)
        self.action_dim = flatdim(action_space) if previous_action else 0
        self.reward_dim = int(previous_reward)
        self.dim = self.obs_dim + self.action_dim + self.reward_dim
        self._box = isinstance(space, Box)  # rows are a reshape: no per-row flatten

    @classmethod
    def for_env(cls, cfg: EnvConfig, space: gym.Space, action_space: gym.Space) -> ObservationMap:
        """The map a config asks for (``observe``, ``previous_action``, ``previous_reward``)."""
        return cls(
            space, cfg.observe, cfg.id, action_space, cfg.previous_action, cfg.previous_reward
        )

    @property
    def extra(self) -> bool:
        """Whether rows carry the previous action or reward (the pool must pass them)."""
        return self.action_dim + self.reward_dim > 0

    def _flat(self, obs: Any) -> np.ndarray:
        flat = np.asarray(flatten(self.space, obs), dtype=np.float64)
        return flat if self.keep is None else flat[self.keep]

    def one(self, obs: Any, action: Any = None, reward: float = 0.0) -> np.ndarray:
        """The row of one observation → (dim,); ``action=None`` marks an episode's start."""
        row = self._flat(obs)
        if not self.extra:
            return row
        parts = [row]
        if self.action_dim:
            parts.append(self._action(action))
        if self.reward_dim:
            parts.append(np.array([0.0 if action is None else float(reward)]))
        return np.concatenate(parts)

    def batch(self, obs: Any, actions: Any = None, rewards: np.ndarray | None = None) -> np.ndarray:
        """Rows of a vector env's batched observations → (B, dim).

        ``actions`` (the batch as the env took it) and ``rewards`` (B,) fill the previous
        action and reward; ``None`` gives zeros (every row at an episode's start).
        """
        if self._box:
            obs = np.asarray(obs)
            rows = obs.reshape(len(obs), -1)  # == flatten() row by row (tested)
            rows = rows if self.keep is None else rows[:, self.keep]
        else:
            n = len(obs) if not isinstance(obs, tuple | dict) else _batch_len(obs)
            spaces = batch_space(self.space, n)
            rows = np.stack([self._flat(o) for o in iterate(spaces, obs)])
        if not self.extra:
            return rows
        parts = [np.asarray(rows, dtype=np.float64)]
        if self.action_dim:
            if actions is None:
                parts.append(np.zeros((len(rows), self.action_dim)))
            else:
                spaces = batch_space(self.action_space, len(rows))
                parts.append(np.stack([self._action(a) for a in iterate(spaces, actions)]))
        if self.reward_dim:
            r = np.zeros(len(rows)) if rewards is None else np.asarray(rewards, np.float64)
            parts.append(r.reshape(-1, 1))
        return np.concatenate(parts, axis=1)

    def _action(self, action: Any) -> np.ndarray:
        if action is None:
            return np.zeros(self.action_dim)
        return np.asarray(flatten(self.action_space, action), dtype=np.float64)


def _batch_len(obs: tuple | dict) -> int:
    first = next(iter(obs.values() if isinstance(obs, dict) else obs))
    return len(first) if not isinstance(first, tuple | dict) else _batch_len(first)
