"""Configuration of a gradient run (``evorl train``): frozen dataclasses, presets, overrides.

A gradient run is described by one :class:`GradientConfig`. It shares the ``env`` and
``controller`` sections with evolution's :class:`~evorl.config.RunConfig` (the same controller is
trained either way) and is parsed by the same strict machinery (:func:`evorl.config.from_dict`,
``--key=value`` overrides, one-line :class:`~evorl.config.ConfigError`). Its ``kind: gradient``
marker is written to the run directory's ``config.yaml`` so that tools can tell what made a run.

Example:
    >>> cfg = load_gradient_config("tmaze-10", ["--algo=rpg", "--seed=3"])
    >>> cfg.kind, cfg.algo, cfg.env.kwargs["corridor_length"]
    ('gradient', 'rpg', 10)
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from evorl.config import (
    ConfigError,
    EnvConfig,
    apply_overrides,
    from_dict,
    read_source,
    to_dict,
)
from evorl.config_io import DEVICE, NAME, check_fields, spec
from evorl.controllers.config import ControllerConfig

PRESET_DIR = Path(__file__).parent / "presets"
KIND = "gradient"
ALGOS = ("ppo", "rpg")


@dataclass(frozen=True)
class PolicyConfig:
    """The stochastic policy and value head around the controller."""

    log_std_init: float = -0.5
    """Box actions: initial log standard deviation of the Gaussian (learned, state-independent)."""
    readout_scale: float | None = spec(0.01, gt=0)
    """Multiply the controller's readout weights by this at initialisation, so the first policy
    is near-uniform (discrete) or near the action centre (Gaussian) — the small policy-head
    init of PPO implementations. ``null`` keeps the controller's own init. Not applied to a
    policy loaded with ``--init-from``."""
    value_from: str = spec("state", choices=("state", "obs"))
    """Features of the value head: ``state`` (the controller's top-layer hidden state after the
    step — a history-dependent baseline) or ``obs`` (the observation only)."""

    def __post_init__(self) -> None:
        check_fields(self, "policy")


@dataclass(frozen=True)
class OptimConfig:
    """Adam with global-norm gradient clipping (the learning rate is per algorithm: ``rpg.lr``,
    ``ppo.lr``, as the two take very different numbers of steps per sample)."""

    eps: float = spec(1e-5, gt=0)
    """Adam epsilon."""
    max_grad_norm: float | None = spec(0.5, gt=0)
    """Clip the gradient's global norm to this (``null``: no clipping)."""

    def __post_init__(self) -> None:
        check_fields(self, "optim")


@dataclass(frozen=True)
class RPGConfig:
    """Recurrent policy gradients (Wierstra et al. 2007/2010): REINFORCE through the LSTM."""

    lr: float = spec(3e-3, gt=0)
    """Adam learning rate (one step per batch of episodes)."""
    episodes: int = spec(16, ge=1)
    """Whole episodes per update (all run side by side in a vector env)."""
    window: int | None = spec(None, ge=1)
    """Truncated BPTT: backpropagate through windows of this many steps (state carried forward
    but detached between windows); ``null`` backpropagates through whole episodes."""
    baseline: bool = True
    """Subtract the value head's history-dependent baseline b(h_t) from the returns."""
    normalize_advantages: bool = False
    """Standardise (return - baseline) over the batch (changes the gradient's scale only)."""
    value_coef: float = spec(0.5, ge=0)
    """Weight of the value head's squared error in the loss."""
    entropy_coef: float = spec(0.0, ge=0)
    """Weight of the entropy bonus."""

    def __post_init__(self) -> None:
        check_fields(self, "rpg")


@dataclass(frozen=True)
class PPOConfig:
    """Recurrent PPO (Schulman et al. 2017) with GAE (Schulman et al. 2016)."""

    lr: float = spec(1e-3, gt=0)
    """Adam learning rate (``epochs × minibatches`` steps per rollout)."""
    num_envs: int = spec(8, ge=1)
    """Environments stepped side by side; episodes continue across updates."""
    steps: int = spec(128, ge=1)
    """Steps per environment per update (the rollout length)."""
    epochs: int = spec(10, ge=1)
    """Passes over each rollout."""
    minibatches: int = spec(4, ge=1)
    """Minibatches per epoch; each holds whole BPTT chunks."""
    bptt: int | None = spec(32, ge=1)
    """Truncated BPTT length: the rollout is cut into chunks of this many steps (a divisor of
    ``steps``) that start from the recurrent state recorded while acting; episodes inside a
    chunk stay whole, with the state reset at their starts. ``null``: one chunk per env."""
    clip: float = spec(0.2, gt=0)
    """Clipping range of the probability ratio."""
    gae_lambda: float = spec(0.95, ge=0, le=1)
    """GAE λ."""
    value_coef: float = spec(0.5, ge=0)
    """Weight of the value loss."""
    entropy_coef: float = spec(0.0, ge=0)
    """Weight of the entropy bonus."""
    clip_value: float | None = spec(None, gt=0)
    """Clip the value prediction's change to this range (``null``: no value clipping)."""
    normalize_advantages: bool = True
    """Standardise advantages per minibatch."""
    target_kl: float | None = spec(None, gt=0)
    """Stop the epochs early once the approximate KL exceeds this (``null``: never)."""

    def __post_init__(self) -> None:
        check_fields(self, "ppo")
        chunk = self.bptt or self.steps
        if self.steps % chunk:
            raise ConfigError(f"ppo.bptt={self.bptt} must divide ppo.steps={self.steps}")
        if self.minibatches > self.num_envs * (self.steps // chunk):
            raise ConfigError("ppo.minibatches exceeds the number of BPTT chunks per rollout")


@dataclass(frozen=True)
class GradEvalConfig:
    """Test episodes of the deterministic policy (the controller's ``act`` head)."""

    test_every: int = spec(5, ge=0)
    """Test every this many updates (0: never; always after the last)."""
    test_episodes: int = spec(20, ge=1)
    """Test episodes (reset seeds as evolution's tests); the run is solved when their mean
    return reaches ``stop.target``."""
    test_max_episode_steps: int | None = spec(None, ge=1)
    """Time limit of test episodes (``null``: the training limit), e.g. 100,000 for the
    "balanced 100,000 steps" criterion of pole balancing."""
    max_envs: int = spec(256, ge=1)
    """Most environments stepped together in a test."""

    def __post_init__(self) -> None:
        check_fields(self, "eval")


@dataclass(frozen=True)
class GradStopConfig:
    """Stopping rules; the run stops at the first one met."""

    target: float | None = None
    """Stop when the mean test return reaches this."""
    env_steps: int | None = spec(None, ge=1)
    """Stop after this many training env steps."""
    episodes: int | None = spec(None, ge=1)
    """Stop after this many training episodes (finished ones)."""
    iterations: int | None = spec(None, ge=1)
    """Stop after this many updates."""
    wall_time: float | None = spec(None, gt=0)
    """Stop after this many seconds of training (summed over resumed sessions)."""

    def __post_init__(self) -> None:
        check_fields(self, "stop")


@dataclass(frozen=True)
class GradientConfig:
    """Everything that defines one gradient run (``evorl train PRESET --key=value``)."""

    kind: str = KIND
    """Marker saved in the run directory: this run was made by gradient training."""
    algo: str = spec("ppo", choices=ALGOS)
    """``ppo`` (recurrent PPO) or ``rpg`` (recurrent policy gradients)."""
    name: str = spec("train", pattern=NAME)
    """Run name; the run directory is ``<out>/<name>-<timestamp>``."""
    seed: int = spec(1, ge=0)
    """Root seed: initial weights, action sampling, minibatches and reset seeds derive from it."""
    env: EnvConfig = field(default_factory=EnvConfig)
    """The environment (same section as evolution's)."""
    controller: ControllerConfig = field(default_factory=ControllerConfig)
    """The controller network (same section as evolution's)."""
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    """Stochastic heads and value head."""
    optim: OptimConfig = field(default_factory=OptimConfig)
    """Adam settings."""
    gamma: float = spec(0.99, gt=0, le=1)
    """Discount factor."""
    obs_norm: bool = False
    """Normalise observations with running statistics (frozen during each rollout, stored with
    the policy exactly as evolution stores them)."""
    obs_clip: float = spec(5.0, gt=0)
    """Clip normalised observations to ``[-obs_clip, obs_clip]``."""
    reward_scale: bool = False
    """Divide rewards by the running standard deviation of the discounted return (as
    Stable-Baselines3's VecNormalize); logged returns stay raw."""
    rpg: RPGConfig = field(default_factory=RPGConfig)
    """Settings of ``algo: rpg``."""
    ppo: PPOConfig = field(default_factory=PPOConfig)
    """Settings of ``algo: ppo``."""
    eval: GradEvalConfig = field(default_factory=GradEvalConfig)
    """Tests."""
    stop: GradStopConfig = field(default_factory=GradStopConfig)
    """Stopping rules."""
    init_from: str | None = None
    """Start from the controller of this run directory (evolved or gradient-trained); set by
    ``evorl train --init-from RUN_DIR``. A resumed run ignores it (the checkpoint wins)."""
    checkpoint_every: int = spec(10, ge=1)
    """Write a checkpoint every this many updates (and always at the end)."""
    device: str = spec("cpu", pattern=DEVICE)
    """Where the updates run (``cpu``, ``cuda``, ``cuda:N``, ``auto``): the loss, its backward
    pass and Adam. Rollouts and tests step a CPU copy of the policy, refreshed after every
    update (the envs are on the CPU, and a small net steps faster there)."""
    out: str = "runs"
    """Folder that holds run directories."""
    notes: str = ""
    """Free text kept with the run (what the preset is for, expected wall time)."""

    def __post_init__(self) -> None:
        check_fields(self)
        if self.kind != KIND:
            raise ConfigError(f"kind must be '{KIND}' for `evorl train`, got {self.kind!r}")
        if not math.isfinite(self.obs_clip):
            raise ConfigError("obs_clip must be a finite number > 0")
        if all(v is None for v in dataclasses.astuple(self.stop)):
            raise ConfigError("set at least one stopping rule (stop.target, stop.env_steps, ...)")

    @property
    def lr(self) -> float:
        """The learning rate of the chosen algorithm."""
        return self.rpg.lr if self.algo == "rpg" else self.ppo.lr


# --------------------------------------------------------------------------- loading


def preset_names() -> list[str]:
    """Names of the built-in gradient presets."""
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def load_gradient_config(source: str, overrides: list[str] | None = None) -> GradientConfig:
    """The validated config of a gradient preset name or YAML file, plus ``key=value`` overrides.

    Raises:
        ConfigError: Unknown preset, key or value.
    """
    path = Path(source)
    if not (source.endswith((".yaml", ".yml")) or path.is_file()):
        path = PRESET_DIR / f"{source}.yaml"
        if not path.is_file():
            raise ConfigError(
                f"unknown gradient preset '{source}' (presets: {', '.join(preset_names())})"
            )
    data = apply_overrides(read_source(str(path)), list(overrides or []))
    return from_dict(GradientConfig, data)


def config_from_dict(data: dict) -> GradientConfig:
    """A :class:`GradientConfig` from plain data (``config.yaml``, a checkpoint)."""
    return from_dict(GradientConfig, data)


def dump_yaml(config: GradientConfig) -> str:
    """The config as YAML, ``kind`` first."""
    return yaml.safe_dump(to_dict(config), sort_keys=False)
