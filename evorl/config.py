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
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from evorl.controllers.config import ControllerConfig
from evorl.errors import ConfigError

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
    max_episode_steps: int | None = None
    """Override the env's time limit (``None``: the registered limit)."""
    vectorization: str = "auto"
    """``native`` (one numpy array for all envs, exact per-env seeding), ``sync`` (a list of
    Gymnasium envs stepped in turn) or ``auto`` (native where evorl has it, else sync)."""

    def __post_init__(self) -> None:
        _check_choice("env.vectorization", self.vectorization, ("auto", "native", "sync"))
        if self.wrappers and self.vectorization == "native":
            raise ConfigError(
                "env.wrappers wrap single envs: use env.vectorization auto or sync with them"
            )
        if self.max_episode_steps is not None and self.max_episode_steps < 1:
            raise ConfigError("env.max_episode_steps must be >= 1")


@dataclass(frozen=True)
class OptimizerConfig:
    """The search algorithm (see ``evorl list`` for names and their settings)."""

    name: str = "cmaes"
    """Registered optimizer name: cmaes, sep-cmaes, pgpe, snes, xnes, openai-es, cosyne."""
    popsize: int | None = None
    """Population size; ``None`` takes the optimizer's default for the problem dimension."""
    sigma: float = 0.1
    """Initial search step size (standard deviation of the sampling distribution)."""
    settings: dict[str, Any] = field(default_factory=dict)
    """Optimizer-specific settings, e.g. ``{restarts: ipop}`` for CMA-ES."""

    def __post_init__(self) -> None:
        if self.popsize is not None and self.popsize < 2:
            raise ConfigError("optimizer.popsize must be >= 2")
        if not self.sigma > 0:
            raise ConfigError("optimizer.sigma must be > 0")


@dataclass(frozen=True)
class EvalConfig:
    """How individuals are evaluated."""

    episodes: int = 1
    """Episodes per individual per generation; fitness is their mean return."""
    evaluator: str = "vector"
    """``vector`` (the population's envs stepped as one batch), ``serial`` (one episode at a
    time; the slow reference) or ``ray`` (distributed; see ``workers``)."""
    max_envs: int = 256
    """Most environments stepped together; more episodes than this queue for a free slot."""
    obs_norm: bool = False
    """Normalise observations with running statistics (frozen within a generation)."""
    obs_clip: float = 5.0
    """Clip normalised observations to ``[-obs_clip, obs_clip]``."""
    test_every: int = 10
    """Run test episodes of the optimizer's centre every this many generations (0: never)."""
    test_episodes: int = 20
    """Episodes per test; the run is solved when their mean return reaches ``stop.target``."""
    workers: int = 0
    """Ray workers (``evaluator: ray``); 0 means one per CPU."""
    ray_address: str | None = None
    """Join an existing Ray cluster (``auto`` or ``HOST:PORT``) instead of starting a local one."""
    threads: int = 1
    """Torch threads of the `evorl` command (1 is fastest for small controllers: each batched
    operation is too small to split, and extra threads contend with the environments)."""
    pole_protocol: str | None = None
    """Pole-balancing envs only: follow the benchmark's solve protocol (:mod:`evorl.pole`)
    instead of test episodes (needs ``test_every: 0``). ``balanced``: every individual that
    balanced its whole training episode gets the 100,000-step test; ``champion``: only the
    generation's fittest. The run stops solved when a candidate passes."""
    pole_min_generalization: int = 0
    """With ``pole_protocol`` (ignored without): a candidate that passes the long test is a
    solution only if it also balances 1,000 steps from this many of the 625 generalisation start
    states (0: the literature's protocol, score measured but not required)."""

    def __post_init__(self) -> None:
        _check_choice("eval.evaluator", self.evaluator, ("vector", "serial", "ray"))
        if self.pole_protocol is not None:
            _check_choice("eval.pole_protocol", self.pole_protocol, ("balanced", "champion"))
        if not 0 <= self.pole_min_generalization <= 625:
            raise ConfigError("eval.pole_min_generalization must be in [0, 625]")
        for name in ("episodes", "max_envs", "test_episodes"):
            if getattr(self, name) < 1:
                raise ConfigError(f"eval.{name} must be >= 1")
        if self.threads < 1:
            raise ConfigError("eval.threads must be >= 1")
        if self.test_every < 0 or self.workers < 0:
            raise ConfigError("eval.test_every and eval.workers must be >= 0")


@dataclass(frozen=True)
class StopConfig:
    """Stopping rules; the run stops at the first one met."""

    target: float | None = None
    """Stop when the mean test return reaches this (the task's 'solved' threshold)."""
    generations: int | None = None
    """Stop after this many generations."""
    evaluations: int | None = None
    """Stop after this many episodes evaluated (training episodes, all individuals)."""
    env_steps: int | None = None
    """Stop after the generation in which training env steps (all individuals) reach this."""
    wall_time: float | None = None
    """Stop after this many seconds of training (summed over resumed sessions)."""


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines one evolution run."""

    name: str = "run"
    """Run name; the run directory is ``<out>/<name>-<timestamp>``."""
    seed: int = 1
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
    checkpoint_every: int = 10
    """Write a checkpoint every this many generations (and always at the end)."""
    out: str = "runs"
    """Folder that holds run directories."""
    notes: str = ""
    """Free text kept with the run (what the preset is for, expected wall time)."""
    init_from: str | None = None
    """Start from the controller of this run directory (evolved or gradient-trained) instead
    of a fresh initialisation; its controller config must match this run's."""

    def __post_init__(self) -> None:
        if self.seed < 0:
            raise ConfigError("seed must be >= 0")
        if self.checkpoint_every < 1:
            raise ConfigError("checkpoint_every must be >= 1")
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


# --------------------------------------------------------------------------- building


def from_dict(cls: type, data: Any, where: str = "") -> Any:
    """Build dataclass ``cls`` from plain data, strictly: unknown keys and wrong types fail."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where or 'config'}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        key = f"{where}.{unknown[0]}" if where else unknown[0]
        raise ConfigError(f"unknown config key '{key}' (known here: {', '.join(sorted(names))})")
    kwargs = {k: _coerce(hints[k], v, f"{where}.{k}" if where else k) for k, v in data.items()}
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (ValueError, TypeError) as err:
        raise ConfigError(f"{where or 'config'}: {err}") from None


def to_dict(cfg: Any) -> dict[str, Any]:
    """Plain nested data (tuples as lists) for YAML and checkpoints."""

    def plain(value: Any) -> Any:
        if isinstance(value, tuple | list):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return plain(dataclasses.asdict(cfg))


def _coerce(tp: Any, value: Any, key: str) -> Any:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (types.UnionType, typing.Union):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(arg, value, key)
            except ConfigError as err:
                errors.append(err)
        raise errors[0]
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, key)
    if origin is tuple:
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = [value]  # `--controller.hidden=16` means (16,)
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        return tuple(_coerce(args[0], v, key) for v in value)
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return dict(value)
    if tp is Any:
        return value
    return _coerce_scalar(tp, value, key)


def _coerce_scalar(tp: type, value: Any, key: str) -> Any:
    ok = {
        bool: isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, int | float) and not isinstance(value, bool),
        str: isinstance(value, str),
    }.get(tp)
    if ok is None:
        raise ConfigError(f"{key}: unsupported field type {tp}")
    if not ok:
        raise ConfigError(f"{key}: expected {tp.__name__}, got {value!r}")
    return float(value) if tp is float else value


def _check_choice(key: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{key} must be one of {', '.join(choices)}; got {value!r}")


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
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        where = getattr(err, "problem_mark", None)
        line = f" line {where.line + 1}" if where else ""
        raise ConfigError(f"malformed YAML in {path}{line}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping of config keys")
    return data


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``--a.b=value`` (or ``a.b=value``) overrides; values are parsed as YAML scalars."""
    data = _deep_copy(data)
    for item in overrides:
        text = item[2:] if item.startswith("--") else item
        if "=" not in text:
            raise ConfigError(f"override '{item}' must look like --key=value")
        dotted, raw = text.split("=", 1)
        try:
            value = yaml.safe_load(raw) if raw != "" else ""
        except yaml.YAMLError:
            value = raw
        keys = dotted.strip().split(".")
        node = data
        for k in keys[:-1]:
            child = node.setdefault(k, {})
            if not isinstance(child, dict):
                raise ConfigError(f"override '{dotted}': '{k}' is not a section")
            node = child
        node[keys[-1]] = value
    return data


def load_config(source: str | None = None, overrides: list[str] | None = None) -> RunConfig:
    """The validated :class:`RunConfig` of a preset or YAML file plus overrides."""
    data = apply_overrides(read_source(source or DEFAULT_PRESET), overrides or [])
    return from_dict(RunConfig, data)


def _deep_copy(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _deep_copy(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_deep_copy(v) for v in data]
    return data
