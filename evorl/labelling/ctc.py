"""Connectionist temporal classification: loss, best-path and prefix beam search decoding, LER.

Graves, Fernández, Gomez & Schmidhuber, "Connectionist temporal classification: labelling
unsegmented sequence data with recurrent neural networks", ICML 2006. A softmax over K labels
plus one *blank* gives y_k^t; a path pi (one symbol per frame) has probability prod_t y_{pi_t}^t,
and the operator B (collapse repeats, then remove blanks) maps paths to labellings, so::

    p(z | x) = sum over paths pi with B(pi) = z of prod_t y_{pi_t}^t        (eq. 3)
    loss     = -ln p(z | x)                                                 (eq. 14)

computed by the forward-backward recursions of section 4.1 (``torch.nn.functional.ctc_loss``;
``tests/test_sequence_labelling.py`` re-derives them in log space as the reference).

Conventions (RNNLIB's, so its data files and nets map one to one):

* **Blank index**: the *last* output, ``K`` for ``K`` labels — RNNLIB's TranscriptionLayer
  appends "blank" after the data file's ``labels``, so label k of a file is output k.
* **Reduction**: ``"mean"`` (default) averages -ln p(z|x) over the sequences of a batch;
  ``"sum"`` adds them (RNNLIB's ``ctcError`` summed over a set). Unlike torch's own
  ``reduction="mean"``, no sequence is divided by its target length: a long transcription
  weighs more, as its probability is a product of more terms.
* A sequence too short for its target (fewer frames than labels plus repeated neighbours)
  contributes 0 loss and 0 gradient, as RNNLIB skips it with a warning (``zero_infinity``).

Decoding (section 3.2): best path takes the most probable symbol per frame and applies B;
prefix search sums over the paths of each prefix and so finds labellings whose probability is
spread over many paths (here the beam version of Graves' thesis, chapter 7, with a beam of
prefixes, each keeping the probability of ending in blank and in non-blank).

Label error rate (section 2.1): ``LER = sum_i ED(h(x_i), z_i) / sum_i |z_i|`` over a set, ED
the edit distance (insertions, deletions and substitutions), as RNNLIB's ``labelError``.

Example:
    >>> logits = torch.zeros(5, 1, 3)          # 5 frames, labels {0, 1}, blank = 2
    >>> loss = ctc_loss(logits, [[0, 1]], torch.tensor([5]))
    >>> best_path_decode(logits.log_softmax(-1), torch.tensor([5]))
    [[0]]
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

Labelling = list[int]
REDUCTIONS = ("mean", "sum", "none")


def _flat_targets(
    targets: Sequence[Sequence[int]] | torch.Tensor, target_lengths: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Targets as one concatenated long tensor and their lengths (torch's 1-D target form)."""
    if isinstance(targets, torch.Tensor):
        if target_lengths is None:
            raise ValueError("padded target tensors need target_lengths")
        rows = [targets[b, : int(n)] for b, n in enumerate(target_lengths)]
        return torch.cat(rows).long(), torch.as_tensor(target_lengths).long()
    lengths = torch.tensor([len(z) for z in targets], dtype=torch.long)
    flat = [int(k) for z in targets for k in z]
    return torch.tensor(flat, dtype=torch.long), lengths


def ctc_loss(
    logits: torch.Tensor,
    targets: Sequence[Sequence[int]] | torch.Tensor,
    input_lengths: torch.Tensor,
    target_lengths: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    """-ln p(z | x) of each sequence from unnormalised outputs, blank = the last output.

    Args:
        logits: (T, B, K + 1) network outputs before the softmax.
        targets: One label list per sequence (values in [0, K)), or a padded (B, S) tensor
            with ``target_lengths``. An empty labelling is allowed (p = prod_t y_blank^t).
        input_lengths: (B,) frames of each sequence; frames past a length are ignored.
        target_lengths: (B,) for padded target tensors.
        reduction: ``"mean"`` over sequences, ``"sum"``, or ``"none"`` (a (B,) tensor).
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {', '.join(REDUCTIONS)}, got {reduction!r}")
    if logits.dim() != 3:
        raise ValueError(f"logits must be (T, B, K + 1), got {tuple(logits.shape)}")
    flat, lengths = _flat_targets(targets, target_lengths)
    blank = logits.shape[-1] - 1
    if flat.numel() and (int(flat.min()) < 0 or int(flat.max()) >= blank):
        raise ValueError(f"target labels must lie in [0, {blank}) (blank = {blank})")
    per_seq = F.ctc_loss(
        logits.log_softmax(-1),
        flat.to(logits.device),
        torch.as_tensor(input_lengths, dtype=torch.long),
        lengths,
        blank=blank,
        reduction="none",
        zero_infinity=True,
    )
    if reduction == "none":
        return per_seq
    total = per_seq.sum()
    return total / logits.shape[1] if reduction == "mean" else total


def collapse(path: Sequence[int], blank: int) -> Labelling:
    """The operator B: merge repeated symbols, then remove blanks (``a a - a`` -> ``a a``)."""
    out, prev = [], None
    for k in path:
        k = int(k)
        if k != prev and k != blank:
            out.append(k)
        prev = k
    return out


def best_path_decode(log_probs: torch.Tensor, lengths: torch.Tensor) -> list[Labelling]:
    """B(most probable symbol of each frame) for each sequence of a (T, B, K + 1) batch."""
    blank = log_probs.shape[-1] - 1
    best = log_probs.argmax(-1).cpu()
    return [collapse(best[: int(n), b].tolist(), blank) for b, n in enumerate(lengths)]


def _logaddexp(a: float, b: float) -> float:
    if a == -math.inf:
        return b
    if b == -math.inf:
        return a
    hi, lo = (a, b) if a > b else (b, a)
    return hi + math.log1p(math.exp(lo - hi))


def _add(
    beam: dict[tuple[int, ...], tuple[float, float]],
    prefix: tuple[int, ...],
    blank_lp: float,
    label_lp: float,
) -> None:
    """Add path mass ending in blank / in a label to ``prefix``'s entry of ``beam``."""
    b, nb = beam.get(prefix, (-math.inf, -math.inf))
    beam[prefix] = (_logaddexp(b, blank_lp), _logaddexp(nb, label_lp))


def prefix_beam_search(log_probs: torch.Tensor, beam_width: int = 8) -> tuple[Labelling, float]:
    """Most probable labelling of one sequence by CTC prefix beam search.

    Each prefix keeps ln P(prefix, path ends in blank) and ln P(prefix, ends in a label) so that
    paths collapsing to the same prefix add up; a label equal to the prefix's last one extends
    it only from the blank-ending mass (``a - a`` is two labels, ``a a`` one).

    Args:
        log_probs: (T, K + 1) log softmax outputs of one sequence (blank last).
        beam_width: Prefixes kept per frame.

    Returns:
        The labelling and its (beam-approximated) log probability.
    """
    if beam_width < 1:
        raise ValueError("beam_width must be >= 1")
    lp = log_probs.detach().double().cpu().numpy()
    blank = lp.shape[1] - 1
    beam: dict[tuple[int, ...], tuple[float, float]] = {(): (0.0, -math.inf)}
    for frame in lp:
        nxt: dict[tuple[int, ...], tuple[float, float]] = {}
        for prefix, (p_b, p_nb) in beam.items():
            total = _logaddexp(p_b, p_nb)
            _add(nxt, prefix, total + frame[blank], -math.inf)
            if prefix:  # the last label repeated without a blank: same prefix
                _add(nxt, prefix, -math.inf, p_nb + frame[prefix[-1]])
            for k in range(blank):
                start = p_b if prefix and prefix[-1] == k else total
                _add(nxt, (*prefix, k), -math.inf, start + frame[k])
        ranked = sorted(nxt.items(), key=lambda kv: -_logaddexp(*kv[1]))[:beam_width]
        beam = {prefix: (b, nb) for prefix, (b, nb) in ranked}
    prefix, (p_b, p_nb) = max(beam.items(), key=lambda kv: _logaddexp(*kv[1]))
    return list(prefix), _logaddexp(p_b, p_nb)


def edit_distance(a: Sequence[int], b: Sequence[int]) -> int:
    """Levenshtein distance: fewest insertions, deletions and substitutions turning a into b."""
    row = np.arange(len(b) + 1)
    for i, x in enumerate(a, start=1):
        prev, row = row, np.empty_like(row)
        row[0] = i
        for j, y in enumerate(b, start=1):
            row[j] = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (x != y))
    return int(row[-1])


def label_error_rate(
    predictions: Sequence[Sequence[int]], targets: Sequence[Sequence[int]]
) -> float:
    """Total edit distance over total target length of a set (Graves et al. 2006, sec. 2.1)."""
    if len(predictions) != len(targets):
        raise ValueError(f"{len(predictions)} predictions for {len(targets)} targets")
    total = sum(len(z) for z in targets)
    if total == 0:
        raise ValueError("label error rate needs at least one target label")
    return sum(edit_distance(h, z) for h, z in zip(predictions, targets, strict=True)) / total


def sequence_error_rate(
    predictions: Sequence[Sequence[int]], targets: Sequence[Sequence[int]]
) -> float:
    """Fraction of sequences not transcribed exactly (RNNLIB's ``sequenceError``)."""
    if len(predictions) != len(targets) or not targets:
        raise ValueError(f"{len(predictions)} predictions for {len(targets)} targets")
    wrong = sum(list(h) != list(z) for h, z in zip(predictions, targets, strict=True))
    return wrong / len(targets)
