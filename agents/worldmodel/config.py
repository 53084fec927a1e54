"""Configuration of a world-model pipeline: frozen dataclasses, presets, ``--key=value`` overrides.

One :class:`WorldModelConfig` describes every stage (collect → V → M → C). It is read from a preset
shipped in ``presets/`` or a YAML file, overridden field by field on the command line in evorl's
style (``--vae.epochs=3``), validated strictly by :func:`evorl.config.from_dict`, and saved as
``config.yaml`` in the pipeline's directory.

Example:
    >>> cfg = load_wm_config("take-cover", ["--vae.z_dim=16"])
    >>> cfg.vae.z_dim
    16
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from evorl.config import apply_overrides, from_dict, to_dict
from evorl.controllers.config import ControllerConfig
from evorl.errors import ConfigError

PRESET_DIR = Path(__file__).parent / "presets"
DEFAULT_PRESET = "take-cover"


@dataclass(frozen=True)
class EnvSection:
    """The real environment (pixel observations, resized to 64 × 64 × 3 if needed)."""

    id: str = "evorl/TakeCover-v0"
    """Gymnasium id, e.g. ``evorl/TakeCover-v0`` or ``CarRacing-v3``."""
    kwargs: dict[str, Any] = field(default_factory=dict)
    """Extra keyword arguments for ``gymnasium.make``."""
    max_episode_steps: int | None = None
    """Override the env's time limit (``None``: the registered one)."""
    crop_bottom: int = 0
    """Rows cut off the bottom of each frame before resizing (CarRacing's dashboard: 12)."""


@dataclass(frozen=True)
class CollectConfig:
    """Rollouts of an untrained policy, stored as compressed shards."""

    episodes: int = 200
    """Episodes to collect (one shard each)."""
    policy: str = "random"
    """``random`` (uniform actions) or ``brownian`` (Box actions doing a random walk)."""
    max_steps: int | None = None
    """Cut collected episodes at this length (``None``: the env's own end)."""
    workers: int = 0
    """Ray workers collecting in parallel (0: collect in this process)."""

    def __post_init__(self) -> None:
        if self.episodes < 1:
            raise ConfigError("collect.episodes must be >= 1")
        if self.policy not in ("random", "brownian"):
            raise ConfigError(f"collect.policy must be random or brownian; got {self.policy!r}")
        if self.workers < 0:
            raise ConfigError("collect.workers must be >= 0")


@dataclass(frozen=True)
class VAEConfig:
    """V: the convolutional VAE and how it is trained."""

    z_dim: int = 32
    """Latent size (paper: 32)."""
    channels: tuple[int, ...] = (32, 64, 128, 256)
    """Channels of the four stride-2 convolutions (paper: 32, 64, 128, 256)."""
    kl_tolerance: float = 0.5
    """Free bits: the KL term is floored at ``kl_tolerance * z_dim`` nats (paper: 0.5)."""
    epochs: int = 10
    """Passes over the collected frames."""
    batch_size: int = 100
    """Frames per gradient step."""
    lr: float = 1e-3
    """Adam learning rate."""

    def __post_init__(self) -> None:
        if self.z_dim < 1 or self.epochs < 1 or self.batch_size < 1:
            raise ConfigError("vae.z_dim, vae.epochs and vae.batch_size must be >= 1")
        if len(self.channels) != 4 or min(self.channels) < 1:
            raise ConfigError("vae.channels must be four positive ints")


@dataclass(frozen=True)
class RNNConfig:
    """M: the MDN-RNN and how it is trained."""

    hidden: int = 256
    """LSTM units (paper: 256 for CarRacing, 512 for Doom)."""
    gaussians: int = 5
    """Mixture components per latent dimension (paper: 5)."""
    seq_len: int = 100
    """Training sequence length (episodes are cut into pieces this long)."""
    epochs: int = 20
    """Passes over the encoded episodes."""
    batch_size: int = 32
    """Sequences per gradient step."""
    lr: float = 1e-3
    """Adam learning rate."""
    grad_clip: float = 1.0
    """Gradient-norm clipping."""
    done_weight: float = 1.0
    """Weight of the done head's cross-entropy in the loss."""
    reward_weight: float = 1.0
    """Weight of the reward head's squared error in the loss."""

    def __post_init__(self) -> None:
        for name in ("hidden", "gaussians", "seq_len", "epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"rnn.{name} must be >= 1")


@dataclass(frozen=True)
class EvolveConfig:
    """C: the controller on [z, h] and its evolution (in the real env or in the dream)."""

    controller: str = "linear"
    """``linear`` (the paper's) or ``mlp`` (one hidden layer, see ``hidden``)."""
    hidden: tuple[int, ...] = (16,)
    """Hidden units of the ``mlp`` controller."""
    optimizer: str = "cmaes"
    """An evorl optimizer name (``evorl list optimizers``)."""
    popsize: int = 64
    """Population size (paper: 64)."""
    sigma: float = 0.1
    """Initial step size."""
    episodes: int = 16
    """Rollouts per individual per generation (paper: 16)."""
    generations: int = 100
    """Generations to run."""
    dream: bool = True
    """Evolve inside M's dream (True) or in the real env seen through V and M (False)."""
    temperature: float = 1.15
    """τ of the dream's sampling (paper's Doom result: 1.15)."""
    max_steps: int = 1000
    """Time limit of a dream episode."""
    workers: int = 0
    """Ray workers for evaluation (0: evaluate in this process, batched)."""
    test_every: int = 10
    """Test the search centre every this many generations (0: never)."""
    test_episodes: int = 16
    """Episodes per test."""

    def __post_init__(self) -> None:
        if self.controller not in ("linear", "mlp"):
            raise ConfigError(f"evolve.controller must be linear or mlp; got {self.controller!r}")
        if self.temperature <= 0:
            raise ConfigError("evolve.temperature must be > 0")
        for name in ("popsize", "episodes", "generations", "max_steps", "test_episodes"):
            if getattr(self, name) < 1:
                raise ConfigError(f"evolve.{name} must be >= 1")

    def controller_config(self) -> ControllerConfig:
        """The evorl controller config of C."""
        return ControllerConfig(kind=self.controller, hidden=self.hidden)


@dataclass(frozen=True)
class WorldModelConfig:
    """Every stage of one world-model pipeline."""

    name: str = "take-cover"
    """Pipeline name; its directory is ``<out>/<name>`` unless given."""
    seed: int = 1
    """Root seed: collection, training and evolution streams all derive from it."""
    out: str = "runs"
    """Folder that holds pipeline directories."""
    threads: int = 1
    """Torch threads (1 suits a shared small machine)."""
    eval_episodes: int = 100
    """Real-env test episodes of ``evorl wm eval``."""
    env: EnvSection = field(default_factory=EnvSection)
    """The real environment."""
    collect: CollectConfig = field(default_factory=CollectConfig)
    """Data collection."""
    vae: VAEConfig = field(default_factory=VAEConfig)
    """V."""
    rnn: RNNConfig = field(default_factory=RNNConfig)
    """M."""
    evolve: EvolveConfig = field(default_factory=EvolveConfig)
    """C."""
    notes: str = ""
    """Free text kept with the pipeline (what the preset is for, expected cost)."""

    def __post_init__(self) -> None:
        if self.seed < 0 or self.threads < 1 or self.eval_episodes < 1:
            raise ConfigError("need seed >= 0, threads >= 1, eval_episodes >= 1")


def preset_names() -> list[str]:
    """Names of the shipped world-model presets."""
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def load_wm_config(
    source: str | None = None, overrides: list[str] | None = None
) -> WorldModelConfig:
    """The validated config of a preset name or YAML file, plus ``key=value`` overrides."""
    source = source or DEFAULT_PRESET
    path = Path(source)
    if not (source.endswith((".yaml", ".yml")) or path.is_file()):
        path = PRESET_DIR / f"{source}.yaml"
        if not path.is_file():
            names = ", ".join(preset_names())
            raise ConfigError(f"unknown world-model preset '{source}' (presets: {names})")
    if not path.is_file():
        raise ConfigError(f"config file not found: {source}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError:
        raise ConfigError(f"malformed YAML in {path}") from None
    return from_dict(WorldModelConfig, apply_overrides(data, overrides or []))


def dump_config(config: WorldModelConfig) -> str:
    """The config as YAML text."""
    return yaml.safe_dump(to_dict(config), sort_keys=False)
