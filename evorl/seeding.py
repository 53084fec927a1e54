"""Seeds for everything random in a run, derived from one ``numpy.random.SeedSequence``.

Every random quantity is a pure function of the run seed and *where* it is used (which stream,
which generation), never of how much randomness was drawn before. That is what makes a resumed
run, or a run evaluated on a different number of workers, bit-identical to an uninterrupted one.
"""

from __future__ import annotations

import numpy as np

# Spawn-key tags of the independent streams of a run: every tag evorl and its agents use is here.
# A tag is unique within the kind of run that uses it (two kinds never share a run, so the few
# numbers reused across kinds never meet).

# Every run
STREAM_INIT = 0  # the controller's initial weights
STREAM_OPTIMIZER = 1  # the optimizer's generator
STREAM_TRAIN_EPISODES = 2  # training episodes' reset seeds (and supervised training batches)
STREAM_TEST_EPISODES = 3  # test episodes (and the supervised test set)

# Supervised fitting and sequence labelling (evorl fit)
STREAM_TRAIN_SET = 4  # a fixed training set: sequence i from stream (seed, 4, i)
STREAM_EPOCHS = 5  # sequence labelling: each epoch's order of the training sequences
STREAM_WEIGHT_NOISE = 6  # sequence labelling: adaptive weight noise draws

# Gradient training (evorl train), per update
STREAM_ACTIONS = 10  # action sampling
STREAM_MINIBATCH = 11  # PPO minibatch order
STREAM_RESETS = 12  # reset seeds of episodes that end inside a rollout
STREAM_VALUE_INIT = 13  # the value head's initial weights

# The glimpse agent (evorl glimpse)
STREAM_TEST_CANVASES = 7  # the fixed test canvases
STREAM_TRAIN_CANVASES = 8  # each epoch's training canvases
STREAM_BATCHES = 9  # minibatch order and location noise
STREAM_CATCH_TRAIN = 10  # training episodes of Catch
STREAM_CATCH_TEST = 11  # test episodes of Catch
STREAM_CATCH_NOISE = 12  # action and location sampling on Catch

# The world model (evorl wm)
STREAM_COLLECT = 101  # each collected episode's policy noise
STREAM_VAE = 102  # V's initial weights and each epoch's batches
STREAM_RNN = 103  # M's initial weights and each epoch's batches
STREAM_DIAGNOSE = 104  # held-out episodes and populations of the diagnostics
STREAM_ITERATE = 105  # each round's controller-driven episodes and its evolution's seed

# Evolino (evorl bench timeseries)
STREAM_TEACHER_NOISE = 110  # the noise on the teacher-forced inputs (EvolinoConfig.teacher_noise)


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
