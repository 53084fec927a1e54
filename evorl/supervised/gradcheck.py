"""Gradient check: the analytic gradient of a controller and loss against finite differences.

RNNLIB shipped ``gradient_check.sh`` to verify every new layer's derivatives numerically
(Graves, RNNLIB manual); this is the same check for any evorl controller. In float64, each
parameter is perturbed by ±ε and the central difference (L(θ + ε e_i) - L(θ - ε e_i)) / 2ε,
whose truncation error is O(ε²), is compared with the analytic derivative from autograd (BPTT)
or from RTRL. The relative error |a - n| / max(|a|, |n|, floor) of a correct implementation
is ~1e-7 or smaller; a wrong derivative shows up as O(1).

Example:
    >>> import gymnasium as gym, torch
    >>> from evorl.controllers import ControllerConfig, build_controller
    >>> space = gym.spaces.Box(-1, 1, (1,))
    >>> net = build_controller(ControllerConfig("gru", (3,)), 2, space, seed=0)
    >>> x, d = torch.rand(6, 2, 2), torch.rand(6, 2, 1)
    >>> result = gradient_check(net, x, d, torch.ones_like(d, dtype=torch.bool), loss="sse")
    >>> result.max_rel_error < 1e-5
    True
"""

from __future__ import annotations

import copy
from typing import NamedTuple

import numpy as np
import torch

from evorl.controllers import Controller
from evorl.supervised.bptt import run_sequence, sequence_loss
from evorl.supervised.rtrl import rtrl_gradient


class GradCheckResult(NamedTuple):
    """What :func:`gradient_check` finds."""

    max_rel_error: float
    """Largest relative error over the checked parameters."""
    max_abs_error: float
    """Largest absolute difference."""
    worst: str
    """The parameter entry with the largest relative error, e.g. ``w_h0[3]``."""
    checked: int
    """How many parameters were perturbed."""
    analytic: np.ndarray
    """Analytic derivatives of the checked parameters."""
    numeric: np.ndarray
    """Central finite differences of the checked parameters."""


def _objective(
    net: Controller, x: torch.Tensor, d: torch.Tensor, m: torch.Tensor, loss: str, forcing: bool
) -> torch.Tensor:
    out, _ = run_sequence(net, x, targets=d, mask=m, teacher_forcing=forcing)
    return sequence_loss(out, d, m, loss)


def _analytic(
    net: Controller,
    x: torch.Tensor,
    d: torch.Tensor,
    m: torch.Tensor,
    loss: str,
    method: str,
    forcing: bool,
) -> torch.Tensor:
    """The flat analytic gradient, by autograd (``bptt``) or by RTRL."""
    if method == "rtrl":
        if loss != "sse":
            raise ValueError("RTRL computes the gradient of the squared error (loss='sse')")
        return rtrl_gradient(net, x, d, m, teacher_forcing=forcing).grad.reshape(-1)
    if method != "bptt":
        raise ValueError(f"method must be 'bptt' or 'rtrl', got {method!r}")
    net.zero_grad(set_to_none=True)
    _objective(net, x, d, m, loss, forcing).backward()
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in net.parameters()]
    return torch.cat([g.reshape(-1) for g in grads])


def _names(net: Controller) -> list[str]:
    """``name[index]`` for every entry of the flat vector (registration order)."""
    return [f"{n}[{i}]" for n, p in net.named_parameters() for i in range(p.numel())]


def gradient_check(
    controller: Controller,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    mask: torch.Tensor,
    loss: str = "sse",
    *,
    method: str = "bptt",
    teacher_forcing: bool = False,
    eps: float = 1e-5,
    floor: float = 1e-6,
    max_params: int | None = None,
    seed: int = 0,
) -> GradCheckResult:
    """Compare the analytic gradient of ``loss`` with central finite differences, in float64.

    Args:
        controller: Any evorl controller (copied and cast to float64; not changed).
        inputs: (T, B, obs_dim).
        targets: (T, B, out_dim).
        mask: (T, B, out_dim) bool.
        loss: ``sse`` or ``bce`` (see :func:`~evorl.supervised.bptt.sequence_loss`).
        method: ``bptt`` (autograd) or ``rtrl`` (fully recurrent net, ``sse`` loss only).
        teacher_forcing: Check the teacher-forced loss (fully recurrent net).
        eps: Finite-difference step.
        floor: Smallest denominator of the relative error (guards zero gradients).
        max_params: Check a random subset of this many parameters (None: all).
        seed: Chooses that subset.
    """
    net = copy.deepcopy(controller).double()
    x, d = inputs.double(), targets.double()
    analytic = _analytic(net, x, d, mask, loss, method, teacher_forcing)
    flat = net.get_flat()
    index = np.arange(flat.numel())
    if max_params is not None and max_params < flat.numel():
        index = np.sort(np.random.default_rng(seed).choice(flat.numel(), max_params, False))
    numeric = np.empty(len(index))
    with torch.no_grad():
        for n, i in enumerate(index):
            values = []
            for sign in (1.0, -1.0):
                probe = flat.clone()
                probe[i] += sign * eps
                net.set_flat(probe)
                values.append(float(_objective(net, x, d, mask, loss, teacher_forcing)))
            numeric[n] = (values[0] - values[1]) / (2 * eps)
    a = analytic.detach().numpy()[index]
    diff = np.abs(a - numeric)
    rel = diff / np.maximum(np.maximum(np.abs(a), np.abs(numeric)), floor)
    worst = int(np.argmax(rel)) if len(rel) else 0
    return GradCheckResult(
        float(rel.max(initial=0.0)),
        float(diff.max(initial=0.0)),
        _names(net)[index[worst]] if len(rel) else "",
        len(index),
        a,
        numeric,
    )
