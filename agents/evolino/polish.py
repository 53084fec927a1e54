"""Gradient polish: an evolved Evolino network's hidden weights refined by BPTT through free runs.

An extension beyond Schmidhuber et al. (2007), off unless ``EvolinoConfig.polish_steps`` > 0.
ESP finds hidden weights whose features suit the least-squares readout; the polish then descends,
with Adam (Kingma & Ba 2015), the mean squared error of free runs of ``horizon`` steps started
every ``horizon // 2`` steps along the readout's own segment, each from the teacher-forced state
at its start. The readout is re-solved by least squares inside the loss, differentiably
(:func:`~evorl.agents.evolino.readout.solve_readout_qr`), so the gradient sees how the optimal
readout follows the hidden weights: variable projection (Golub & Pereyra 1973). Backpropagation
runs through the teacher-forced pass and the free runs.

The validation segment takes no part in the loss. Every ``check`` steps the iterate is scored by
Evolino's final check (float64, free runs over the whole series) and the best-scoring iterate is
kept, the start included, so the polish cannot make that score worse.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from evorl.agents.evolino.network import free_run_errors
from evorl.agents.evolino.readout import solve_readout_qr

if TYPE_CHECKING:
    from evorl.agents.evolino.model import Evolino


@dataclass
class Polished:
    """What :func:`polish` found."""

    genome: np.ndarray
    """Best hidden genes (the start if no step scored better)."""
    fitness: float
    """Their final-check fitness (-log NRMSE)."""
    steps: int
    """Adam steps taken."""


def free_run_loss(
    model: Evolino, genome: torch.Tensor, train: torch.Tensor, washout: int, horizon: int
) -> torch.Tensor:
    """Mean squared free-running error on the readout's segment, differentiable in ``genome``.

    Args:
        model: Supplies the float64 network, the gene layout and the output clip.
        genome: Hidden genes (dim,).
        train: Training series (T, d) in network coordinates.
        washout: Steps before the readout's segment.
        horizon: Free-run length.
    """
    net = model.net
    fit_end = train.shape[0] - 1 - model.config.valid
    starts = [s for s in range(washout, fit_end, max(1, horizon // 2)) if s + horizon < fit_end]
    if not starts:
        raise ValueError(
            f"polish horizon {horizon} does not fit in the readout's segment "
            f"({fit_end - washout} steps after the washout)"
        )
    params = net.params(model.flat(genome[None]))
    sq, _ = free_run_errors(
        net, params, 1, train, washout, fit_end, starts, horizon, solve_readout_qr, model.clip
    )
    return sq.mean()


def polish(
    model: Evolino,
    genome: np.ndarray,
    fitness: float,
    train: np.ndarray,
    washout: int,
    callback: Callable[[int, float], None] | None = None,
) -> Polished:
    """Refine ``genome`` (final-check fitness ``fitness``) on ``train`` (T, d), network
    coordinates; settings ``polish_*`` of ``model.config``. ``callback(step, best_fitness)``
    after each check."""
    c = model.config
    horizon = c.polish_horizon or c.valid_horizon or c.valid
    series = torch.as_tensor(train, dtype=torch.float64)
    g = torch.tensor(genome, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([g], lr=c.polish_lr)
    best = Polished(np.array(genome, dtype=np.float64), fitness, 0)
    start = time.perf_counter()
    for step in range(1, c.polish_steps + 1):
        loss = free_run_loss(model, g, series, washout, horizon)
        opt.zero_grad()
        loss.backward()
        if not torch.isfinite(g.grad).all():
            break  # a rank-deficient readout or a diverging run: keep the best so far
        opt.step()
        best.steps = step
        out_of_time = c.polish_time is not None and time.perf_counter() - start > c.polish_time
        if step % c.polish_check == 0 or step == c.polish_steps or out_of_time:
            candidate = g.detach().numpy().copy()
            score = float(model.evaluate(candidate, train, washout, final=True)[0][0])
            if score > best.fitness:
                best.genome, best.fitness = candidate, score
            if callback is not None:
                callback(step, best.fitness)
        if out_of_time:
            break
    return best
