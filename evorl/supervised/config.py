"""Configuration of a supervised sequence-learning run, and each task's defaults.

One frozen :class:`FitConfig` describes a run of ``evorl fit``. :func:`resolve_config` builds it
in RNNLIB's order: the global defaults, then the task's defaults (with those for the chosen
algorithm), then the user's ``key=value`` overrides, validated strictly.

Example:
    >>> cfg = resolve_config("adding", "bptt", ["lr=0.003", "task.length=500"])
    >>> cfg.task_options, cfg.controller.kind
    ({'length': 500}, 'lstm')
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from evorl.config import ConfigError, apply_overrides, from_dict
from evorl.config_io import NAME, check_fields, spec
from evorl.controllers import ControllerConfig

ALGOS = ("rtrl", "bptt", "tbptt", "evolution")
"""rtrl (fully recurrent net), bptt (full), tbptt (truncated), evolution (evorl's optimizers)."""


@dataclass(frozen=True)
class FitConfig:
    """Everything that defines one supervised run (``evorl fit TASK --key=value``)."""

    kind: str = "fit"
    """Marker saved in the run directory: this run was made by supervised fitting."""
    task: str = "xor"
    """Task name, a key of ``evorl.tasks.sequences.TASKS``."""
    task_options: dict[str, Any] = field(default_factory=dict)
    """Task parameters, e.g. ``{delay: 3}``; on the command line ``--task.delay=3``."""
    algo: str = spec("bptt", choices=ALGOS)
    """One of rtrl, bptt, tbptt, evolution."""
    controller: ControllerConfig = field(default_factory=ControllerConfig)
    """The network (any evorl controller; rtrl and teacher forcing need fully_recurrent)."""
    seed: int = spec(0, ge=0)
    """Seeds initial weights, training data, test data and the evolution optimizer."""
    optimizer: str = spec("adam", choices=("adam", "sgd"))
    """Gradient optimizer for bptt, tbptt and epochwise rtrl: adam or sgd (plain)."""
    lr: float = spec(0.01, gt=0)
    """Learning rate (real-time RTRL: α of Williams & Zipser, per step)."""
    lr_final: float | None = spec(None, gt=0)
    """Gradient optimizers: decay the learning rate exponentially from ``lr`` to this over the
    ``max_sequences`` budget (None: constant)."""
    lr_hold: float = spec(0.0, ge=0, le=0.99)
    """With ``lr_final``: the share of the budget trained at ``lr`` before the decay starts
    (0.5: the first half at ``lr``, then the exponential decay over the second half)."""
    momentum: float = spec(0.0, ge=0, le=1)
    """SGD momentum."""
    batch_size: int = spec(16, ge=1)
    """Sequences per update (evolution: per candidate evaluation)."""
    window: int = spec(20, ge=1)
    """tbptt: truncation window in steps."""
    clip: float | None = spec(1.0, gt=0)
    """Clip the gradient's global norm to this (None: no clipping)."""
    teacher_forcing: bool = False
    """Feed targets back in place of the outputs while training (fully_recurrent only)."""
    rtrl_mode: str = spec("realtime", choices=("realtime", "epochwise"))
    """rtrl: realtime (weights change every step) or epochwise (exact gradient per batch)."""
    forget_bias: float | None = None
    """LSTM: set the forget-gate bias to this after initialisation (None: the init's choice)."""
    input_bias: float | None = None
    """LSTM: set the input-gate bias to this after initialisation (None: the init's choice)."""
    es: str = "cmaes"
    """evolution: optimizer name (see ``evorl list optimizers``)."""
    popsize: int | None = spec(None, ge=2)
    """evolution: population size (None: the optimizer's default)."""
    sigma: float = spec(0.5, gt=0)
    """evolution: initial step size."""
    max_sequences: int = spec(100_000, ge=1)
    """Budget: training sequences seen (evolution: summed over all candidates)."""
    wall_time: float | None = spec(None, gt=0)
    """Budget: seconds (None: no limit)."""
    eval_every: int = spec(1000, ge=1)
    """Test (and log a learning-curve row) every this many training sequences."""
    test_size: int = spec(256, ge=1)
    """Sequences in the fixed test set; solved means all of them are right."""
    train_size: int | None = spec(None, ge=1)
    """Train on a fixed set of this many sequences (each batch drawn from it with replacement;
    sequence i comes from its own seeded stream, so the set needs no memory); None: fresh
    sequences for every batch."""
    stop_on_solve: bool = True
    """Stop as soon as the test set is solved."""
    name: str = spec("fit", pattern=NAME)
    """Run name; the run directory (``--run-dir`` or ``out``) is ``<out>/<name>-<timestamp>``."""
    out: str = "runs"
    """Folder that holds run directories."""
    checkpoint_every: int = spec(100, ge=1)
    """Write a checkpoint every this many batches (run directories only; always at the end)."""

    def __post_init__(self) -> None:
        check_fields(self)
        if self.kind != "fit":
            raise ConfigError(f"kind must be 'fit' for `evorl fit`, got {self.kind!r}")
        recurrent = self.controller.kind == "fully_recurrent"
        if self.algo == "rtrl" and not recurrent:
            raise ConfigError(
                f"algo=rtrl trains the fully_recurrent controller only; train "
                f"{self.controller.kind} with --algo bptt, tbptt or evolution"
            )
        if self.algo == "evolution":
            from evorl.optimizers import OPTIMIZERS

            _choice("es", self.es, tuple(OPTIMIZERS))
        if self.teacher_forcing and not recurrent:
            raise ConfigError("teacher_forcing needs controller.kind=fully_recurrent")


def _choice(key: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{key} must be one of {', '.join(allowed)}; got {value!r}")


# Williams & Zipser's nets: logistic units, small random weights (U(-0.5, 0.5): our choice).
_WZ_NET = {"kind": "fully_recurrent", "activation": "sigmoid", "init": "uniform", "init_scale": 0.5}
_WZ_ALGOS = {
    "rtrl": {"lr": 1.0, "batch_size": 1},
    "bptt": {"optimizer": "adam", "lr": 0.05},
    "tbptt": {"optimizer": "adam", "lr": 0.05, "window": 10},
    "evolution": {"es": "cmaes", "sigma": 1.0, "batch_size": 8},
}
_LSTM = {"kind": "lstm", "hidden": [8], "init": "orthogonal"}
_LSTM_ALGOS = {
    "rtrl": {"controller": {**_WZ_NET, "hidden": [16]}, "rtrl_mode": "epochwise", "lr": 0.01},
    "bptt": {"optimizer": "adam", "lr": 0.01},
    "tbptt": {"optimizer": "adam", "lr": 0.01, "window": 20},
    "evolution": {"es": "sep-cmaes", "sigma": 0.5, "batch_size": 16, "popsize": 32},
}


def _wz(hidden: int, budget: int, **extra: Any) -> dict[str, Any]:
    return {
        "algo": "rtrl",
        "controller": {**_WZ_NET, "hidden": [hidden]},
        "max_sequences": budget,
        "per_algo": _WZ_ALGOS,
        **extra,
    }


# Long time lags (adding, temporal order: the relevant inputs lie 50-100 steps before the target).
# With the usual gate biases (input 0, forget 1) every distractor is written into the cells and
# what was written fades within ~4 steps (1 / (1 - sigmoid(1)) = 3.7), so the gradient from the
# last step never reaches the relevant inputs and the net sits at chance (temporal order, loss
# 2.25) or at the mean (adding, MSE/2 0.02). Input gates closed (sigmoid(-3) = 0.05: Hochreiter &
# Schmidhuber 1997 used negative input-gate biases) and forget gates open (memory ~e^5 = 150
# steps, the chrono initialisation of Tallec & Ollivier 2018 for lags ~T) fix both; neither
# alone is enough for the adding problem.
_LONG_LAG = {"input_bias": -3.0, "forget_bias": 5.0}


def _lstm(budget: int, long_lag: bool = False, **extra: Any) -> dict[str, Any]:
    per_algo = copy.deepcopy(_LSTM_ALGOS)
    if long_lag:  # the gate biases only where the net is the LSTM (not rtrl's)
        for name in ("bptt", "tbptt", "evolution"):
            per_algo[name].update(_LONG_LAG)
    return {
        "algo": "bptt",
        "controller": _LSTM,
        "max_sequences": budget,
        "per_algo": per_algo,
        **extra,
    }


# Fast-weight memory tasks (evorl.tasks.fast_weights). A fast weight programmer binds a key to
# the value shown after it only if its slow net sees the previous step (slow_recurrent): in Ba et
# al.'s strings the digit follows its letter. Ba et al.: 100,000 training, 20,000 test strings
# (their 10,000 validation strings are not used here), minibatches of 128.
_FW_ALGOS = {
    "rtrl": {"controller": {**_WZ_NET, "hidden": [24]}, "rtrl_mode": "epochwise", "lr": 0.01},
    "bptt": {"optimizer": "adam", "lr": 0.003},
    "tbptt": {"optimizer": "adam", "lr": 0.003, "window": 20},
    "evolution": {"es": "sep-cmaes", "sigma": 0.5, "batch_size": 64, "popsize": 32},
}


def _fast_weights(net: dict[str, Any], budget: int, **extra: Any) -> dict[str, Any]:
    return {
        "algo": "bptt",
        "controller": net,
        "max_sequences": budget,
        "per_algo": _FW_ALGOS,
        **extra,
    }


_ASSOC = {"kind": "fwp_delta", "hidden": [20], "slow_recurrent": True}
# Schlag et al.'s capacity task: a fixed memory of d_φ = 32 (DPFP-1 of 16-wide keys) holds S
# pairs; --task.keys=S moves S across it. Batches of 32 as their code; tested on 20 sequences,
# each queried with all its keys.
_KV = {"kind": "fwp_delta", "hidden": [32], "key_size": 16, "feature_map": "dpfp1"}

TASK_DEFAULTS: dict[str, dict[str, Any]] = {
    "xor": _wz(3, 20_000, eval_every=200, test_size=64),
    "recognition": _wz(3, 20_000, eval_every=200, test_size=64),  # W&Z: 2 units (solve ~1/2)
    "nonmatch": _wz(5, 40_000, eval_every=400, test_size=64),
    "parentheses": _wz(12, 50_000, eval_every=500, test_size=256),  # W&Z: 12 the fewest
    "osc01": _wz(1, 2_000, teacher_forcing=True, eval_every=20, test_size=1),
    "osc0011": _wz(2, 5_000, teacher_forcing=True, eval_every=20, test_size=1),
    "sine": _wz(2, 20_000, teacher_forcing=True, eval_every=50, test_size=1, lr=0.3),
    "reber": _lstm(50_000, eval_every=500),
    "adding": _lstm(
        200_000, True, batch_size=32, eval_every=3200, controller={**_LSTM, "hidden": [16]}
    ),
    "temporal_order": _lstm(200_000, True, batch_size=32, eval_every=3200),
    "assoc-retrieval": _fast_weights(
        _ASSOC,
        2_000_000,
        batch_size=128,
        train_size=100_000,
        test_size=20_000,
        eval_every=100_000,
    ),
    "kv-capacity": _fast_weights(_KV, 320_000, batch_size=32, test_size=20, eval_every=16_000),
    "kv-update": _fast_weights(_KV, 320_000, batch_size=32, test_size=20, eval_every=16_000),
}
"""Per task: the default algorithm, network and budget, and ``per_algo`` settings."""


def resolve_config(
    task: str,
    algo: str | None = None,
    overrides: list[str] = (),
    source: dict[str, Any] | None = None,
) -> FitConfig:
    """The run's config: defaults, then ``task``'s (for ``algo``), then ``source`` (a config
    file's data), then ``key=value`` overrides.

    ``task.KEY=VALUE`` overrides set task options (``task_options.KEY``).

    Raises:
        ConfigError: Unknown task, key or value.
    """
    if task not in TASK_DEFAULTS:
        raise ConfigError(f"unknown task {task!r}; known: {', '.join(TASK_DEFAULTS)}")
    source = copy.deepcopy(source or {})
    data = copy.deepcopy(TASK_DEFAULTS[task])
    per_algo = data.pop("per_algo")
    algo = algo or source.get("algo") or data["algo"]
    if algo not in ALGOS:
        raise ConfigError(f"algo must be one of {', '.join(ALGOS)}; got {algo!r}")
    tuned = copy.deepcopy(per_algo.get(algo, {}))
    data["controller"] = {**data["controller"], **tuned.pop("controller", {})}
    data.update(tuned, task=task, algo=algo, name=task)
    for key, value in source.items():
        if key == "controller" and isinstance(value, dict):
            data["controller"] = {**data["controller"], **value}
        else:
            data[key] = value
    fixed = [o.lstrip("-") for o in overrides]
    fixed = ["task_options." + o[5:] if o.startswith("task.") else o for o in fixed]
    return from_dict(FitConfig, apply_overrides(data, fixed))
