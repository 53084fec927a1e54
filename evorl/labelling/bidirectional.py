"""Bidirectional recurrent layers over any evorl cell, stacked, for padded variable-length batches.

Schuster & Paliwal, "Bidirectional recurrent neural networks", IEEE TSP 45(11), 1997; Graves &
Schmidhuber, "Framewise phoneme classification with bidirectional LSTM and other neural network
architectures", Neural Networks 18(5-6), 2005 (BLSTM, RNNLIB's default hidden layer). Each layer
runs one sub-cell forwards and one backwards over the sequence and gives every frame both
outputs side by side, so the next layer (or the output layer) sees past and future context::

    f_t = forward cell over x_1 .. x_t          b_t = backward cell over x_L .. x_t
    h_t = [f_t, b_t]                            (L: this sequence's own length)

**Sub-cells.** Each direction is an evorl controller from ``build_controller`` (any kind:
LSTM with or without peepholes and forget gate, GRU, Elman, ...), run by ``Controller.unroll``.
Its *raw outputs* are the layer's features: ``Controller.forward`` ends in the linear readout
``w_out`` of the cell's top hidden layer, and the action head is never applied. With
``features`` equal to the top hidden width this readout is a square linear map that the next
layer's input weights absorb, so nothing is lost against reading the hidden units directly,
and the wrapper needs no knowledge of where each cell keeps its hidden units in its state.

**Padding.** A batch is (T, B, in) with sequence b in frames ``[0, lengths[b])``. The backward
cell reads each sequence reversed *within its own length* (:func:`reverse_padded`), so it starts
at that sequence's last real frame, never on padding; its outputs are reversed back the same
way. Frames past a length hold values that callers must mask (the CTC loss and the collapse of
:class:`SequenceNet` do).

Example:
    >>> cfg = ControllerConfig(kind="lstm", hidden=(8,), peepholes=True)
    >>> net = SequenceNet(cfg, in_dim=3, out_dim=5, layers=2, seed=0)
    >>> net(torch.zeros(7, 2, 3), torch.tensor([7, 4])).shape
    torch.Size([7, 2, 5])
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import gymnasium as gym
import torch

from evorl.controllers import Controller, ControllerConfig, build_controller
from evorl.controllers.init import make_generator

COLLAPSES = ("none", "sum")


def reverse_padded(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each sequence of a (T, B, ...) batch within its length; padding stays at the end.

    Applying it twice gives the input back.
    """
    steps = x.shape[0]
    t = torch.arange(steps).unsqueeze(1)  # (T, 1)
    n = torch.as_tensor(lengths, dtype=torch.long).unsqueeze(0)  # (1, B)
    index = torch.where(t < n, n - 1 - t, t)  # (T, B)
    index = index.view(steps, -1, *([1] * (x.dim() - 2))).expand_as(x).to(x.device)
    return x.gather(0, index)


def sequence_mask(lengths: torch.Tensor, steps: int) -> torch.Tensor:
    """(T, B) bool, True on the real frames of each sequence."""
    return torch.arange(steps).unsqueeze(1) < torch.as_tensor(lengths).unsqueeze(0)


def seeded_linear(
    in_dim: int, out_dim: int, gen: torch.Generator, bias: bool = True
) -> torch.nn.Linear:
    """``torch.nn.Linear`` with weights U(-1/sqrt(in), 1/sqrt(in)) from ``gen`` and zero bias
    (torch's own default draws from the global RNG, which library code never uses)."""
    layer = torch.nn.Linear(in_dim, out_dim, bias=bias)
    bound = in_dim**-0.5
    with torch.no_grad():
        layer.weight.uniform_(-bound, bound, generator=gen)
        if bias:
            layer.bias.zero_()
    return layer


def feature_cell(
    config: ControllerConfig, in_dim: int, features: int, seed: int | None
) -> Controller:
    """An evorl controller whose raw outputs (its readout, never its action head) are features."""
    return build_controller(config, in_dim, gym.spaces.Box(-1.0, 1.0, (features,)), seed=seed)


class BidirectionalLayer(torch.nn.Module):
    """One forward and (optionally) one backward sub-cell over a padded batch.

    Args:
        config: The sub-cells' controller config (RNNLIB's default: ``kind="lstm"``,
            ``peepholes=True``).
        in_dim: Input width.
        features: Output width of each direction (default: the config's top hidden width).
        bidirectional: False keeps only the forward cell (the one-directional baseline).
        seed: Initialises the forward cell with ``seed`` and the backward with ``seed + 1``.
    """

    def __init__(
        self,
        config: ControllerConfig,
        in_dim: int,
        features: int | None = None,
        *,
        bidirectional: bool = True,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        features = config.hidden[-1] if features is None else int(features)
        self.features = features
        self.forward_cell = feature_cell(config, in_dim, features, seed)
        self.backward_cell = (
            feature_cell(config, in_dim, features, None if seed is None else seed + 1)
            if bidirectional
            else None
        )

    @property
    def out_dim(self) -> int:
        return self.features * (2 if self.backward_cell is not None else 1)

    @staticmethod
    def run(cell: Controller, x: torch.Tensor) -> torch.Tensor:
        """Raw outputs of ``cell`` unrolled from its zero state over x (T, B, in)."""
        state = cell.initial_state(x.shape[1], dtype=x.dtype, device=x.device)
        return cell.unroll(x, state)[0]

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(T, B, in) and (B,) lengths -> (T, B, out_dim): forward features, then backward."""
        out = self.run(self.forward_cell, x)
        if self.backward_cell is None:
            return out
        back = reverse_padded(self.run(self.backward_cell, reverse_padded(x, lengths)), lengths)
        return torch.cat([out, back], dim=-1)


class SequenceNet(torch.nn.Module):
    """Stacked (bi)directional layers and a linear output layer: RNNLIB's 1-D net.

    For transcription the outputs are per-frame logits for :func:`~evorl.labelling.ctc.ctc_loss`
    (``out_dim`` = labels + 1, blank last). For sequence classification ``collapse="sum"`` adds
    the output layer's activations over each sequence's real frames before the softmax, as
    RNNLIB's CollapseLayer does for ``task sequence_classification``.

    Args:
        config: Sub-cell config; ``config.hidden`` is the width of *each* sub-cell's layers.
        in_dim: Input width.
        out_dim: Outputs per frame (or per sequence with ``collapse="sum"``).
        layers: Stacked bidirectional levels, each with ``config``'s cells.
        sizes: Instead of ``layers``: one entry per level, the width of that level's cells
            (RNNLIB's ``hiddenSize`` list); each level's cells are ``config`` with
            ``hidden=(size,)``.
        bidirectional: False: one-directional cells only.
        collapse: ``"none"`` (T, B, out_dim) or ``"sum"`` (B, out_dim).
        seed: Base seed; level l uses ``seed + 2 l`` and ``seed + 2 l + 1``, the output layer
            ``seed + 2 * layers``.
    """

    def __init__(
        self,
        config: ControllerConfig,
        in_dim: int,
        out_dim: int,
        *,
        layers: int = 1,
        sizes: Sequence[int] | None = None,
        bidirectional: bool = True,
        collapse: str = "none",
        seed: int | None = None,
    ) -> None:
        super().__init__()
        if collapse not in COLLAPSES:
            raise ValueError(f"collapse must be one of {', '.join(COLLAPSES)}, got {collapse!r}")
        configs = (
            [config] * layers
            if sizes is None
            else [dataclasses.replace(config, hidden=(int(size),)) for size in sizes]
        )
        if not configs:
            raise ValueError("layers must be >= 1")
        layers = len(configs)
        self.collapse = collapse
        self.levels = torch.nn.ModuleList()
        width = in_dim
        for level, cell in enumerate(configs):
            sub_seed = None if seed is None else seed + 2 * level
            layer = BidirectionalLayer(cell, width, bidirectional=bidirectional, seed=sub_seed)
            self.levels.append(layer)
            width = layer.out_dim
        self.output = seeded_linear(
            width, out_dim, make_generator(None if seed is None else seed + 2 * layers)
        )

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(T, B, in_dim) -> (T, B, out_dim), or (B, out_dim) with ``collapse="sum"``."""
        lengths = torch.as_tensor(lengths, dtype=torch.long)
        if x.dim() != 3 or lengths.shape != (x.shape[1],):
            raise ValueError(
                f"x must be (T, B, in) with lengths (B,), got {tuple(x.shape)}, "
                f"{tuple(lengths.shape)}"
            )
        if int(lengths.min()) < 1 or int(lengths.max()) > x.shape[0]:
            raise ValueError(f"lengths must lie in [1, {x.shape[0]}]")
        h = x
        for level in self.levels:
            h = level(h, lengths)
        out = self.output(h)
        if self.collapse == "sum":
            mask = sequence_mask(lengths, x.shape[0]).to(out.device).unsqueeze(-1)
            return (out * mask).sum(0)
        return out
