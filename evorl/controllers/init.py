"""Parameter initialisation with an explicit ``torch.Generator`` (never the global RNG).

Two schemes (``ControllerConfig.init``):

* ``"orthogonal"``: square recurrent blocks orthogonal (Saxe et al. 2014), which keeps the
  recurrent Jacobian well conditioned at the start of gradient training; input and readout
  weights Xavier-normal (Glorot & Bengio 2010); biases and peepholes 0; LSTM forget-gate bias 1
  (Gers et al. 2000; Jozefowicz et al. 2015) so that the cell remembers by default.
* ``"uniform"``: every parameter U(-init_scale, init_scale), the usual neuroevolution start.

Cells describe their parameters by role and call :func:`init_param` for each one.
"""

from __future__ import annotations

import torch

from evorl.controllers.config import ControllerConfig


def make_generator(seed: int | None) -> torch.Generator:
    """A private generator: seeded when ``seed`` is given, from OS entropy otherwise."""
    gen = torch.Generator()
    if seed is None:
        gen.seed()
    else:
        gen.manual_seed(int(seed))
    return gen


def orthogonal_blocks_(w: torch.Tensor, gen: torch.Generator) -> None:
    """Fill an (H, k*H) matrix with k independent orthogonal (H, H) blocks, in place."""
    rows = w.shape[0]
    for start in range(0, w.shape[1], rows):
        block = torch.empty(rows, rows, dtype=w.dtype)
        torch.nn.init.orthogonal_(block, generator=gen)
        w[:, start : start + rows] = block


def xavier_blocks_(w: torch.Tensor, gen: torch.Generator, blocks: int = 1) -> None:
    """Xavier-normal fill of an (in, k*out) matrix, one gate block at a time, in place."""
    width = w.shape[1] // blocks
    for start in range(0, w.shape[1], width):
        block = torch.empty(w.shape[0], width, dtype=w.dtype)
        torch.nn.init.xavier_normal_(block, generator=gen)
        w[:, start : start + width] = block


@torch.no_grad()
def init_param(
    p: torch.Tensor,
    role: str,
    config: ControllerConfig,
    gen: torch.Generator,
    blocks: int = 1,
) -> None:
    """Initialise one parameter in place according to its role.

    Args:
        p: The parameter (stored (in, out) for matrices).
        role: "input" (input or readout matrix), "recurrent" (square blocks, (H, k*H)),
            "bias" or "peephole".
        config: Supplies ``init`` and ``init_scale``.
        gen: Random source.
        blocks: Number of gate blocks side by side along the output axis.
    """
    if config.init == "uniform":
        torch.nn.init.uniform_(p, -config.init_scale, config.init_scale, generator=gen)
    elif role == "recurrent":
        orthogonal_blocks_(p, gen)
    elif role == "input":
        xavier_blocks_(p, gen, blocks)
    elif role in ("bias", "peephole"):
        p.zero_()
    else:
        raise ValueError(f"unknown parameter role {role!r}")
