"""Supervised sequence tasks as seeded data generators (inputs, targets, loss mask).

The classic tasks of recurrent-net learning, each a frozen dataclass whose fields are the task's
parameters and whose :meth:`SequenceTask.sample` draws a :class:`SequenceBatch` from an explicit
``numpy.random.Generator``:

* Williams & Zipser, "A learning algorithm for continually running fully recurrent neural
  networks", Neural Computation 1(2), 1989, section 3: pipelined XOR (3.1), simple sequence
  recognition (3.2), delayed non-match to sample (3.3), the balanced-parentheses Turing machine
  controller (3.4) and learning to oscillate (3.5).
* Hochreiter & Schmidhuber, "Long short-term memory", Neural Computation 9(8), 1997: the embedded
  Reber grammar (experiment 1), the adding problem (experiment 4) and temporal order (6a/6b).

**Time convention.** ``inputs[t]`` is x(t); ``targets[t]`` is the desired value of the output
produced *by* step t (Williams & Zipser's d(t+1), the net's y(t+1) = f(W z(t))), so an output
may depend on ``inputs[0..t]``. A target the paper places τ steps after input t (its computation
delay, e.g. τ = 2 for XOR through one hidden layer) sits at index ``t + τ - 1``. ``mask`` marks
which targets exist (the paper's T(t)); the loss and the success criteria ignore the rest.
Sequences of unequal length are padded at the end with zero inputs and masked targets.

Example:
    >>> import numpy as np
    >>> task = make_task("xor", delay=3)
    >>> batch = task.sample(4, np.random.default_rng(0))
    >>> batch.inputs.shape, batch.targets.shape
    ((40, 4, 2), (40, 4, 1))
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np


class SequenceBatch(NamedTuple):
    """A batch of B sequences, time-major, padded to the longest (T steps)."""

    inputs: np.ndarray
    """(T, B, input_dim) float64."""
    targets: np.ndarray
    """(T, B, output_dim) float64; meaningful only where ``mask``."""
    mask: np.ndarray
    """(T, B, output_dim) bool: which targets are specified."""
    lengths: np.ndarray
    """(B,) int64: valid steps of each sequence; steps beyond are padding."""


def _pad(seqs: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> SequenceBatch:
    """Stack per-sequence (inputs (L, m), targets (L, k), mask (L, k)) into a padded batch."""
    lengths = np.array([len(x) for x, _, _ in seqs], dtype=np.int64)
    steps, batch = int(lengths.max()), len(seqs)
    m, k = seqs[0][0].shape[1], seqs[0][1].shape[1]
    x, d = np.zeros((steps, batch, m)), np.zeros((steps, batch, k))
    mask = np.zeros((steps, batch, k), dtype=bool)
    for b, (xb, db, mb) in enumerate(seqs):
        x[: len(xb), b], d[: len(xb), b], mask[: len(xb), b] = xb, db, mb
    return SequenceBatch(x, d, mask, lengths)


class SequenceTask:
    """Base of the tasks: dimensions, the kind of targets and the success criterion.

    ``target_kind`` is "binary" (0/1 targets, one unit each; trained with a logistic output),
    "class" (a one-hot target over the output units at each scored step; trained with a softmax
    and cross-entropy) or "real". A sequence counts as correct when every scored output is
    within ``tolerance`` of its target (0.5 for binary targets: on the right side of 0.5),
    ignoring steps before ``free_run_from`` (the warm-up of the oscillators, fed by the
    teacher at test time).
    """

    input_dim: int
    output_dim: int
    target_kind: str = "binary"
    tolerance: float = 0.5
    free_run_from: int = 0

    def sample(self, batch: int, rng: np.random.Generator) -> SequenceBatch:
        """Draw ``batch`` sequences."""
        raise NotImplementedError

    def fixed_set(
        self, size: int, seed: np.random.SeedSequence
    ) -> Callable[[np.ndarray], SequenceBatch]:
        """A fixed set of ``size`` sequences, as a function from indices (n,) to their batch.

        Sequence i is drawn from its own stream (``seed``'s spawn key extended by i), so the set
        needs no memory and does not depend on which sequences are picked when; a task with a
        compact encoding of its sequences may instead draw the whole set at once.
        """

        def pick(index: np.ndarray) -> SequenceBatch:
            key = tuple(seed.spawn_key)
            streams = (
                np.random.SeedSequence(seed.entropy, spawn_key=(*key, int(i))) for i in index
            )
            return concat_batches([self.sample(1, np.random.default_rng(s)) for s in streams])

        return pick

    def sample_test(self, count: int, rng: np.random.Generator) -> SequenceBatch:
        """The test set of ``count`` sequences (default: ``count`` draws as for training; a
        task whose protocol tests differently, e.g. every key of a sequence queried, says so)."""
        return self.sample(count, rng)

    def correct(self, predictions: np.ndarray, data: SequenceBatch) -> np.ndarray:
        """(B,) bool: which sequences the predictions (T, B, output_dim) get right."""
        err = np.abs(predictions - data.targets) >= self.tolerance
        err &= data.mask
        err[: self.free_run_from] = False
        return ~err.any(axis=(0, 2))


# ------------------------------------------------------------ Williams & Zipser 1989


@dataclass(frozen=True)
class PipelinedXOR(SequenceTask):
    """Pipelined XOR (Williams & Zipser 1989, 3.1): the XOR of the two input bits τ steps ago.

    Two random bits arrive every step; the target at paper time t is XOR of the inputs at
    t - τ, i.e. ``targets[t] = inputs[t - τ + 1, 0] ^ inputs[t - τ + 1, 1]``. With τ = 2 a
    3-unit net configures itself as a 2-hidden-unit feed-forward XOR net. No teacher forcing.
    """

    delay: int = 2
    """τ, the computation delay (the paper uses 2, 3, 4)."""
    length: int = 40
    """Steps per sequence."""
    input_dim = 2
    output_dim = 1

    def sample(self, batch: int, rng: np.random.Generator) -> SequenceBatch:
        if not 1 <= self.delay <= self.length:
            raise ValueError(f"delay must be in 1..length, got {self.delay}")
        bits = rng.integers(0, 2, size=(self.length, batch, 2))
        lag = self.delay - 1
        d = np.zeros((self.length, batch, 1))
        d[lag:, :, 0] = bits[: self.length - lag, :, 0] ^ bits[: self.length - lag, :, 1]
        mask = np.zeros_like(d, dtype=bool)
        mask[lag:] = True
        return SequenceBatch(bits.astype(float), d, mask, np.full(batch, self.length))


@dataclass(frozen=True)
class SequenceRecognition(SequenceTask):
    """Simple sequence recognition (Williams & Zipser 1989, 3.2): an ``a`` then, later, a ``b``.

    Exactly one of ``lines`` input lines is on each step (line 0 is ``a``, line 1 is ``b``, the
    rest are distractors). The output is 1 right after the first ``b`` that follows an ``a``
    (which is then used up), 0 otherwise — a flip-flop and an AND gate.
    """

    lines: int = 4
    """m >= 2 input lines: a, b and m - 2 distractors."""
    length: int = 30
    """Steps per sequence."""
    output_dim = 1

    @property
    def input_dim(self) -> int:
        return self.lines

    def sample(self, batch: int, rng: np.random.Generator) -> SequenceBatch:
        if self.lines < 2:
            raise ValueError("lines must be >= 2")
        sym = rng.integers(0, self.lines, size=(self.length, batch))
        d = np.zeros((self.length, batch, 1))
        pending = np.zeros(batch, dtype=bool)
        for t in range(self.length):
            fire = pending & (sym[t] == 1)
            d[t, :, 0] = fire
            pending = (pending & ~fire) | (sym[t] == 0)
        x = np.eye(self.lines)[sym]
        return SequenceBatch(x, d, np.ones_like(d, dtype=bool), np.full(batch, self.length))


@dataclass(frozen=True)
class DelayedNonMatch(SequenceTask):
    """Delayed non-match to sample (Williams & Zipser 1989, 3.3).

    Inputs: a random pattern bit and a random cue bit. A cue stores the pattern bit shown with
    it (until the next cue); on every later non-cue step the net outputs 1 if the pattern bit
    differs from the stored one, 0 if it matches, with computation delay τ (an XOR inside).
    Steps before the first cue, and cue steps, have no target (our reading of the paper).
    """

    delay: int = 2
    """τ, as for the pipelined XOR."""
    length: int = 30
    """Steps per sequence."""
    cue_prob: float = 0.25
    """Probability of a cue on each step (the paper: "set randomly")."""
    input_dim = 2
    output_dim = 1

    def sample(self, batch: int, rng: np.random.Generator) -> SequenceBatch:
        pattern = rng.integers(0, 2, size=(self.length, batch))
        cue = rng.random((self.length, batch)) < self.cue_prob
        d = np.zeros((self.length, batch, 1))
        mask = np.zeros_like(d, dtype=bool)
        stored = np.full(batch, -1)
        lag = self.delay - 1
        for t in range(self.length - lag):
            scored = ~cue[t] & (stored >= 0)
            d[t + lag, :, 0] = pattern[t] != stored
            mask[t + lag, :, 0] = scored
            stored = np.where(cue[t], pattern[t], stored)
        x = np.stack([pattern, cue], axis=-1).astype(float)
        return SequenceBatch(x, d, mask, np.full(batch, self.length))


TM_SYMBOLS = "()XA"
"""Tape alphabet of the parentheses machine: the two parentheses, the cross-out X, the end A."""


def run_parentheses_machine(string: str) -> tuple[list[str], list[tuple[int, int, int, int]]]:
    """Run the balanced-parentheses Turing machine on ``string``.

    The machine (tape ``A string A``, head on the first character): state 0 scans right for a
    ``)``, crosses it out and turns left (state 1); state 1 scans left for a ``(``, crosses it
    out and turns right (state 0); reaching the right ``A`` in state 0 it turns left to check
    (state 2) that no ``(`` is left. State 1 meeting the left ``A``, or state 2 meeting a ``(``,
    halts rejecting; state 2 meeting the left ``A`` halts accepting.

    Returns:
        The symbols read, one per step, and the actions as (writes X, moves right, halts,
        accepts) per step.
    """
    tape, head, state = ["A", *string, "A"], 1, 0
    reads, actions = [], []
    while True:
        sym = tape[head]
        reads.append(sym)
        if state == 0 and sym == ")":
            tape[head], state, act = "X", 1, (1, 0, 0, 0)
        elif state == 0 and sym == "A":
            state, act = 2, (0, 0, 0, 0)
        elif state == 0:
            act = (0, 1, 0, 0)
        elif state == 1 and sym == "(":
            tape[head], state, act = "X", 0, (1, 1, 0, 0)
        elif sym == "X":
            act = (0, 0, 0, 0)
        else:  # state 1 at the left A, state 2 at a "(" (reject) or at the left A (accept)
            actions.append((0, 0, 1, int(state == 2 and sym == "A")))
            return reads, actions
        actions.append(act)
        head += 1 if act[1] else -1


@dataclass(frozen=True)
class BalancedParentheses(SequenceTask):
    """Learning to be a Turing machine (Williams & Zipser 1989, 3.4): balanced parentheses.

    The net reads the symbol under the head of :func:`run_parentheses_machine` each step (one-hot
    over ``( ) X A``) and must emit the controller's action — writes X, moves right, halts,
    accepts — without seeing its state, with computation delay τ (our choice: the paper leaves
    the timing open). "Moves" and "writes" are scored on non-halting steps, "accepts" on the
    halting step, "halts" always. Half the strings are balanced (random Dyck words).
    """

    max_len: int = 6
    """Longest parenthesis string; lengths are uniform in 1..max_len."""
    delay: int = 2
    """τ: the action of step t is the target at index t + τ - 1."""
    input_dim = 4
    output_dim = 4

    def string(self, rng: np.random.Generator) -> str:
        """One random string of parentheses (half of them balanced)."""
        n = int(rng.integers(1, self.max_len + 1))
        if rng.random() < 0.5 and n >= 2:
            while True:  # a uniform Dyck word by rejection (p = 1 / (k + 1))
                s = "".join(rng.permutation(list("(" * (n // 2) + ")" * (n // 2))))
                if balanced(s):
                    return s
        return "".join(rng.choice(list("()"), size=n))

    def sample(self, batch: int, rng: np.random.Generator) -> SequenceBatch:
        lag, seqs = self.delay - 1, []
        for _ in range(batch):
            reads, actions = run_parentheses_machine(self.string(rng))
            steps = len(reads) + lag
            x, d = np.zeros((steps, 4)), np.zeros((steps, 4))
            mask = np.zeros((steps, 4), dtype=bool)
            x[np.arange(len(reads)), [TM_SYMBOLS.index(s) for s in reads]] = 1.0
            d[lag:] = actions
            mask[lag:] = [(not a[2], not a[2], True, bool(a[2])) for a in actions]
            seqs.append((x, d, mask))
        return _pad(seqs)


def balanced(string: str) -> bool:
    """Whether a string of parentheses is balanced (the language the machine decides)."""
    depth = 0
    for ch in string:
        depth += 1 if ch == "(" else -1
        if depth < 0:
            return False
    return depth == 0


@dataclass(frozen=True)
class Oscillation(SequenceTask):
    """Learning to oscillate (Williams & Zipser 1989, 3.5); only teacher forcing solves these.

    No external input (one constant-zero line, since controllers need one; the bias is the
    net's own). The desired output is d(t) = pattern[t mod period] for "01" and "0011", and
    d(t) = 0.5 + 0.4 sin(2πt / period) for "sine", so ``targets[t] = d(t + 1)``. Tests feed
    the teacher's values for the first ``free_run_from`` steps (one period: that sets the phase,
    which a zero initial state need not match), then let the net run free.
    """

    pattern: str = "01"
    """"01" (one unit), "0011" (two units) or "sine" (two units)."""
    length: int = 50
    """Steps per sequence."""
    period: float = 25.0
    """Period of the sinusoid, in steps."""
    free_run_from: int = 0
    """Teacher-forced warm-up steps at test time (none are scored)."""
    input_dim = 1
    output_dim = 1

    @property
    def target_kind(self) -> str:
        return "real" if self.pattern == "sine" else "binary"

    @property
    def tolerance(self) -> float:
        return 0.1 if self.pattern == "sine" else 0.5

    def sample(self, batch: int, rng: np.random.Generator) -> SequenceBatch:
        t = np.arange(1, self.length + 1)
        if self.pattern == "sine":
            d = 0.5 + 0.4 * np.sin(2 * np.pi * t / self.period)
        elif self.pattern in ("01", "0011"):
            d = np.array([int(c) for c in self.pattern])[t % len(self.pattern)].astype(float)
        else:
            raise ValueError(f"pattern must be '01', '0011' or 'sine', got {self.pattern!r}")
        d = np.broadcast_to(d[:, None, None], (self.length, batch, 1)).copy()
        x = np.zeros((self.length, batch, 1))
        return SequenceBatch(x, d, np.ones_like(d, dtype=bool), np.full(batch, self.length))


# ------------------------------------------------------------ Hochreiter & Schmidhuber 1997

REBER_SYMBOLS = "BTPSXVE"
"""The seven symbols of the (embedded) Reber grammar, in input/output unit order."""

_REBER = {0: "T1P2", 1: "S1X3", 2: "T2V4", 3: "X2S5", 4: "P3V5"}  # state: (symbol, next) pairs
EMBEDDED_REBER_REGEX = re.compile(
    r"^B([TP])B(TS*X(XT*VP)*(S|XT*VV)|PT*V(V|P(XT*VP)*(S|XT*VV)))E\1E$"
)
"""The embedded Reber language as a regular expression (an independent check of the generator)."""


def _reber_moves(state: Any) -> dict[str, Any]:
    """Allowed next symbols of the embedded Reber automaton and where each one leads."""
    if state == "start":
        return {"B": "branch"}
    if state == "branch":
        return {"T": ("T", "B"), "P": ("P", "B")}
    if state == "last":
        return {"E": "done"}
    if state == "done":
        return {}
    branch, s = state  # inside the embedded Reber string of the chosen branch
    if s == "B":
        return {"B": (branch, 0)}
    if s == 5:
        return {"E": (branch, "E")}
    if s == "E":
        return {branch: "last"}
    pairs = _REBER[s]
    return {pairs[0]: (branch, int(pairs[1])), pairs[2]: (branch, int(pairs[3]))}


def embedded_reber_accepts(string: str) -> bool:
    """Whether ``string`` belongs to the embedded Reber grammar."""
    state: Any = "start"
    for ch in string:
        moves = _reber_moves(state)
        if ch not in moves:
            return False
        state = moves[ch]
    return state == "done"


@dataclass(frozen=True)
class EmbeddedReber(SequenceTask):
    """Embedded Reber grammar (Hochreiter & Schmidhuber 1997, experiment 1; Cleeremans et al. 1989).

    Strings ``B T <Reber> T E`` or ``B P <Reber> P E`` arrive one symbol per step (one-hot over
    BTPSXVE); the target is the set of possible next symbols (multi-hot). Predicting the
    second-to-last symbol requires remembering the second one across the whole inner string.
    A string counts as correct when at every step the allowed next symbols are the most active
    outputs (the 1997 criterion); LSTM needed 8,440 training strings on average.
    """

    input_dim = 7
    output_dim = 7

    def string(self, rng: np.random.Generator) -> str:
        """One string of the grammar, each branch taken with equal probability."""
        state: Any = "start"
        out = []
        while moves := _reber_moves(state):
            sym = list(moves)[int(rng.integers(len(moves)))]
            out.append(sym)
            state = moves[sym]
        return "".join(out)

    def sample(self, batch: int, rng: np.random.Generator) -> SequenceBatch:
        seqs = []
        for _ in range(batch):
            s = self.string(rng)
            x, d = np.zeros((len(s), 7)), np.zeros((len(s), 7))
            x[np.arange(len(s)), [REBER_SYMBOLS.index(c) for c in s]] = 1.0
            state: Any = "start"
            for t, ch in enumerate(s):
                state = _reber_moves(state)[ch]
                for nxt in _reber_moves(state):
                    d[t, REBER_SYMBOLS.index(nxt)] = 1.0
            mask = np.ones((len(s), 7), dtype=bool)
            mask[-1] = False  # nothing follows the final E
            seqs.append((x, d, mask))
        return _pad(seqs)

    def correct(self, predictions: np.ndarray, data: SequenceBatch) -> np.ndarray:
        allowed = data.targets > 0.5
        lowest_allowed = np.where(allowed, predictions, np.inf).min(axis=-1)
        highest_other = np.where(allowed, -np.inf, predictions).max(axis=-1)
        ok = (lowest_allowed > highest_other) | ~data.mask.any(axis=-1)
        return ok.all(axis=0)


@dataclass(frozen=True)
class AddingProblem(SequenceTask):
    """The adding problem (Hochreiter & Schmidhuber 1997, experiment 4).

    Each step shows a value in [-1, 1] and a marker. One of the first ten pairs and one of the
    first T/2 - 1 still unmarked pairs carry marker 1; the first and last pairs carry -1 (if the
    first pair was the one chosen, X1 = 0); the rest 0. At the last step the target is
    0.5 + (X1 + X2) / 4; a sequence is correct when the absolute error there is below 0.04.
    Lengths are uniform in T .. T + T/10. LSTM needed ~74,000 sequences for T = 100.
    """

    length: int = 100
    """T, the minimal sequence length (the paper: 100, 500, 1000)."""
    target_kind = "real"
    tolerance = 0.04
    input_dim = 2
    output_dim = 1

    def sample(self, batch: int, rng: np.random.Generator) -> SequenceBatch:
        T, cols = self.length, np.arange(batch)
        if T < 20:
            raise ValueError("length must be >= 20")
        lengths = rng.integers(T, T + T // 10 + 1, size=batch)
        values = rng.uniform(-1.0, 1.0, size=(lengths.max(), batch))
        values[np.arange(lengths.max())[:, None] >= lengths] = 0.0
        first = rng.integers(0, 10, size=batch)
        second = rng.integers(0, T // 2 - 1, size=batch)
        second += second >= first  # the j-th still unmarked pair
        markers = np.zeros_like(values)
        markers[first, cols] = markers[second, cols] = 1.0
        markers[0], markers[lengths - 1, cols] = -1.0, -1.0
        d = np.zeros((len(values), batch, 1))
        mask = np.zeros_like(d, dtype=bool)
        d[lengths - 1, cols, 0] = 0.5 + (values * (markers == 1.0)).sum(axis=0) / 4.0
        mask[lengths - 1, cols, 0] = True
        return SequenceBatch(np.stack([values, markers], axis=-1), d, mask, lengths)


@dataclass(frozen=True)
class TemporalOrder(SequenceTask):
    """Temporal order (Hochreiter & Schmidhuber 1997, experiments 6a and 6b).

    Sequences over ``a b c d X Y B E`` start with E and end with B; all else is random a-d
    except ``relevant`` positions (6a: t1 in 10..20, t2 in 50..60; 6b: 10..20, 33..43, 66..76,
    scaled by length / 100) that hold X or Y. At the final B the net names the class, the
    order of X/Y there (2^relevant classes, one-hot); correct when every output unit is within
    0.3 of its target. LSTM needed 31,390 (6a) and 571,100 (6b) sequences.
    """

    relevant: int = 2
    """2 (experiment 6a, 4 classes) or 3 (experiment 6b, 8 classes)."""
    length: int = 100
    """Minimal length; lengths are uniform in length .. 1.1 length."""
    tolerance = 0.3
    input_dim = 8

    @property
    def output_dim(self) -> int:
        return 2**self.relevant

    def sample(self, batch: int, rng: np.random.Generator) -> SequenceBatch:
        windows = {2: ((10, 20), (50, 60)), 3: ((10, 20), (33, 43), (66, 76))}[self.relevant]
        scale, cols = self.length / 100.0, np.arange(batch)
        lengths = rng.integers(self.length, self.length + self.length // 10 + 1, size=batch)
        sym = rng.integers(0, 4, size=(lengths.max(), batch))  # a, b, c, d
        label = np.zeros(batch, dtype=np.int64)
        for lo, hi in windows:
            pos = rng.integers(round(lo * scale), round(hi * scale) + 1, size=batch)
            which = rng.integers(0, 2, size=batch)  # 0: X, 1: Y
            sym[pos, cols] = 4 + which
            label = 2 * label + which
        sym[0], sym[lengths - 1, cols] = 7, 6  # E first, B (the trigger) last
        x = np.eye(8)[sym] * (np.arange(len(sym))[:, None] < lengths)[..., None]
        d = np.zeros((len(sym), batch, self.output_dim))
        mask = np.zeros_like(d, dtype=bool)
        d[lengths - 1, cols, label] = 1.0
        mask[lengths - 1, cols] = True
        return SequenceBatch(x, d, mask, lengths)


# ------------------------------------------------------------ registry


class TaskEntry(NamedTuple):
    """A named task: its class (or ``"module:Class"``, imported when the task is built), the
    options that define it and a one-line summary."""

    cls: type[SequenceTask] | str
    options: dict[str, Any]
    summary: str

    def task_class(self) -> type[SequenceTask]:
        if not isinstance(self.cls, str):
            return self.cls
        module, name = self.cls.split(":")
        return getattr(importlib.import_module(module), name)


TASKS: dict[str, TaskEntry] = {
    "xor": TaskEntry(PipelinedXOR, {}, "pipelined XOR with delay τ (W&Z 1989)"),
    "recognition": TaskEntry(SequenceRecognition, {}, "an a, then later a b (W&Z 1989)"),
    "nonmatch": TaskEntry(DelayedNonMatch, {}, "delayed non-match to sample (W&Z 1989)"),
    "parentheses": TaskEntry(BalancedParentheses, {}, "Turing machine for balanced parentheses"),
    "osc01": TaskEntry(
        Oscillation, {"pattern": "01", "free_run_from": 2}, "oscillate 010101... (W&Z 1989)"
    ),
    "osc0011": TaskEntry(
        Oscillation, {"pattern": "0011", "free_run_from": 4}, "oscillate 00110011... (W&Z 1989)"
    ),
    "sine": TaskEntry(
        Oscillation, {"pattern": "sine", "length": 100, "free_run_from": 25}, "sinusoid, period 25"
    ),
    "reber": TaskEntry(EmbeddedReber, {}, "embedded Reber grammar (H&S 1997, exp. 1)"),
    "adding": TaskEntry(AddingProblem, {}, "adding problem, T = 100 (H&S 1997, exp. 4)"),
    "temporal_order": TaskEntry(TemporalOrder, {}, "temporal order (H&S 1997, exp. 6a)"),
    "assoc-retrieval": TaskEntry(
        "evorl.tasks.fast_weights:AssociativeRetrieval",
        {},
        "associative retrieval c9k8j3f1??c -> 9 (Ba et al. 2016)",
    ),
    "kv-capacity": TaskEntry(
        "evorl.tasks.fast_weights:KeyValueRetrieval",
        {},
        "key-value retrieval, S keys once each (Schlag et al. 2021, setting 1)",
    ),
    "kv-update": TaskEntry(
        "evorl.tasks.fast_weights:KeyValueRetrieval",
        {"replace": True},
        "key-value retrieval, 2S pairs, keys recur (Schlag et al. 2021, setting 2)",
    ),
}
"""The tasks by name; options override a task's fields, e.g. ``make_task("adding", length=500)``."""


def make_task(name: str, **options: Any) -> SequenceTask:
    """Build task ``name`` with its registered options updated by ``options``.

    Raises:
        KeyError: Unknown task name.
        ValueError: An option the task does not have.
    """
    if name not in TASKS:
        raise KeyError(f"unknown task {name!r}; known: {', '.join(TASKS)}")
    entry = TASKS[name]
    cls = entry.task_class()
    fields = cls.__dataclass_fields__
    unknown = sorted(set(options) - set(fields))
    if unknown:
        raise ValueError(
            f"task {name!r} has no option {unknown[0]!r} (options: {', '.join(fields) or 'none'})"
        )
    return cls(**{**entry.options, **options})


def concat_batches(batches: list[SequenceBatch]) -> SequenceBatch:
    """One batch of the sequences of ``batches`` in order, padded to the longest."""
    steps = max(b.inputs.shape[0] for b in batches)

    def pad(a: np.ndarray) -> np.ndarray:
        return np.pad(a, [(0, steps - a.shape[0])] + [(0, 0)] * (a.ndim - 1))

    return SequenceBatch(
        *(
            np.concatenate([pad(getattr(b, f)) for b in batches], axis=1)
            for f in ("inputs", "targets", "mask")
        ),
        np.concatenate([b.lengths for b in batches]),
    )
