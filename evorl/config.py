"""Run configuration: frozen dataclasses, named presets, YAML files and ``--key=value`` overrides.

A run is described by one :class:`RunConfig`. It is built from a preset (a YAML file shipped in
``evorl/presets``) or a user's YAML file, then command-line overrides in RNNLIB's style
(``--optimizer.popsize=32 --env.id=Acrobot-v1``) are applied, and the result is validated
strictly: unknown keys, wrong types and bad values raise :class:`ConfigError` with one line that
names the offending key. The resolved config is saved in the run directory and in every
checkpoint.

Example:
    >>> cfg = load_config("cartpole-novel", ["--optimizer.popsize=24"])
    >>> cfg.optimizer.popsize
    24
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evorl.config_io import (
    DEVICE,
    NAME,
    apply_overrides,
    check_fields,
    from_dict,
    read_yaml,
    spec,
    to_dict,
)
from evorl.controllers.config import ControllerConfig
from evorl.errors import ConfigError

__all__ = [
    "ConfigError",
    "ControllerConfig",
    "EnvConfig",
    "EvalConfig",
    "OptimizerConfig",
    "RunConfig",
    "StopConfig",
    "apply_overrides",
    "from_dict",
    "load_config",
    "preset_names",
    "read_source",
    "to_dict",
]

PRESET_DIR = Path(__file__).parent / "presets"
DEFAULT_PRESET = "cartpole-novel"


@dataclass(frozen=True)
class WrapperConfig:
    """One wrapper of ``env.wrappers``, applied around the env made by ``gymnasium.make``."""

    name: str = ""
    """``mask``, ``noise`` or ``delay`` (evorl's, :mod:`evorl.envs.wrappers`), the name of a
    class in ``gymnasium.wrappers`` (e.g. ``TimeAwareObservation``), or ``module:Class`` for a
    wrapper of your own."""
    kwargs: dict[str, Any] = field(default_factory=dict)
    """Keyword arguments of the wrapper (after the env), e.g. ``{keep: [0, 2]}`` for ``mask``."""

    def __post_init__(self) -> None:
        if not self.name or self.name != self.name.strip() or self.name.count(":") > 1:
            raise ConfigError(f"env.wrappers: bad wrapper name {self.name!r}")


@dataclass(frozen=True)
class EnvConfig:
    """Which environment to build and how it is observed."""

    id: str = "CartPole-v1"
    """Gymnasium id, e.g. ``CartPole-v1``, ``HalfCheetah-v5`` or ``evorl/DoublePoleNV-v0``."""
    kwargs: dict[str, Any] = field(default_factory=dict)
    """Extra keyword arguments for ``gymnasium.make``."""
    observe: tuple[int, ...] | None = None
    """Keep only these entries of the (flattened) observation (partial observability), e.g.
    ``[0, 2]`` for CartPole positions without velocities. ``None`` keeps everything."""
    wrappers: tuple[WrapperConfig, ...] = ()
    """Wrappers applied in order around each env (``[{name: delay, kwargs: {k: 2}}, ...]``);
    see :class:`WrapperConfig`. They wrap single envs, so a run with wrappers steps a list of
    envs, never a native vector env."""
    previous_action: bool = False
    """Append the previous action to the observation (one-hot for Discrete, one one-hot per
    component for MultiDiscrete, the entries of a Box or MultiBinary), zeros at an episode's
    start: the convention of POPGym's baselines and RL² for memory tasks."""
    previous_reward: bool = False
    """Append the previous reward to the observation (0 at an episode's start)."""
    max_episode_steps: int | None = spec(None, ge=1)
    """Override the env's time limit (``None``: the registered limit)."""
    vectorization: str = spec("auto", choices=("auto", "native", "sync"))
    """``native`` (one numpy array for all envs, exact per-env seeding), ``sync`` (a list of
    Gymnasium envs stepped in turn) or ``auto`` (native where evorl has it, else sync)."""

    def __post_init__(self) -> None:
        check_fields(self, "env")
        if self.observe is not None and not self.observe:
            raise ConfigError("env.observe: keep at least one entry (or null for all)")
        if self.wrappers and self.vectorization == "native":
            raise ConfigError(
                "env.wrappers wrap single envs: use env.vectorization auto or sync with them"
            )


@dataclass(frozen=True)
class OptimizerConfig:
    """The search algorithm (see ``evorl list`` for names and their settings)."""

    name: str = "cmaes"
    """Registered optimizer name: cmaes, sep-cmaes, pgpe, snes, xnes, openai-es, cosyne."""
    popsize: int | None = spec(None, ge=2)
    """Population size; ``None`` takes the optimizer's default for the problem dimension."""
    sigma: float = spec(0.1, gt=0)
    """Initial search step size (standard deviation of the sampling distribution)."""
    settings: dict[str, Any] = field(default_factory=dict)
    """Optimizer-specific settings, e.g. ``{restarts: ipop}`` for CMA-ES."""

    def __post_init__(self) -> None:
        check_fields(self, "optimizer")
        if self.sigma == float("inf"):
            raise ConfigError("optimizer.sigma must be finite")


@dataclass(frozen=True)
class EvalConfig:
    """How individuals are evaluated."""

    episodes: int = spec(1, ge=1)
    """Episodes per individual per generation; fitness is their mean return."""
    evaluator: str = spec("vector", choices=("vector", "serial", "ray"))
    """``vector`` (the population's envs stepped as one batch), ``serial`` (one episode at a
    time; the slow reference) or ``ray`` (distributed; see ``workers``)."""
    max_envs: int = spec(256, ge=1)
    """Most environments stepped together; more episodes than this queue for a free slot."""
    obs_norm: bool = False
    """Normalise observations with running statistics (frozen within a generation)."""
    obs_clip: float = spec(5.0, gt=0)
    """Clip normalised observations to ``[-obs_clip, obs_clip]``."""
    obs_nonfinite: str = spec("skip", choices=("skip", "stop"))
    """Observations with NaN/inf entries: left out of the running statistics and counted
    (``obs/nonfinite``; ``skip``), or the run stops with one line (``stop``)."""
    test_every: int = spec(10, ge=0)
    """Run test episodes of the optimizer's centre every this many generations (0: never)."""
    test_episodes: int = spec(20, ge=1)
    """Episodes per test; the run is solved when their mean return reaches ``stop.target``."""
    workers: int = spec(0, ge=0)
    """Ray workers (``evaluator: ray``); 0 means one per CPU."""
    ray_address: str | None = None
    """Join an existing Ray cluster (``auto`` or ``HOST:PORT``) instead of starting a local one."""
    ray_timeout: float = spec(30.0, gt=0)
    """Seconds to wait for a Ray cluster (joining one, starting workers) before giving up with
    one line."""
    device: str = spec("cpu", pattern=DEVICE)
    """Where the population's forward pass runs: ``cpu``, ``cuda``, ``cuda:N`` or ``auto`` (a
    GPU pays off only for large controllers or populations; environments stay on the CPU)."""
    threads: int = spec(1, ge=1)
    """Torch threads of the `evorl` command (1 is fastest for small controllers: each batched
    operation is too small to split, and extra threads contend with the environments)."""
    pole_protocol: str | None = spec(None, choices=("balanced", "champion"))
    """Pole-balancing envs only: follow the benchmark's solve protocol (:mod:`evorl.pole`)
    instead of test episodes (needs ``test_every: 0``). ``balanced``: every individual that
    balanced its whole training episode gets the long test (``pole_test_steps``); ``champion``:
    only the generation's fittest. The run stops solved when a candidate passes."""
    pole_min_generalization: int = spec(0, ge=0, le=625)
    """With ``pole_protocol`` (ignored without): a candidate that passes the long test is a
    solution only if it also balances 1,000 steps from this many of the 625 generalisation start
    states (0: the literature's protocol, score measured but not required)."""
    pole_test_steps: int = spec(100_000, ge=1)
    """With ``pole_protocol``: steps a candidate must balance from the standard start state to
    solve the run (100,000: the literature's test; fewer for a quick look, not comparable)."""

    def __post_init__(self) -> None:
        check_fields(self, "eval")


@dataclass(frozen=True)
class StopConfig:
    """Stopping rules; the run stops at the first one met."""

    target: float | None = None
    """Stop when the mean test return reaches this (the task's 'solved' threshold)."""
    generations: int | None = spec(None, ge=1)
    """Stop after this many generations."""
    evaluations: int | None = spec(None, ge=1)
    """Stop after this many episodes evaluated (training episodes, all individuals)."""
    env_steps: int | None = spec(None, ge=1)
    """Stop after the generation in which training env steps (all individuals) reach this."""
    wall_time: float | None = spec(None, gt=0)
    """Stop after this many seconds of training (summed over resumed sessions)."""

    def __post_init__(self) -> None:
        check_fields(self, "stop")


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines one evolution run."""

    name: str = spec("run", pattern=NAME)
    """Run name; the run directory is ``<out>/<name>-<timestamp>``."""
    seed: int = spec(1, ge=0)
    """Root seed: every random stream of the run derives from it."""
    env: EnvConfig = field(default_factory=EnvConfig)
    """The environment."""
    controller: ControllerConfig = field(default_factory=ControllerConfig)
    """The controller network."""
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    """The optimizer."""
    eval: EvalConfig = field(default_factory=EvalConfig)
    """Evaluation of individuals."""
    stop: StopConfig = field(default_factory=StopConfig)
    """Stopping rules."""
    checkpoint_every: int = spec(10, ge=1)
    """Write a checkpoint every this many generations (and always at the end)."""
    out: str = "runs"
    """Folder that holds run directories."""
    notes: str = ""
    """Free text kept with the run (what the preset is for, expected wall time)."""
    init_from: str | None = None
    """Start from the controller of this run directory (evolved or gradient-trained) instead
    of a fresh initialisation; its controller config must match this run's."""

    def __post_init__(self) -> None:
        check_fields(self)
        if not self.out:
            raise ConfigError("out must name a folder")
        env = self.env
        if self.eval.pole_protocol is not None and (
            env.wrappers or env.previous_action or env.previous_reward
        ):
            raise ConfigError(
                "eval.pole_protocol tests the bare pole env: drop env.wrappers, "
                "env.previous_action and env.previous_reward"
            )
        stop = self.stop
        if all(v is None for v in dataclasses.astuple(stop)):
            raise ConfigError("set at least one stopping rule (stop.target, stop.generations, ...)")


# --------------------------------------------------------------------------- presets and files


def preset_names() -> list[str]:
    """Names of the built-in presets."""
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def read_source(source: str) -> dict[str, Any]:
    """Raw config data from a preset name or a YAML file path."""
    path = Path(source)
    if source.endswith((".yaml", ".yml")) or path.is_file():
        if not path.is_file():
            raise ConfigError(f"config file not found: {source}")
    else:
        path = PRESET_DIR / f"{source}.yaml"
        if not path.is_file():
            raise ConfigError(f"unknown preset '{source}' (presets: {', '.join(preset_names())})")
    return read_yaml(path)


def load_config(source: str | None = None, overrides: list[str] | None = None) -> RunConfig:
    """The validated :class:`RunConfig` of a preset or YAML file plus overrides."""
    data = apply_overrides(read_source(source or DEFAULT_PRESET), overrides or [])
    return from_dict(RunConfig, data)
