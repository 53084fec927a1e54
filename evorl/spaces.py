"""What evorl does with Gymnasium spaces: observations become flat float64 rows.

Controllers read one flat vector per environment. :class:`ObservationMap` turns what an env (or a
natively vectorised env) returns into those rows — applying ``env.observe``, the selection of
observation entries — and is built once per env pool, so the selection happens in one place.

Example:
    >>> import gymnasium as gym
    >>> space = gym.spaces.Box(-1.0, 1.0, (4,))
    >>> view = ObservationMap(space, observe=(0, 2))
    >>> view.dim, view.batch(np.arange(8.0).reshape(2, 4)).tolist()
    (2, [[0.0, 2.0], [4.0, 6.0]])
"""

from __future__ import annotations

from collections.abc import Sequence

import gymnasium as gym
import numpy as np

from evorl.errors import ConfigError


class ObservationMap:
    """Env observations → rows of ``dim`` floats (float64), with ``observe`` applied.

    Args:
        space: The env's (single) observation space.
        observe: Indices of the entries to keep (``None``: all), in the order wanted.
        env_id: Named in error messages.

    Raises:
        ConfigError: A space evorl controllers cannot read, or an index out of range.
    """

    def __init__(
        self, space: gym.Space, observe: Sequence[int] | None = None, env_id: str = ""
    ) -> None:
        if not isinstance(space, gym.spaces.Box) or len(space.shape) != 1:
            raise ConfigError(
                f"env '{env_id}': evorl controllers need a flat Box observation, got {space}"
            )
        size = int(space.shape[0])
        self.keep = None if observe is None else np.asarray(observe, dtype=np.intp)
        if self.keep is not None:
            if self.keep.size == 0:
                raise ConfigError("env.observe: keep at least one entry (or null for all)")
            bad = [int(i) for i in self.keep if not -size <= i < size]
            if bad:
                raise ConfigError(
                    f"env.observe: index {bad[0]} out of range for {size} observations"
                )
        self.space = space
        self.dim = size if self.keep is None else len(self.keep)

    def batch(self, obs: np.ndarray) -> np.ndarray:
        """Rows of a batch of observations (B, ...) → (B, dim)."""
        obs = np.asarray(obs)
        return obs if self.keep is None else obs[:, self.keep]

    def one(self, obs: np.ndarray) -> np.ndarray:
        """The row of one observation → (dim,)."""
        obs = np.asarray(obs)
        return obs if self.keep is None else obs[self.keep]
