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
from evorl.config_io import DEVICE, NAME, check_fields, read_yaml, spec
from evorl.controllers.config import ControllerConfig
from evorl.errors import ConfigError

DONE_RULES = ("sample", "threshold")
"""How a dream ends an episode from M's death probability: a draw of it, or above 0.5."""

PRESET_DIR = Path(__file__).parent / "presets"
DEFAULT_PRESET = "take-cover"


@dataclass(frozen=True)
class EnvSection:
    """The real environment (pixel observations, resized to 64 × 64 × 3 if needed)."""

    id: str = "evorl/TakeCover-v0"
    """Gymnasium id, e.g. ``evorl/TakeCover-v0`` or ``CarRacing-v3``."""
    kwargs: dict[str, Any] = field(default_factory=dict)
    """Extra keyword arguments for ``gymnasium.make``."""
    max_episode_steps: int | None = spec(None, ge=1)
    """Override the env's time limit (``None``: the registered one)."""
    crop_bottom: int = spec(0, ge=0)
    """Rows cut off the bottom of each frame before resizing (CarRacing's dashboard: 12)."""

    def __post_init__(self) -> None:
        check_fields(self, "env")


@dataclass(frozen=True)
class CollectConfig:
    """Rollouts of an untrained policy, stored as compressed shards."""

    episodes: int = spec(200, ge=1)
    """Episodes to collect (one shard each)."""
    policy: str = spec("random", choices=("random", "brownian"))
    """``random`` (uniform actions) or ``brownian`` (Box actions doing a random walk)."""
    max_steps: int | None = spec(None, ge=1)
    """Cut collected episodes at this length (``None``: the env's own end)."""
    workers: int = spec(0, ge=0)
    """Ray workers collecting in parallel (0: collect in this process)."""
    ray_address: str | None = None
    """With ``workers``: join this Ray cluster (``auto`` or ``HOST:PORT``, as ``evorl evolve
    --ray-address``) instead of starting a private instance."""

    def __post_init__(self) -> None:
        check_fields(self, "collect")
        if self.ray_address is not None and not self.workers:
            raise ConfigError("collect.ray_address needs collect.workers >= 1")


@dataclass(frozen=True)
class VAEConfig:
    """V: the convolutional VAE and how it is trained."""

    z_dim: int = spec(32, ge=1)
    """Latent size (paper: 32)."""
    channels: tuple[int, ...] = (32, 64, 128, 256)
    """Channels of the four stride-2 convolutions (paper: 32, 64, 128, 256)."""
    kl_tolerance: float = spec(0.5, ge=0)
    """Free bits: the KL term is floored at ``kl_tolerance * z_dim`` nats (paper: 0.5)."""
    epochs: int = spec(10, ge=1)
    """Passes over the collected frames."""
    batch_size: int = spec(100, ge=1)
    """Frames per gradient step."""
    lr: float = spec(1e-3, gt=0)
    """Adam learning rate."""

    def __post_init__(self) -> None:
        check_fields(self, "vae")
        if len(self.channels) != 4 or min(self.channels) < 1:
            raise ConfigError("vae.channels must be four positive ints")


@dataclass(frozen=True)
class RNNConfig:
    """M: the MDN-RNN and how it is trained."""

    hidden: int = spec(256, ge=1)
    """LSTM units (paper: 256 for CarRacing, 512 for Doom)."""
    gaussians: int = spec(5, ge=1)
    """Mixture components per latent dimension (paper: 5)."""
    seq_len: int = spec(100, ge=1)
    """Training sequence length (episodes are cut into pieces this long)."""
    epochs: int = spec(20, ge=1)
    """Passes over the encoded episodes."""
    batch_size: int = spec(32, ge=1)
    """Sequences per gradient step."""
    lr: float = spec(1e-3, gt=0)
    """Adam learning rate."""
    grad_clip: float = spec(1.0, gt=0)
    """Gradient-norm clipping."""
    done_weight: float = spec(1.0, ge=0)
    """Weight of the done head's cross-entropy in the loss."""
    done_pos_weight: float = spec(1.0, gt=0)
    """Weight of a death step in that cross-entropy, against 1 for a step that lives on (Ha &
    Schmidhuber's Doom code: 10, so that the rare deaths pass ``evolve.dream_done="threshold"``'s
    0.5)."""
    reward_weight: float = spec(1.0, ge=0)
    """Weight of the reward head's squared error in the loss."""

    def __post_init__(self) -> None:
        check_fields(self, "rnn")


@dataclass(frozen=True)
class EvolveConfig:
    """C: the controller on [z, h] and its evolution (in the real env or in the dream)."""

    controller: str = spec("linear", choices=("linear", "mlp"))
    """``linear`` (the paper's) or ``mlp`` (one hidden layer, see ``hidden``)."""
    hidden: tuple[int, ...] = (16,)
    """Hidden units of the ``mlp`` controller."""
    optimizer: str = "cmaes"
    """An evorl optimizer name (``evorl list optimizers``)."""
    popsize: int = spec(64, ge=2)
    """Population size (paper: 64)."""
    sigma: float = spec(0.1, gt=0)
    """Initial step size."""
    episodes: int = spec(16, ge=1)
    """Rollouts per individual per generation (paper: 16)."""
    generations: int = spec(100, ge=1)
    """Generations to run."""
    dream: bool = True
    """Evolve inside M's dream (True) or in the real env seen through V and M (False)."""
    temperature: float = spec(1.15, gt=0)
    """τ of the dream's sampling (paper's Doom result: 1.15)."""
    max_steps: int = spec(1000, ge=1)
    """Time limit of a dream episode."""
    dream_done: str = spec("sample", choices=DONE_RULES)
    """How the dream ends an episode: ``sample`` (with M's death probability) or ``threshold``
    (once it passes 0.5, as in Ha & Schmidhuber's Doom code: no deaths by chance)."""
    workers: int = spec(0, ge=0)
    """Ray workers for evaluation (0: evaluate in this process, batched)."""
    ray_address: str | None = None
    """With ``workers``: join this Ray cluster (``auto`` or ``HOST:PORT``) instead of starting a
    private instance (the run's ``eval.ray_address``)."""
    device: str = spec("cpu", pattern=DEVICE)
    """Where the population's forward pass runs (the run's ``eval.device``); the dream and the
    real env step on the CPU."""
    test_every: int = spec(10, ge=0)
    """Test the search centre every this many generations (0: never)."""
    test_episodes: int = spec(16, ge=1)
    """Episodes per test."""

    def __post_init__(self) -> None:
        check_fields(self, "evolve")
        if self.ray_address is not None and not self.workers:
            raise ConfigError("evolve.ray_address needs evolve.workers >= 1")
        from evorl.optimizers import OPTIMIZERS

        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(
                f"evolve.optimizer must be one of {', '.join(OPTIMIZERS)}; got {self.optimizer!r}"
            )

    def controller_config(self) -> ControllerConfig:
        """The evorl controller config of C."""
        return ControllerConfig(kind=self.controller, hidden=self.hidden)


@dataclass(frozen=True)
class IterateConfig:
    """The iterative procedure (Ha & Schmidhuber 2018, appendix): collect with the current C
    plus exploration noise, train V and M further on all data so far, evolve C in the new dream.
    """

    rounds: int = spec(0, ge=0)
    """Rounds after the first (``evorl wm iterate --rounds N``)."""
    episodes: int = spec(100, ge=1)
    """Real episodes collected per round with the last round's controller."""
    noise: float = spec(0.1, ge=0, le=1)
    """Exploration: chance of a uniform action (Discrete), or Gaussian noise of this share of
    the action range (Box)."""
    vae_epochs: int = spec(1, ge=0)
    """V's further epochs per round, on all data so far (0: V stays as the first round left it)."""
    rnn_epochs: int = spec(20, ge=0)
    """M's further epochs per round, on all data so far."""
    generations: int | None = spec(None, ge=1)
    """Generations of C per round (``None``: ``evolve.generations``)."""
    warm_start: bool = True
    """Start each round's evolution from the last round's champion (False: from scratch)."""

    def __post_init__(self) -> None:
        check_fields(self, "iterate")


@dataclass(frozen=True)
class WorldModelConfig:
    """Every stage of one world-model pipeline."""

    name: str = spec("take-cover", pattern=NAME)
    """Pipeline name; its directory is ``<out>/<name>`` unless given."""
    seed: int = spec(1, ge=0)
    """Root seed: collection, training and evolution streams all derive from it."""
    out: str = "runs"
    """Folder that holds pipeline directories."""
    threads: int = spec(1, ge=1)
    """Torch threads (1 suits a shared small machine)."""
    device: str = spec("cpu", pattern=DEVICE)
    """Where V and M train (``cpu``, ``cuda``, ``cuda:N``, ``auto``); collection, encoding and
    C's evolution run on the CPU (C's population: ``evolve.device``), and the saved models load
    anywhere."""
    eval_episodes: int = spec(100, ge=1)
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
    iterate: IterateConfig = field(default_factory=IterateConfig)
    """Rounds of collecting with C and retraining (``evorl wm iterate``)."""
    notes: str = ""
    """Free text kept with the pipeline (what the preset is for, expected cost)."""

    def __post_init__(self) -> None:
        check_fields(self)


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
    data = read_yaml(path)
    return from_dict(WorldModelConfig, apply_overrides(data, overrides or []))


def dump_config(config: WorldModelConfig) -> str:
    """The config as YAML text."""
    return yaml.safe_dump(to_dict(config), sort_keys=False)
