"""Configuration of a recurrent controller.

One frozen dataclass describes every cell; fields that a cell does not use are ignored by it
(``hidden`` by ``"linear"``, ``forget_gate`` / ``peepholes`` by everything but ``"lstm"``,
``key_size`` / ``feature_map`` / ``slow_recurrent`` by everything but ``"fwp_sum"`` and
``"fwp_delta"``, ``fast_decay`` / ``fast_rate`` / ``fast_steps`` by everything but
``"fast_rnn"``). ``embed`` and ``readout_hidden`` add layers around any cell that takes them
(see :attr:`Controller.io_layers`); the others refuse them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

INITS = ("orthogonal", "uniform")
CONTINUOUS_ACTIONS = ("tanh", "clip")
ACTIVATIONS = ("tanh", "relu", "sigmoid")
FEATURE_MAPS = ("elu", "dpfp1", "dpfp2", "dpfp3")


def _check_choice(field: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"ControllerConfig.{field}={value!r} is not one of {', '.join(allowed)}")


@dataclass(frozen=True)
class ControllerConfig:
    """Architecture and initialisation of a controller; see ``build_controller``.

    Example:
        >>> cfg = ControllerConfig(kind="lstm", hidden=(16,), peepholes=True)
        >>> cfg.forget_gate
        True
    """

    kind: str = "lstm"
    """Cell type, a key of ``evorl.controllers.CONTROLLERS``: "linear", "mlp", "elman",
    "fully_recurrent", "lstm", "gru", "fwp_sum", "fwp_delta", "fast_rnn" or "hebbian"."""

    hidden: tuple[int, ...] = (16,)
    """Units per layer; several entries stack layers. Ignored by "linear"; "fully_recurrent"
    takes exactly one entry n >= number of outputs (its output units are among the n); for
    "fwp_sum" / "fwp_delta" an entry is the layer's value size d_v (the width of its output)."""

    forget_gate: bool = True
    """LSTM only: use a forget gate (Gers et al. 2000). Without it c(t) = c(t-1) + i * g."""

    peepholes: bool = False
    """LSTM only: peephole connections (Gers & Schmidhuber 2000); input and forget gates see
    c(t-1), the output gate sees c(t). forget_gate=False, peepholes=False is the 1997 cell;
    both True is the "vanilla" LSTM of Greff et al. (2017)."""

    init: str = "orthogonal"
    """Initialisation: "orthogonal" (recurrent matrices orthogonal, input and readout weights
    Xavier-normal, biases and peepholes 0, LSTM forget-gate bias 1) or "uniform" (every
    parameter U(-init_scale, init_scale), the classic neuroevolution start)."""

    init_scale: float = 0.1
    """Half-width of the uniform initialisation; used only when init="uniform"."""

    continuous_action: str = "tanh"
    """Action head for Box spaces: "tanh" (squash, then scale to [low, high]; needs finite
    bounds) or "clip" (linear output clipped to [low, high])."""

    activation: str = "tanh"
    """Hidden activation of "mlp", "elman" and "fully_recurrent": "tanh", "relu" or "sigmoid"
    (the logistic units of Williams & Zipser 1989)."""

    key_size: int | None = None
    """FWP cells ("fwp_sum", "fwp_delta") only: d_k, the width of keys and queries before the
    feature map; None: the layer's value size (its ``hidden`` entry)."""

    feature_map: str = "elu"
    """FWP cells only: φ applied to keys and queries before sum normalisation:
    "elu" (1 + ELU, Katharopoulos et al. 2020; d_φ = d_k) or "dpfp1" / "dpfp2" / "dpfp3" (the
    deterministic parameter-free projection of Schlag et al. 2021 with ν = 1, 2, 3;
    d_φ = 2ν d_k)."""

    slow_recurrent: bool = False
    """FWP cells only: the slow net also reads the layer's previous output y(t-1)
    (False: a feed-forward slow net, the linear Transformer's FWP)."""

    fast_decay: float = 0.95
    """"fast_rnn" only: λ, the decay of the fast weights A(t) = λ A(t-1) + η h(t) h(t)^T,
    in [0, 1] (Ba et al. 2016 used 0.95)."""

    fast_rate: float = 0.5
    """"fast_rnn" only: η, the fast learning rate of the same update, >= 0 (Ba et al.: 0.5)."""

    fast_steps: int = 1
    """"fast_rnn" only: S, the inner-loop steps per time step, >= 1 (Ba et al.: 1)."""

    embed: int = 0
    """Width of a learned input embedding: a linear map (no bias) of the observation to this
    many features, which the first layer reads in its place (Ba et al. 2016's nets read their
    one-hot symbols through one); 0: the first layer reads the observation."""

    readout_hidden: int = 0
    """Width of a ReLU layer between the last hidden layer and the linear readout (Ba et al.'s
    100 units before the softmax); 0: the readout reads the last hidden layer."""

    def __post_init__(self) -> None:
        from evorl.controllers.registry import CONTROLLERS

        _check_choice("kind", self.kind, tuple(CONTROLLERS))
        hidden = tuple(self.hidden) if isinstance(self.hidden, list | tuple) else self.hidden
        if (
            not isinstance(hidden, tuple)
            or not hidden
            or not all(isinstance(h, int) and not isinstance(h, bool) and h > 0 for h in hidden)
        ):
            raise ValueError(
                f"ControllerConfig.hidden={self.hidden!r} must be a non-empty tuple of ints > 0"
            )
        # Coercing a YAML/CLI list to a tuple keeps the config hashable; it is not a derived value.
        object.__setattr__(self, "hidden", hidden)
        for name in ("forget_gate", "peepholes", "slow_recurrent"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"ControllerConfig.{name}={getattr(self, name)!r} must be a bool")
        _check_choice("init", self.init, INITS)
        scale = self.init_scale
        is_number = isinstance(scale, int | float) and not isinstance(scale, bool)
        if not (is_number and math.isfinite(scale) and scale > 0):
            raise ValueError(f"ControllerConfig.init_scale={scale!r} must be a finite number > 0")
        _check_choice("continuous_action", self.continuous_action, CONTINUOUS_ACTIONS)
        _check_choice("activation", self.activation, ACTIVATIONS)
        size = self.key_size
        if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 1):
            raise ValueError(f"ControllerConfig.key_size={size!r} must be None or an int > 0")
        _check_choice("feature_map", self.feature_map, FEATURE_MAPS)
        for name, low, high in (("fast_decay", 0.0, 1.0), ("fast_rate", 0.0, math.inf)):
            value = getattr(self, name)
            is_number = isinstance(value, int | float) and not isinstance(value, bool)
            if not (is_number and math.isfinite(value) and low <= value <= high):
                bounds = f"in [{low}, {high}]" if math.isfinite(high) else f">= {low}"
                raise ValueError(f"ControllerConfig.{name}={value!r} must be a number {bounds}")
        for name in ("embed", "readout_hidden"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"ControllerConfig.{name}={value!r} must be an int >= 0")
        steps = self.fast_steps
        if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
            raise ValueError(f"ControllerConfig.fast_steps={steps!r} must be an int >= 1")
