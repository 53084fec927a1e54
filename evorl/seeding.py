"""Seeds for everything random in a run, derived from one ``numpy.random.SeedSequence``.

Every random quantity is a pure function of the run seed and *where* it is used (which stream,
which generation), never of how much randomness was drawn before. That is what makes a resumed
run, or a run evaluated on a different number of workers, bit-identical to an uninterrupted one.
"""

from __future__ import annotations

import numpy as np

# Spawn-key tags of the independent streams of a run.
STREAM_INIT = 0
STREAM_OPTIMIZER = 1
STREAM_TRAIN_EPISODES = 2
STREAM_TEST_EPISODES = 3


def stream(seed: int, *key: int) -> np.random.SeedSequence:
    """The seed sequence of stream ``key`` of the run seeded with ``seed``."""
    return np.random.SeedSequence(entropy=seed, spawn_key=tuple(int(k) for k in key))


def int_seed(seed: int, *key: int) -> int:
    """A positive 31-bit integer seed for libraries that want an int (pycma, torch, Gymnasium).

    Never 0: pycma reads 0 (and None) as "seed from the clock".
    """
    return int(stream(seed, *key).generate_state(1, np.uint32)[0] % (2**31 - 2)) + 1


def episode_seeds(seed: int, stream_tag: int, generation: int, count: int) -> np.ndarray:
    """``count`` Gymnasium reset seeds for one generation's episodes (shared by all individuals).

    All individuals of a generation meet the same start states (common random numbers), which
    makes their ranking less noisy.
    """
    state = stream(seed, stream_tag, generation).generate_state(count, np.uint32)
    return (state % np.uint32(2**31 - 1)).astype(np.int64)
