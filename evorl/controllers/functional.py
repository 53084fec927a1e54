"""Tensor operations shared by every cell, written once for both execution modes.

A parameter arrives either unbatched (the module's own tensor, gradient path) or with a leading
population axis B (population path: row b of the batch uses individual b's weights). Matrix
products dispatch on the weight's rank; everything else broadcasts, so one cell definition
serves both modes.

Population results must be bit-identical whatever the batch size or a row's position, since a
distributed evaluator splits the population into chunks and must reproduce the local fitness.
``torch.bmm``, ``torch.tanh`` and ``torch.exp`` have that property on CPU; ``torch.sigmoid`` does
not (its vectorised body and scalar tail differ by an ulp), hence :func:`sigmoid` below.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

Activation = Callable[[torch.Tensor], torch.Tensor]


def linear(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
    """Affine map ``x @ w + b`` for shared or per-row weights.

    Args:
        x: Inputs, shape (B, in); with per-row weights also (B, n, in), n inputs per row.
        w: Weights stored (in, out), or (B, in, out) for one matrix per row.
        b: Bias (out,) or (B, out), or None; (B, 1, out) for x of (B, n, in).

    Returns:
        Shape (B, out), or (B, n, out).
    """
    if w.dim() == 2:
        return x @ w if b is None else torch.addmm(b, x, w)
    if w.dim() != 3:
        raise ValueError(f"weight must be 2-D or 3-D (batched), got shape {tuple(w.shape)}")
    if x.dim() == 3:  # one matrix product per row (not bit-identical to the (B, in) form)
        return torch.bmm(x, w) if b is None else torch.baddbmm(b, x, w)
    x = x.unsqueeze(1)
    out = torch.bmm(x, w) if b is None else torch.baddbmm(b.unsqueeze(1), x, w)
    return out.squeeze(1)


HALF = torch.tensor(0.5)
"""0.5 as a 0-dim tensor: torch wraps a Python float into a new tensor on every operation, which
costs more than the operation itself on a population's small tensors. A 0-dim tensor takes the
other operand's dtype and device, as the Python float did."""


def sigmoid(x: torch.Tensor) -> torch.Tensor:
    """Logistic function as ``0.5 * tanh(x / 2) + 0.5``: equal in value, batch-invariant bitwise.

    Computed as ``torch.add(0.5, tanh(x * 0.5), alpha=0.5)``: the same bits, since scaling by
    0.5 is exact (whether or not the kernel fuses it into the addition).
    """
    return torch.add(HALF, torch.tanh(x * HALF), alpha=0.5)


ACTIVATIONS: dict[str, Activation] = {
    "tanh": torch.tanh,
    "relu": torch.relu,
    "sigmoid": sigmoid,
}
