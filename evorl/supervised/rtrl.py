"""Real-time recurrent learning (RTRL) for the fully recurrent net, exactly as Williams & Zipser.

R. J. Williams and D. Zipser, "A learning algorithm for continually running fully recurrent
neural networks", Neural Computation 1(2), 270-280, 1989. The net is
:class:`~evorl.controllers.FullyRecurrentController`: n units, m = obs_dim + 1 input lines (the
last one the constant bias), one weight matrix W (n, m + n) over z(t) = [x(t); 1; y(t)]::

    s_k(t) = Σ_l w_kl z_l(t),   y_k(t+1) = f(s_k(t))                         (2.2, 2.3)
    p^k_ij(t+1) = f'(s_k(t)) [Σ_{l∈U} w_kl p^l_ij(t) + δ_ik z_j(t)],  p(t0) = 0   (2.12, 2.13)
    -∂J(t)/∂w_ij = Σ_k e_k(t) p^k_ij(t),   e_k(t) = d_k(t) - y_k(t) where a target exists  (2.9)

with p^k_ij = ∂y_k/∂w_ij. Two forms:

* **epochwise** (:func:`rtrl_gradient`): weights fixed along the trajectory; the summed
  Σ_t Σ_k e p is the exact gradient of J_total = Σ_t ½ Σ_k e_k(t)² (eq. 2.6), the same number
  backpropagation through time gives.
* **real-time** (:class:`RealTimeRTRL`): W += α Σ_k e_k(t) p^k_ij(t) at every step while the
  net runs (eq. 2.15 applied at once), no epoch boundaries.

**Teacher forcing** (section 2.2): where a target d_k(t) exists for an output unit, it replaces
y_k(t) in z(t) for the next step, and p^k(t) is set to zero (eqs. 2.17-2.19).

**Cost.** The sensitivities P (B, n, n, m+n) hold n·n(m+n) = n³ + mn² numbers per sequence:
O(n³) memory. Their update contracts the (n, n) recurrent block of W with P, n² · n(m+n)
multiply-adds: O(n⁴) time per step (backpropagation through time: O(n²) per step, but memory
growing with the sequence length). It is one ``einsum`` per step, batched over B sequences.

Example:
    >>> import gymnasium as gym, torch
    >>> from evorl.controllers import ControllerConfig, build_controller
    >>> cfg = ControllerConfig(kind="fully_recurrent", hidden=(3,), activation="sigmoid")
    >>> net = build_controller(cfg, 2, gym.spaces.Box(-1, 1, (1,)), seed=0)
    >>> x, d = torch.rand(10, 4, 2), torch.rand(10, 4, 1)
    >>> result = rtrl_gradient(net, x, d, torch.ones_like(d, dtype=torch.bool))
    >>> result.grad.shape
    torch.Size([3, 6])
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from evorl.controllers import FullyRecurrentController
from evorl.controllers.functional import ACTIVATIONS


class RTRLResult(NamedTuple):
    """What :func:`rtrl_gradient` returns."""

    loss: float
    """J_total / B: ½ Σ_t Σ_k e_k(t)², summed over the trajectory, mean over sequences."""
    grad: torch.Tensor
    """∂(J_total / B) / ∂W, shape (n, m + n): the exact gradient for the fixed weights."""
    outputs: torch.Tensor
    """(T, B, out_dim): y_k(t+1) of the output units, before any teacher forcing."""


def derivative(activation: str, y: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """f'(s) from the unit output y = f(s); eq. 2.16 for the logistic unit, y (1 - y)."""
    if activation == "sigmoid":
        return y * (1.0 - y)
    if activation == "tanh":
        return 1.0 - y * y
    if activation == "relu":
        return (s > 0).to(y.dtype)
    raise ValueError(f"RTRL: no derivative for activation {activation!r}")


def rtrl_step(
    w: torch.Tensor, x: torch.Tensor, y: torch.Tensor, p: torch.Tensor, activation: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """One step of the net and its sensitivities: (y(t), p(t)) -> (y(t+1), p(t+1)).

    Args:
        w: W (n, m + n), columns [inputs, bias, units].
        x: External inputs x(t) (B, m - 1), without the bias line.
        y: Unit outputs y(t) (B, n), after any teacher forcing.
        p: Sensitivities p^k_ij(t) as (B, k, i, j) = (B, n, n, m + n).
        activation: Name of f (an ``evorl.controllers.functional.ACTIVATIONS`` key).
    """
    n = w.shape[0]
    z = torch.cat([x, x.new_ones(x.shape[0], 1), y], dim=1)  # (2.1), bias as an input line
    s = z @ w.mT  # (2.2)
    y_next = ACTIVATIONS[activation](s)  # (2.3)
    p_next = torch.einsum("kl,blij->bkij", w[:, -n:], p)  # Σ_{l∈U} w_kl p^l_ij: O(n⁴)
    p_next.diagonal(dim1=1, dim2=2).add_(z.unsqueeze(-1))  # + δ_ik z_j
    p_next.mul_(derivative(activation, y_next, s)[:, :, None, None])  # f'_k(s_k)
    return y_next, p_next


def teacher_force(
    y: torch.Tensor, p: torch.Tensor, target: torch.Tensor, mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Replace the output units' y_k by d_k where a target exists and zero their p^k (2.17-2.19).

    Args:
        y: (B, n) unit outputs; the first ``target.shape[1]`` units are the output units.
        p: (B, n, n, m + n) sensitivities.
        target: (B, out_dim) desired outputs d(t).
        mask: (B, out_dim) bool, where d(t) exists.
    """
    k = target.shape[1]
    y = y.clone()
    y[:, :k] = torch.where(mask, target.to(y.dtype), y[:, :k])
    keep = torch.ones(y.shape, dtype=y.dtype, device=y.device)
    keep[:, :k] = (~mask).to(y.dtype)
    return y, p * keep[:, :, None, None]


def _check(controller: torch.nn.Module) -> FullyRecurrentController:
    if not isinstance(controller, FullyRecurrentController):
        kind = getattr(getattr(controller, "config", None), "kind", type(controller).__name__)
        raise TypeError(f"RTRL trains the fully_recurrent controller only, not {kind!r}")
    return controller


def init_sensitivities(
    net: FullyRecurrentController, batch: int, dtype: torch.dtype
) -> torch.Tensor:
    """p(t0) = 0 (eq. 2.13): a zero (batch, n, n, m + n) tensor."""
    return torch.zeros(batch, *net.w.shape[:1], *net.w.shape, dtype=dtype)


@torch.no_grad()
def rtrl_gradient(
    net: FullyRecurrentController,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    mask: torch.Tensor,
    *,
    teacher_forcing: bool = False,
) -> RTRLResult:
    """Epochwise RTRL: the exact gradient of J_total / B along one trajectory, weights fixed.

    Args:
        net: The fully recurrent controller (its W is read, not changed).
        inputs: (T, B, obs_dim).
        targets: (T, B, out_dim); ``targets[t]`` is d(t+1), the target of the step-t output.
        mask: (T, B, out_dim) bool, where targets exist.
        teacher_forcing: Feed targets back in place of the outputs (section 2.2).

    The state starts at y(t0) = 0 with p(t0) = 0, in the dtype of ``inputs``.
    """
    net = _check(net)
    w, act = net.w.detach().to(inputs.dtype), net.config.activation
    steps, batch, k = targets.shape
    y = torch.zeros(batch, w.shape[0], dtype=w.dtype)
    p = init_sensitivities(net, batch, w.dtype)
    targets, fmask = targets.to(w.dtype), mask.to(w.dtype)
    grad, loss, outputs = torch.zeros_like(w), 0.0, []
    for t in range(steps):
        if teacher_forcing and t > 0:
            y, p = teacher_force(y, p, targets[t - 1], mask[t - 1])
        y, p = rtrl_step(w, inputs[t], y, p, act)
        e = fmask[t] * (targets[t] - y[:, :k])  # (2.4)
        loss += 0.5 * float((e * e).sum())
        grad -= torch.einsum("bk,bkij->ij", e, p[:, :k])  # (2.9), summed as in (2.7)
        outputs.append(y[:, :k])
    return RTRLResult(loss / batch, grad / batch, torch.stack(outputs))


class RealTimeRTRL:
    """Real-time RTRL: W changes at every step while the net runs (Williams & Zipser, 2.1).

    The learner carries the net's state y and its sensitivities p between calls, so one long
    stream can be fed in pieces; :meth:`reset` starts a new trajectory (y = 0, p = 0). The
    step's weight change α Σ_k e_k p^k_ij is averaged over the B sequences run side by side.

    Example:
        >>> import gymnasium as gym
        >>> from evorl.controllers import ControllerConfig, build_controller
        >>> cfg = ControllerConfig(kind="fully_recurrent", hidden=(3,), activation="sigmoid")
        >>> net = build_controller(cfg, 2, gym.spaces.Box(-1, 1, (1,)), seed=0)
        >>> x, d = torch.rand(10, 4, 2), torch.rand(10, 4, 1)
        >>> learner = RealTimeRTRL(net, lr=1.0)
        >>> learner.reset(batch=4)
        >>> loss = learner.run(x, d, torch.ones_like(d, dtype=torch.bool))
        >>> loss > 0
        True
    """

    def __init__(self, net: FullyRecurrentController, lr: float, teacher_forcing: bool = False):
        self.net = _check(net)
        self.lr = float(lr)
        self.teacher_forcing = teacher_forcing
        self.y: torch.Tensor | None = None
        self.p: torch.Tensor | None = None
        self._last: tuple[torch.Tensor, torch.Tensor] | None = None

    def reset(self, batch: int) -> None:
        """Start a new trajectory: y(t0) = 0, p(t0) = 0."""
        w = self.net.w
        self.y = torch.zeros(batch, w.shape[0], dtype=w.dtype)
        self.p = init_sensitivities(self.net, batch, w.dtype)
        self._last = None

    @torch.no_grad()
    def run(self, inputs: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> float:
        """Run (T, B, ·) steps, updating W after each; returns J_total / B of this stretch."""
        if self.y is None or self.y.shape[0] != inputs.shape[1]:
            self.reset(inputs.shape[1])
        w, act = self.net.w, self.net.config.activation
        k, batch = targets.shape[2], inputs.shape[1]
        targets, inputs = targets.to(w.dtype), inputs.to(w.dtype)
        loss = 0.0
        for t in range(inputs.shape[0]):
            if self.teacher_forcing and self._last is not None:
                self.y, self.p = teacher_force(self.y, self.p, *self._last)
            self.y, self.p = rtrl_step(w, inputs[t], self.y, self.p, act)
            e = mask[t].to(w.dtype) * (targets[t] - self.y[:, :k])
            loss += 0.5 * float((e * e).sum())
            w.add_(torch.einsum("bk,bkij->ij", e, self.p[:, :k]), alpha=self.lr / batch)  # (2.15)
            self._last = (targets[t], mask[t])
        return loss / batch
