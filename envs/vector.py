"""Shared mechanics of evorl's natively vectorised environments.

A native vector env keeps the state of all its sub-environments in one float64 array of shape
``(state_dim, num_envs)`` and advances them with a handful of numpy operations, instead of looping
over Python env objects like :class:`gymnasium.vector.SyncVectorEnv`. Every native vector env
follows the same conventions, so an evaluator can treat them alike:

* **Autoreset disabled** (``metadata["autoreset_mode"] = AutoresetMode.DISABLED``): the caller
  decides when to reset, with ``reset(options={"reset_mask": mask})``.
* **Per-env seeding exactly as SyncVectorEnv**: ``seed`` is ``None``, an int ``s`` (meaning
  ``[s, s + 1, ...]``) or a list of ``num_envs`` ints/``None``. Each sub-env owns a
  :class:`numpy.random.Generator` made by :func:`gymnasium.utils.seeding.np_random`, re-created
  when that sub-env gets a seed and kept (continuing its stream) when it gets ``None`` — the same
  as ``Env.reset(seed=...)`` of the single env, so sub-env ``i`` reset with seed ``s`` starts where
  ``gym.make(env_id).reset(seed=s)`` starts.
* **Stepping a finished sub-env is harmless**: once a sub-env has terminated or been truncated it
  is *frozen* until reset: its state and observation stay as at its final step, its reward is 0,
  its step counter stops, and ``terminated`` / ``truncated`` keep the values of its final step.
  No exception, no warning.

Example:
    >>> from evorl.envs.cartpole_vector import CartPoleVectorEnv
    >>> import numpy as np
    >>> envs = CartPoleVectorEnv(num_envs=4)
    >>> obs, _ = envs.reset(seed=[1, 2, 3, 4])
    >>> obs, reward, terminated, truncated, _ = envs.step(np.ones(4, dtype=np.int64))
    >>> done = np.array([True, False, False, False])  # say the first episode ended
    >>> obs, _ = envs.reset(seed=[7, None, None, None], options={"reset_mask": done})
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv

SeedArg = int | Sequence[int | None] | None
"""Seed argument of a vector ``reset``: None, an int ``s`` (→ ``[s, s+1, ...]``) or a list."""


def env_seeds(seed: SeedArg, num_envs: int) -> list[int | None]:
    """Expands a vector ``reset`` seed argument into one seed per sub-env (SyncVectorEnv's rule).

    Args:
        seed: ``None`` (no seeding), an int ``s`` meaning ``[s, s + 1, ..., s + num_envs - 1]``,
            or a sequence of ``num_envs`` ints or ``None``.
        num_envs: Number of sub-environments.

    Returns:
        A list of ``num_envs`` seeds.

    Raises:
        ValueError: A sequence of the wrong length.
    """
    if seed is None:
        return [None] * num_envs
    if isinstance(seed, int | np.integer):
        return [int(seed) + i for i in range(num_envs)]
    seeds = [None if s is None else int(s) for s in seed]
    if len(seeds) != num_envs:
        raise ValueError(f"expected {num_envs} seeds, got {len(seeds)}")
    return seeds


def reset_mask(options: Mapping[str, Any] | None, num_envs: int) -> np.ndarray:
    """Reads ``options["reset_mask"]`` (all True when absent), validated like SyncVectorEnv.

    Args:
        options: The ``options`` passed to a vector ``reset``.
        num_envs: Number of sub-environments.

    Returns:
        A boolean array of shape ``(num_envs,)``.

    Raises:
        TypeError: The mask is not a boolean numpy array.
        ValueError: The mask has the wrong shape or selects no sub-env.
    """
    if options is None or "reset_mask" not in options:
        return np.ones(num_envs, dtype=np.bool_)
    mask = options["reset_mask"]
    if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_:
        raise TypeError("options['reset_mask'] must be a numpy array of dtype bool")
    if mask.shape != (num_envs,):
        raise ValueError(f"options['reset_mask'] must have shape ({num_envs},), got {mask.shape}")
    if not mask.any():
        raise ValueError("options['reset_mask'] must select at least one sub-env")
    return mask


class NativeVectorEnv(VectorEnv):
    """Base class: per-env RNGs, masked resets, step counting, truncation and freezing.

    Subclasses set the spaces, implement :meth:`_initial_state` (one sub-env's start state from its
    RNG), :meth:`_terminated` and :meth:`_observe`, and write ``step`` as: compute the candidate
    next state of every sub-env with numpy, then call :meth:`_commit`, which freezes finished
    sub-envs, stores the state and returns the flags.

    Attributes:
        state: float64 array ``(state_dim, num_envs)``, one column per sub-env.
        max_episode_steps: Truncation limit; ``truncated`` becomes True at that many steps.
    """

    metadata: ClassVar[dict[str, Any]] = {
        "autoreset_mode": AutoresetMode.DISABLED,
        "render_modes": ["rgb_array"],
        "render_fps": 50,
    }

    def __init__(
        self,
        num_envs: int,
        state_dim: int,
        max_episode_steps: int,
        render_mode: str | None = None,
    ) -> None:
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise ValueError(f"unsupported render_mode {render_mode!r}")
        self.num_envs = num_envs
        self.max_episode_steps = int(max_episode_steps)
        self.render_mode = render_mode
        self.state = np.zeros((state_dim, num_envs), dtype=np.float64)
        self._rngs: list[np.random.Generator | None] = [None] * num_envs
        self._steps = np.zeros(num_envs, dtype=np.int64)
        self._done = np.zeros(num_envs, dtype=np.bool_)
        self._any_done = False

    @property
    def episode_steps(self) -> np.ndarray:
        """Steps taken by each sub-env since its last reset (a copy)."""
        return self._steps.copy()

    @property
    def done(self) -> np.ndarray:
        """Which sub-envs have terminated or been truncated (and are frozen), a copy."""
        return self._done.copy()

    def reset(
        self, *, seed: SeedArg = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Resets the sub-envs selected by ``options["reset_mask"]`` (all when absent).

        Args:
            seed: Per-env seeds, see :func:`env_seeds`; entries of unmasked sub-envs are ignored.
            options: ``reset_mask`` plus env-specific options, passed on to
                :meth:`_initial_state`.

        Returns:
            The observations of all sub-envs (unmasked ones unchanged) and an empty info dict.
        """
        seeds = env_seeds(seed, self.num_envs)
        mask = reset_mask(options, self.num_envs)
        for i in np.flatnonzero(mask):
            rng = self._rngs[i]
            if seeds[i] is not None or rng is None:
                rng, _ = seeding.np_random(seeds[i])
                self._rngs[i] = rng
            self.state[:, i] = self._initial_state(int(i), rng, options or {})
        self._steps[mask] = 0
        self._done[mask] = False
        self._any_done = np.count_nonzero(self._done) > 0  # cheaper than any() on small arrays
        self._after_reset(mask)
        return self._observe(), {}

    def _commit(self, new_state: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Stores ``new_state`` except for frozen sub-envs and updates counters and flags.

        Termination is a function of the state alone (:meth:`_terminated`), so a frozen sub-env
        keeps reporting the ``terminated`` value of its final step.

        Args:
            new_state: Candidate next state ``(state_dim, num_envs)``; modified in place.

        Returns:
            ``(terminated, truncated, active)``, where ``active`` marks the sub-envs that were
            running before this step (the only ones that moved).
        """
        done = self._done
        active = ~done
        if self._any_done:
            new_state[:, done] = self.state[:, done]
        self.state = new_state
        terminated = self._terminated(new_state)
        self._steps += active
        truncated = self._steps >= self.max_episode_steps
        self._done = terminated | truncated
        self._any_done = np.count_nonzero(self._done) > 0  # cheaper than any() on small arrays
        return terminated, truncated, active

    def _initial_state(
        self, index: int, rng: np.random.Generator, options: Mapping[str, Any]
    ) -> np.ndarray:
        """One sub-env's start state (``state_dim`` floats); override."""
        raise NotImplementedError

    def _after_reset(self, mask: np.ndarray) -> None:
        """Hook for extra per-env bookkeeping after a masked reset."""

    def _terminated(self, state: np.ndarray) -> np.ndarray:
        """Termination flags ``(num_envs,)`` of a state; override."""
        raise NotImplementedError

    def _observe(self) -> np.ndarray:
        """Batched observation ``(num_envs, obs_dim)`` of the current state; override."""
        raise NotImplementedError
