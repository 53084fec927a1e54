"""The env pool: ``num_envs`` environments reset slot by slot with explicit seeds, stepped together.

Every part of evorl that steps environments — the evaluators of evolution, the collectors of
gradient training, the tests of the pole benchmark — steps an :class:`EnvPool`. It has two
backends behind one interface:

* a **native vector env** (:func:`evorl.env_factory.native_vector_env`: one numpy array for all
  envs), stepped as a whole; finished sub-envs are frozen by the vector env's conventions;
* a **list of Gymnasium envs** (any env, MuJoCo and Box2D included), where only the active slots
  are stepped: a population's episodes end at different times, and stepping a finished MuJoCo
  env costs as much as stepping a live one. (Gymnasium's ``SyncVectorEnv`` would step them all.)
  Where ``gym.make``'s own wrappers are all an env has, the env under them is stepped and the
  pool applies the time limit itself (see :func:`_bare`).

Both give the trajectory that ``gymnasium.make(id)`` gives for the same seed and actions, with
autoreset disabled: finished slots are reset by the caller, with seeds it chose. Observations
of any space evorl reads are turned into controller rows — flattened, ``env.observe`` applied,
the previous action and reward appended where the config asks (zero at each reset) — here and
nowhere else, by the pool's :class:`~evorl.spaces.ObservationMap`. Inactive slots report reward
0 and no flags.

A pool can be checkpointed mid-episode (:meth:`EnvPool.state_dict`): a native vector env is
pickled; a list's envs are reset with their seed and replayed through the actions they took
since (``replayable=True`` records them), which a check compares against the saved observations.

Example:
    >>> from evorl.config import EnvConfig
    >>> pool = EnvPool.make(EnvConfig("CartPole-v1", observe=(0, 2)), num_envs=4)
    >>> pool.reset(np.arange(4), np.array([1, 2, 3, 4])).shape
    (4, 2)
    >>> obs, reward, terminated, truncated = pool.step(np.ones(4, np.int64), np.ones(4, bool))
    >>> reward.tolist()
    [1.0, 1.0, 1.0, 1.0]
"""

from __future__ import annotations

import pickle
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import VectorEnv
from gymnasium.wrappers import OrderEnforcing, PassiveEnvChecker, TimeLimit

from evorl.config import EnvConfig
from evorl.env_factory import make_env, native_vector_env
from evorl.errors import ConfigError
from evorl.spaces import ObservationMap


class EnvPool:
    """Environments stepped together; see the module docstring.

    Args:
        envs: A list of Gymnasium envs (the list backend), or
        vector: a native vector env with autoreset disabled (the vector backend).
        observe: ``env.observe``, the observation entries to keep.
        view: The observation map (instead of ``observe``): built by :meth:`make` from the
            config, with the previous action and reward where asked.
        replayable: Record each slot's actions since its reset, for :meth:`state_dict` (list
            backend; a native env is pickled instead).
        env_id: Named in error messages.
    """

    def __init__(
        self,
        envs: list[gym.Env] | None = None,
        vector: VectorEnv | None = None,
        observe: tuple[int, ...] | None = None,
        replayable: bool = False,
        env_id: str = "",
        view: ObservationMap | None = None,
    ) -> None:
        if (envs is None) == (vector is None):
            raise ValueError("EnvPool takes a list of envs or a vector env")
        self.envs, self.vector = envs, vector
        if vector is not None:
            self.num_envs = vector.num_envs
            space, action_space = vector.single_observation_space, vector.single_action_space
        else:
            self.num_envs = len(envs)
            space, action_space = envs[0].observation_space, envs[0].action_space
        self.observation = view if view is not None else ObservationMap(space, observe, env_id)
        self.observation_dim = self.observation.dim
        self._discrete = isinstance(action_space, gym.spaces.Discrete)
        self._extra = self.observation.extra
        # Box observations without extras: the list backend's rows are one reshape
        self._plain = isinstance(space, gym.spaces.Box) and not self._extra
        self._concat = self._plain and len(space.shape) > 0
        self.obs = np.zeros((self.num_envs, self.observation_dim))
        self._log: list[tuple[int, list[np.ndarray]] | None] | None = None
        self._rows_of: np.ndarray | None = None  # the action buffer whose rows are cached
        self._rows: list[np.ndarray] = []
        if replayable and envs is not None:
            self._log = [None] * self.num_envs
        # The list backend steps the envs under gym.make's own wrappers (see _bare) and keeps
        # their time limit here; the first step goes through the wrappers, so that Gymnasium's
        # env checker still checks it.
        self._stepped: list[gym.Env] | None = envs
        self._bare, self._limit = _bare(envs) if envs is not None else (None, None)
        self._elapsed = np.zeros(self.num_envs, np.int64)

    @classmethod
    def make(
        cls,
        cfg: EnvConfig,
        num_envs: int,
        render_mode: str | None = None,
        replayable: bool = False,
    ) -> EnvPool:
        """A pool of ``num_envs`` envs as configured: native where ``cfg.vectorization`` allows
        and a native version exists (never when rendering, nor with ``env.wrappers``, which wrap
        single envs), else a list."""
        vector = None
        if cfg.vectorization != "sync" and render_mode is None and not cfg.wrappers:
            vector = native_vector_env(cfg, num_envs)
            if vector is None and cfg.vectorization == "native":
                raise ConfigError(f"env '{cfg.id}' has no native vectorised version; use sync")
        if vector is not None:
            view = ObservationMap.for_env(
                cfg, vector.single_observation_space, vector.single_action_space
            )
            return cls(vector=vector, view=view, env_id=cfg.id)
        envs = [make_env(cfg, render_mode) for _ in range(num_envs)]
        view = ObservationMap.for_env(cfg, envs[0].observation_space, envs[0].action_space)
        return cls(envs, replayable=replayable, env_id=cfg.id, view=view)

    @property
    def native(self) -> bool:
        """Whether the pool steps a native vector env."""
        return self.vector is not None

    # ----------------------------------------------------------------- stepping
    def reset(self, slots: np.ndarray, seeds: np.ndarray) -> np.ndarray:
        """Reset ``slots`` with ``seeds``; returns their observation rows (len(slots), dim)."""
        slots = np.asarray(slots, dtype=np.intp)
        if self.vector is not None:
            mask = np.zeros(self.num_envs, bool)
            mask[slots] = True
            seed_list: list[int | None] = [None] * self.num_envs
            for slot, seed in zip(slots, seeds, strict=True):
                seed_list[slot] = int(seed)
            obs, _ = self.vector.reset(seed=seed_list, options={"reset_mask": mask})
            self.obs[slots] = self.observation.batch(obs)[slots]
            return self.obs[slots]
        self._elapsed[slots] = 0
        for slot, seed in zip(slots, seeds, strict=True):
            obs, _ = self.envs[slot].reset(seed=int(seed))
            self.obs[slot] = self.observation.one(obs)  # no previous action: zeros
            if self._log is not None:
                self._log[slot] = (int(seed), [])
        return self.obs[slots]

    def step(
        self, actions: np.ndarray, active: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Step the ``active`` slots (a native env steps all; finished sub-envs stay frozen).

        Returns:
            ``obs`` (num_envs, dim), the pool's own buffer (copy what you keep), and new arrays
            ``reward`` (float64), ``terminated``, ``truncated`` (num_envs,); inactive slots
            report 0 and False.
        """
        if self.vector is not None:
            obs, reward, terminated, truncated, _ = self.vector.step(actions)
            if self._extra:
                self.obs[:] = self.observation.batch(obs, actions, reward)
            else:
                self.obs[:] = self.observation.batch(obs)
            reward = np.where(active, np.asarray(reward, dtype=np.float64), 0.0)
            return self.obs, reward, np.asarray(terminated) & active, np.asarray(truncated) & active
        n = self.num_envs
        reward, terminated, truncated = np.zeros(n), np.zeros(n, bool), np.zeros(n, bool)
        count = np.count_nonzero(active)
        if count == 0:
            return self.obs, reward, terminated, truncated
        envs, self._stepped = self._stepped, self._bare or self.envs
        if not self._plain:
            for i in np.flatnonzero(active):
                action = int(actions[i]) if self._discrete else actions[i]
                obs, reward[i], terminated[i], truncated[i], _ = envs[i].step(action)
                if self._extra:
                    self.obs[i] = self.observation.one(obs, action, reward[i])
                else:
                    self.obs[i] = self.observation.one(obs)
                if self._log is not None:
                    self._log[i][1].append(np.array(actions[i], copy=True))
            return self.obs, reward, terminated, self._time_limit(truncated, active)
        # The envs' own step is the limit here: one list comprehension over them, and the
        # results turned into arrays once (per-element numpy writes cost ~10% of a
        # Pendulum step).
        slots = range(n) if count == n else np.flatnonzero(active).tolist()
        acts = self._action_list(actions)
        results = [envs[i].step(acts[i]) for i in slots]
        obs, rewards, terms, truncs, _ = zip(*results, strict=True)
        index = slice(None) if count == n else slots
        # concatenate: a third of np.stack's time on small arrays (same rows for ndim >= 1)
        rows = np.concatenate(obs) if self._concat else np.stack(obs)
        self.obs[index] = self.observation.batch(rows.reshape(count, -1))
        reward[index] = rewards
        if any(terms):  # the flags are mostly all False: any() is cheaper than a conversion
            terminated[index] = terms
        if any(truncs):
            truncated[index] = truncs
        if self._log is not None:
            for i in slots:
                self._log[i][1].append(np.array(actions[i], copy=True))
        return self.obs, reward, terminated, self._time_limit(truncated, active)

    def _time_limit(self, truncated: np.ndarray, active: np.ndarray) -> np.ndarray:
        """``truncated`` or'ed with TimeLimit's rule (``elapsed >= max_episode_steps``) for
        the active slots, whose step counts advance by one."""
        if self._limit is None:
            return truncated
        self._elapsed += active
        return truncated | (active & (self._elapsed >= self._limit))

    def _action_list(self, actions: np.ndarray) -> list:
        """Each env's action as its ``step`` takes it: a Python int (Discrete) or the row of
        ``actions`` (a view, as ``actions[i]``). The rows of the caller's reused action buffer
        are made once."""
        if self._discrete:
            return actions.tolist() if actions.dtype.kind in "iu" else [int(a) for a in actions]
        if actions is not self._rows_of:
            self._rows_of, self._rows = actions, list(actions)
        return self._rows

    def render(self) -> np.ndarray:
        """The first env's frame (list backend, made with a ``render_mode``)."""
        if self.envs is None:
            raise ValueError("render needs a pool made with render_mode")
        return self.envs[0].render()

    # ----------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue every slot's episode exactly."""
        if self.vector is not None:
            return {"pickle": pickle.dumps(self.vector), "obs": self.obs.copy()}
        if self._log is None:
            raise ValueError("this pool does not record actions: make it with replayable=True")
        log = [None if e is None else (e[0], np.array(e[1])) for e in self._log]
        return {"replay": log, "obs": self.obs.copy()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`: unpickle, or reset and replay each slot's actions."""
        if "pickle" in state:
            self.vector.close()
            self.vector = pickle.loads(state["pickle"])
        else:
            for slot, entry in enumerate(state["replay"]):
                if entry is None:
                    continue
                seed, actions = entry
                self.reset(np.array([slot]), np.array([seed]))
                active = np.arange(self.num_envs) == slot
                for action in actions:
                    self.step(np.array([action] * self.num_envs), active)
            if not np.array_equal(self.obs, state["obs"]):
                raise RuntimeError("replaying the environments did not reproduce their state")
        self.obs = state["obs"].copy()

    def close(self) -> None:
        """Close every env."""
        if self.vector is not None:
            self.vector.close()
        for env in self.envs or ():
            env.close()


_MAKE_WRAPPERS = (TimeLimit, OrderEnforcing, PassiveEnvChecker)


def _bare(envs: list[gym.Env]) -> tuple[list[gym.Env] | None, int | None]:
    """The envs under ``gym.make``'s own wrappers, and their time limit.

    ``TimeLimit``, ``OrderEnforcing`` and ``PassiveEnvChecker`` do nothing to a step but count
    it, check the order of calls and check the first step; together they cost ~1 µs a step
    (5-8% of a Pendulum step). Stepping the env under them, with the pool counting steps and
    truncating as ``TimeLimit`` does, gives the same results. Any other wrapper (a user's,
    ``env.wrappers``) keeps the envs stepped as they are: ``(None, None)``.
    """
    bare, limits = [], set()
    for env in envs:
        limit = None
        while isinstance(env, gym.Wrapper):
            if type(env) not in _MAKE_WRAPPERS:
                return None, None
            if isinstance(env, TimeLimit):
                steps = env._max_episode_steps
                limit = steps if limit is None else min(limit, steps)
            env = env.env
        bare.append(env)
        limits.add(limit)
    if len(limits) != 1:  # envs made differently: step them as they are
        return None, None
    return bare, limits.pop()


def make_pool(cfg: EnvConfig, num_envs: int, replayable: bool = False) -> EnvPool:
    """:meth:`EnvPool.make` (the name the evaluators and collectors use)."""
    return EnvPool.make(cfg, num_envs, replayable=replayable)
