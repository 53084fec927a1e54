"""Associative memory tasks for fast-weight controllers, as seeded data generators (numpy only).

* :class:`AssociativeRetrieval`: Ba, Hinton, Mnih, Leibo & Ionescu, "Using fast weights to attend
  to the recent past", NIPS 2016, sec. 4.1. K key-value pairs of a letter (drawn without
  replacement from a-z) and a digit (0-9, with replacement), the separator ``??``, then one of
  the K letters as the query; the target is its digit: ``c9k8j3f1??c`` -> 9, ``j0a5s5z2??a`` -> 5
  (the paper's examples, K = 4). One character per step, one-hot over the 37 symbols
  a-z, 0-9, ``?``; 100,000 training, 10,000 validation and 20,000 test sequences
  (:data:`SPLITS`). The score is the classification error on the test set.
* :class:`KeyValueRetrieval`: Schlag, Irie & Schmidhuber, "Linear Transformers are secretly
  fast weight programmers", ICML 2021, sec. 6.1, as in their released code
  (github.com/ischlag/fast-weight-transformers, ``synthetic/``). S keys and S values; a
  sequence of L (key, value) pairs, then a query key, whose target is the value last paired
  with it, one-hot in R^S (the values form an orthonormal basis). Setting 1 (capacity): keys
  and values drawn without replacement, L = S, S = 20, 40, ..., 600 (:data:`CAPACITY_KEYS`);
  setting 2 (update rules): with replacement, L = 2S, S = 20, ..., 200, so keys recur and the
  memory must overwrite. The retrieval error is the loss 1/2 Σ_j (v̂_j - v_j)^2 averaged over
  queries (:func:`retrieval_loss`), evaluated on 20 sequences with every key of each queried
  (:meth:`KeyValueRetrieval.all_queries`: 20 S queries in setting 1). Their model reads keys
  of width d_key = 64 before φ (:data:`SCHLAG_KEY_SIZE`), trains with batches of 32 and stops
  when the evaluation loss reaches 0.001 or has not improved for 1,000 steps.

Both return :class:`~evorl.tasks.sequences.SequenceBatch` in that module's conventions (time-major,
``targets[t]`` the desired output after reading ``inputs[t]``, ``mask`` marking the scored
targets: here the query step only), so ``evorl fit`` can train on them.

Our adaptation for a single-stream recurrent controller: in :class:`KeyValueRetrieval` a step
shows ``[one_hot(key), one_hot(value), 0]`` and the query step ``[one_hot(query), 0, 1]``; the
paper's model instead reads the pairs and the query through separate maps (k = W_K [e(k); v],
q = W_Q e(q), with a learned embedding e), which the flag and the zero value stand in for.

Example:
    >>> import numpy as np
    >>> task = AssociativeRetrieval()
    >>> codes, digits = task.sample_codes(2, np.random.default_rng(0))
    >>> len(decode(codes)[0]), task.sample(2, np.random.default_rng(0)).inputs.shape
    (11, (11, 2, 37))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from evorl.tasks.sequences import SequenceBatch, SequenceTask

LETTERS = "abcdefghijklmnopqrstuvwxyz"
DIGITS = "0123456789"
SEPARATOR = "?"
SYMBOLS = LETTERS + DIGITS + SEPARATOR
"""The 37 one-hot input lines of the associative retrieval task, in this order."""

SPLITS = {"train": 100_000, "valid": 10_000, "test": 20_000}
"""Ba et al.'s data set sizes (sequences)."""

CAPACITY_KEYS = tuple(range(20, 601, 20))
"""S of Schlag et al.'s setting 1; setting 2 uses S = 20, ..., 200 (:data:`UPDATE_KEYS`)."""

UPDATE_KEYS = tuple(range(20, 201, 20))
"""S of Schlag et al.'s setting 2 (with replacement, L = 2S)."""

SCHLAG_KEY_SIZE = 64
"""d_key, the width of keys and queries before φ in Schlag et al.'s synthetic models."""

EVAL_SEQUENCES = 20
"""Sequences per evaluation in Schlag et al.'s protocol, each queried with all its keys."""


def _query_step_batch(inputs: np.ndarray, target: np.ndarray) -> SequenceBatch:
    """Batch with inputs (T, B, m) and one scored one-hot target (B, k) at the last step."""
    steps, batch = inputs.shape[:2]
    targets = np.zeros((steps, batch, target.shape[1]))
    targets[-1] = target
    mask = np.zeros(targets.shape, dtype=bool)
    mask[-1] = True
    return SequenceBatch(inputs, targets, mask, np.full(batch, steps, dtype=np.int64))


def _argmax_correct(predictions: np.ndarray, data: SequenceBatch) -> np.ndarray:
    """(B,) bool: the largest output at the query step is the target's one."""
    return predictions[-1].argmax(axis=-1) == data.targets[-1].argmax(axis=-1)


def decode(codes: np.ndarray) -> list[str]:
    """Associative retrieval strings (``c9k8j3f1??c``) from symbol codes (n, 2K + 3)."""
    return ["".join(SYMBOLS[c] for c in row) for row in np.asarray(codes)]


def encode(strings: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Symbol codes (n, 2K + 3) and target digits (n,) of associative retrieval strings.

    Raises:
        ValueError: A string that is not K letter-digit pairs, ``??`` and one of the K letters.
    """
    codes, digits = [], []
    for s in strings:
        pairs, sep, query = s[:-3], s[-3:-1], s[-1:]
        keys, values = pairs[0::2], pairs[1::2]
        ok = len(pairs) % 2 == 0 and sep == "??" and query in keys and len(set(keys)) == len(keys)
        if not (ok and set(keys) <= set(LETTERS) and set(values) <= set(DIGITS)):
            raise ValueError(f"not an associative retrieval string: {s!r}")
        codes.append([SYMBOLS.index(c) for c in s])
        digits.append(int(values[keys.index(query)]))
    return np.array(codes, dtype=np.int64), np.array(digits, dtype=np.int64)


@dataclass(frozen=True)
class AssociativeRetrieval(SequenceTask):
    """Ba et al. (2016, sec. 4.1): recall the digit paired with the queried letter.

    ``inputs`` (2K + 3, B, 37) one-hot over :data:`SYMBOLS`; ``targets`` (2K + 3, B, 10), the
    target digit one-hot at the last step (the query letter), masked elsewhere.
    """

    pairs: int = 4
    """K, the letter-digit pairs before the query (4 in all the paper's examples)."""
    input_dim = len(SYMBOLS)
    output_dim = len(DIGITS)
    target_kind = "class"

    @property
    def length(self) -> int:
        """Steps per sequence, 2K + 3."""
        return 2 * self.pairs + 3

    def sample_codes(self, batch: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Symbol codes (B, 2K + 3) into :data:`SYMBOLS` and target digits (B,) of B sequences."""
        if not 1 <= self.pairs <= len(LETTERS):
            raise ValueError(f"pairs must be in 1..{len(LETTERS)}, got {self.pairs}")
        keys = np.argsort(rng.random((batch, len(LETTERS))), axis=1)[:, : self.pairs]
        values = rng.integers(0, len(DIGITS), size=(batch, self.pairs))
        which = rng.integers(0, self.pairs, size=batch)
        rows = np.arange(batch)
        codes = np.empty((batch, self.length), dtype=np.int64)
        codes[:, 0 : 2 * self.pairs : 2] = keys
        codes[:, 1 : 2 * self.pairs : 2] = len(LETTERS) + values
        codes[:, -3:-1] = SYMBOLS.index(SEPARATOR)
        codes[:, -1] = keys[rows, which]
        return codes, values[rows, which]

    def batch(self, codes: np.ndarray, digits: np.ndarray) -> SequenceBatch:
        """The one-hot :class:`SequenceBatch` of codes (B, 2K + 3) and target digits (B,)."""
        inputs = np.eye(self.input_dim)[np.asarray(codes).T]
        return _query_step_batch(inputs, np.eye(self.output_dim)[np.asarray(digits)])

    def sample(self, batch: int, rng: np.random.Generator) -> SequenceBatch:
        return self.batch(*self.sample_codes(batch, rng))

    def fixed_set(
        self, size: int, seed: np.random.SeedSequence
    ) -> Callable[[np.ndarray], SequenceBatch]:
        """A fixed set of ``size`` sequences drawn at once from ``seed`` as symbol codes
        (8.8 MB for Ba et al.'s 100,000), one-hot encoded a batch at a time."""
        codes, digits = self.sample_codes(size, np.random.default_rng(seed))
        return lambda index: self.batch(codes[index], digits[index])

    def splits(self, rng: np.random.Generator) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """The paper's train / valid / test sets as (codes, digits) (one-hot them with
        :meth:`batch` a minibatch at a time: the 130,000 sequences one-hot take 0.4 GB)."""
        return {name: self.sample_codes(size, rng) for name, size in SPLITS.items()}

    def correct(self, predictions: np.ndarray, data: SequenceBatch) -> np.ndarray:
        """(B,) bool: the largest of the 10 outputs at the query step is the target digit."""
        return _argmax_correct(predictions, data)


@dataclass(frozen=True)
class KeyValueRetrieval(SequenceTask):
    """Schlag et al. (2021, sec. 6.1): recall the value last paired with the query key.

    ``inputs`` (L + 1, B, 2S + 1): steps t < L show ``[one_hot(key), one_hot(value), 0]``, step
    L shows ``[one_hot(query), 0, 1]``; ``targets`` (L + 1, B, S), the value one-hot at step L.
    """

    keys: int = 20
    """S, the number of keys and of values."""
    replace: bool = False
    """Setting 2: draw keys and values with replacement and show L = 2S pairs (setting 1:
    without replacement, L = S: every key once, paired with a permutation of the values)."""
    target_kind = "real"

    @property
    def input_dim(self) -> int:
        return 2 * self.keys + 1

    @property
    def output_dim(self) -> int:
        return self.keys

    @property
    def pairs(self) -> int:
        """L, the (key, value) pairs before the query."""
        return 2 * self.keys if self.replace else self.keys

    def _pairs(self, batch: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        if self.keys < 1:
            raise ValueError(f"keys must be >= 1, got {self.keys}")

        def draw() -> np.ndarray:
            if self.replace:
                return rng.integers(0, self.keys, size=(batch, self.pairs))
            return np.argsort(rng.random((batch, self.keys)), axis=1)  # permutations

        return draw(), draw()

    def _batch(self, k: np.ndarray, v: np.ndarray, query_at: np.ndarray) -> SequenceBatch:
        """Sequences of keys k and values v (B, L), queried with the key at ``query_at`` (B,)."""
        batch, s, rows = k.shape[0], self.keys, np.arange(k.shape[0])
        inputs = np.zeros((self.pairs + 1, batch, self.input_dim))
        eye = np.eye(s)
        inputs[:-1, :, :s] = eye[k.T]
        inputs[:-1, :, s : 2 * s] = eye[v.T]
        inputs[-1, :, :s] = eye[k[rows, query_at]]
        inputs[-1, :, -1] = 1.0
        return _query_step_batch(inputs, eye[v[rows, query_at]])

    def sample(self, batch: int, rng: np.random.Generator) -> SequenceBatch:
        """B sequences, each queried with one of its keys chosen uniformly (the last pair holding
        it answers), as in the released code's training batches."""
        k, v = self._pairs(batch, rng)
        chosen = k[np.arange(batch), rng.integers(0, self.pairs, size=batch)]
        last = self.pairs - 1 - np.argmax((k == chosen[:, None])[:, ::-1], axis=1)
        return self._batch(k, v, last)

    def all_queries(
        self, rng: np.random.Generator, sequences: int = EVAL_SEQUENCES
    ) -> SequenceBatch:
        """The evaluation batch: ``sequences`` sequences, each repeated once per distinct key it
        holds and queried with it (S per sequence in setting 1)."""
        k, v = self._pairs(sequences, rng)
        rows, at = [], []
        for b in range(sequences):
            last = {int(key): t for t, key in enumerate(k[b])}  # later pairs overwrite
            rows += [b] * len(last)
            at += [last[key] for key in sorted(last)]
        return self._batch(k[rows], v[rows], np.array(at, dtype=np.int64))

    def sample_test(self, count: int, rng: np.random.Generator) -> SequenceBatch:
        """Schlag et al.'s evaluation: ``count`` sequences, each queried with every key it holds
        (:meth:`all_queries`), so the test loss is their retrieval error."""
        return self.all_queries(rng, count)

    def correct(self, predictions: np.ndarray, data: SequenceBatch) -> np.ndarray:
        """(B,) bool: the largest output at the query step is the target value's."""
        return _argmax_correct(predictions, data)


def retrieval_loss(predictions: np.ndarray, data: SequenceBatch) -> float:
    """Schlag et al.'s retrieval error: 1/2 Σ_j (v̂_j - v_j)^2 at the query step, mean over B.

    Args:
        predictions: (T, B, S) outputs; only the query step (the last) is scored.
        data: The batch they answer.
    """
    err = np.where(data.mask, predictions - data.targets, 0.0)
    return float(0.5 * np.square(err).sum(axis=(0, 2)).mean())
