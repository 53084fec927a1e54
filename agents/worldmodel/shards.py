"""Episode shards on disk and streaming loaders that never hold the whole data set.

A shard is one episode in a compressed ``.npz`` (written atomically: a crash leaves no half
shard). Loaders visit the shards in a seeded random order, ``group`` shards at a time: the
group's items (frames, or sequence pieces of at most ``seq_len`` steps) are shuffled and
handed out in batches, so memory holds at most one group (plus a partial batch) whatever the
data set's size.

Example:
    >>> for frames in stream_frames(shard_paths("runs/tc/data"), 100, rng):  # doctest: +SKIP
    ...     frames.shape
    (100, 64, 64, 3)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from evorl.rundir import atomic_write


def shard_name(index: int) -> str:
    """File name of episode ``index``."""
    return f"ep_{index:06d}.npz"


def write_shard(path: Path, **arrays: np.ndarray) -> None:
    """Save ``arrays`` compressed to ``path`` atomically (temporary file, then rename)."""
    atomic_write(path, lambda fh: np.savez_compressed(fh, **arrays))


def read_shard(path: Path) -> dict[str, np.ndarray]:
    """All arrays of one shard."""
    with np.load(path) as data:
        return {key: data[key] for key in data.files}


def shard_paths(directory: str | Path) -> list[Path]:
    """The shards of a folder, in episode order."""
    return sorted(Path(directory).glob("ep_*.npz"))


def _groups(paths: list[Path], rng: np.random.Generator, group: int) -> Iterator[list[Path]]:
    order = rng.permutation(len(paths))
    for start in range(0, len(order), group):
        yield [paths[i] for i in order[start : start + group]]


def stream_frames(
    paths: list[Path], batch_size: int, rng: np.random.Generator, group: int = 16
) -> Iterator[np.ndarray]:
    """Shuffled uint8 frame batches (B, 64, 64, 3) over all shards; the last may be smaller."""
    carry = np.zeros((0, 64, 64, 3), np.uint8)
    for chunk in _groups(paths, rng, group):
        frames = np.concatenate([carry] + [read_shard(p)["obs"] for p in chunk])
        frames = frames[rng.permutation(len(frames))]
        full = len(frames) // batch_size * batch_size
        for start in range(0, full, batch_size):
            yield frames[start : start + batch_size]
        carry = frames[full:]
    if len(carry):
        yield carry


def sequence_pieces(episode: dict[str, np.ndarray], seq_len: int) -> list[dict[str, np.ndarray]]:
    """Cut one encoded episode into pieces of at most ``seq_len`` transitions.

    An episode holds ``mu``/``logvar`` (T+1, z) of every frame and ``action`` (T, A), ``reward``
    and ``done`` (T,) of every transition; a piece holds the same keys over its own steps, with
    ``mu``/``logvar`` one longer (the frame after its last transition).
    """
    steps = len(episode["reward"])
    pieces = []
    for start in range(0, steps, seq_len):
        stop = min(start + seq_len, steps)
        piece = {k: episode[k][start : stop + 1] for k in ("mu", "logvar")}
        piece.update({k: episode[k][start:stop] for k in ("action", "reward", "done")})
        pieces.append(piece)
    return pieces


def pad_batch(pieces: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Stack pieces time-major, zero-padded to the longest piece; ``mask`` (T, B) marks real
    steps. Padding to the batch's own longest piece, not to ``seq_len``, keeps whole-episode
    training (``seq_len`` above every episode's length) from running the LSTM over padding."""
    length = max(len(piece["reward"]) for piece in pieces)
    batch: dict[str, np.ndarray] = {}
    for key in ("mu", "logvar", "action", "reward", "done"):
        extra = 1 if key in ("mu", "logvar") else 0
        first = pieces[0][key]
        out = np.zeros((length + extra, len(pieces), *first.shape[1:]), first.dtype)
        for b, piece in enumerate(pieces):
            out[: len(piece[key]), b] = piece[key]
        batch[key] = out
    mask = np.zeros((length, len(pieces)), bool)
    for b, piece in enumerate(pieces):
        mask[: len(piece["reward"]), b] = True
    batch["mask"] = mask
    return batch


def stream_sequences(
    paths: list[Path], seq_len: int, batch_size: int, rng: np.random.Generator, group: int = 64
) -> Iterator[dict[str, np.ndarray]]:
    """Shuffled, padded batches of sequence pieces (see :func:`pad_batch`) over all shards."""
    carry: list[dict[str, np.ndarray]] = []
    for chunk in _groups(paths, rng, group):
        pieces = carry + [p for path in chunk for p in sequence_pieces(read_shard(path), seq_len)]
        pieces = [pieces[i] for i in rng.permutation(len(pieces))]
        full = len(pieces) // batch_size * batch_size
        for start in range(0, full, batch_size):
            yield pad_batch(pieces[start : start + batch_size])
        carry = pieces[full:]
    if carry:
        yield pad_batch(carry)
