"""A teacher-forced LSTM pass in numpy with a hand-written backward: the polish's inner loop.

Autograd records some 25 small operations per time step of
:meth:`~evorl.agents.evolino.network.Runner.teacher_force`; over the ~2,000 teacher-forced steps
of a Mackey-Glass polish step that bookkeeping, not the arithmetic, is most of the time.
:class:`LSTMPass` runs the same one-layer cell (forget gate, peepholes optional; the equations
are in :mod:`evorl.controllers.lstm`) in numpy, keeps every step's gates, and backpropagates
through time by hand: the per-step work in the backward is elementwise plus one product with
the recurrent weights, and the weight gradients are three matrix products over all steps at the
end. Without gradients, :func:`run` alone is the search's teacher-forced pass (numpy's small
elementwise operations cost less per call than torch's). The tests check values and gradients
against autograd on the generic pass.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

GATES = 4
"""Gate blocks i, f, g, o along the last axis of ``w_x``, ``w_h``, ``b``."""


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * np.tanh(0.5 * x) + 0.5


def run(
    x: Tensor,
    h0: Tensor,
    c0: Tensor,
    w_x: Tensor,
    w_h: Tensor,
    b: Tensor,
    p_i: Tensor,
    p_f: Tensor,
    p_o: Tensor,
    gates: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The forward pass in numpy (arguments as :class:`LSTMPass` takes them): states h and c
    (T + 1, B, 1, H), the start first; the squashed gates i, f, g, o of every step go to
    ``gates`` (T, B, 1, 4H) if given."""
    xs, h, c, wx, wh, bias, pi, pf, po = (
        v.detach().numpy() for v in (x, h0, c0, w_x, w_h, b, p_i, p_f, p_o)
    )
    pi, pf, po = pi[:, None], pf[:, None], po[:, None]
    recurrent = w_h.detach()  # torch: its batched matmul beats numpy's on large batches
    steps, batch, width = xs.shape[0], xs.shape[1], wh.shape[1]
    pre = np.matmul(xs[:, :, None, :], wx) + bias[:, None]
    hs = np.empty((steps + 1, batch, 1, width), dtype=wh.dtype)
    cs = np.empty_like(hs)
    hs[0], cs[0] = h[:, None], c[:, None]
    for t in range(steps):
        z = pre[t] + torch.bmm(torch.from_numpy(hs[t]), recurrent).numpy()
        i = _sigmoid(z[..., :width] + pi * cs[t])
        f = _sigmoid(z[..., width : 2 * width] + pf * cs[t])
        g = np.tanh(z[..., 2 * width : 3 * width])
        c = f * cs[t] + i * g
        o = _sigmoid(z[..., 3 * width :] + po * c)
        hs[t + 1], cs[t + 1] = o * np.tanh(c), c
        if gates is not None:
            gates[t] = np.concatenate([i, f, g, o], axis=-1)
    return hs, cs


class LSTMPass(torch.autograd.Function):
    """States after every step of B one-layer LSTMs driven by fixed inputs, from a fixed start.

    ``apply(x, h0, c0, w_x, w_h, b, p_i, p_f, p_o)``: inputs x (T, B, in) and start state h0, c0
    (B, H) take no gradient; weights w_x (B, in, 4H), w_h (B, H, 4H), b (B, 4H) and peepholes
    p_* (B, H) (zeros for none) do. Returns h (T, B, H) and c (T, B, H).
    """

    @staticmethod
    def forward(ctx: Any, *inputs: Tensor) -> tuple[Tensor, Tensor]:  # type: ignore[override]
        xs, wh, pi, pf, po = (inputs[k].detach().numpy() for k in (0, 4, 6, 7, 8))
        acts = np.empty((*xs.shape[:2], 1, wh.shape[-1]), dtype=wh.dtype)
        hs, cs = run(*inputs, gates=acts)
        ctx.arrays = (xs, wh, pi[:, None], pf[:, None], po[:, None], hs, cs, acts)
        return torch.from_numpy(hs[1:, :, 0].copy()), torch.from_numpy(cs[1:, :, 0].copy())

    @staticmethod
    def backward(  # type: ignore[override]
        ctx: Any, grad_h: Tensor | None, grad_c: Tensor | None
    ) -> tuple[Tensor | None, ...]:
        xs, wh, pi, pf, po, hs, cs, acts = ctx.arrays
        steps, width = acts.shape[0], hs.shape[-1]
        gh, gc = (
            np.zeros_like(hs[1:]) if gr is None else gr.numpy()[:, :, None]
            for gr in (grad_h, grad_c)
        )
        whT = np.swapaxes(wh, 1, 2)
        dz = np.empty_like(acts)
        dh, dc = np.zeros_like(hs[0]), np.zeros_like(cs[0])
        for t in range(steps - 1, -1, -1):
            dh, dc = dh + gh[t], dc + gc[t]
            a = acts[t]
            i, f, g, o = (a[..., k * width : (k + 1) * width] for k in range(GATES))
            tc = np.tanh(cs[t + 1])
            dzo = dh * tc * o * (1.0 - o)
            dc = dc + dh * o * (1.0 - tc * tc) + dzo * po
            dzi = dc * g * i * (1.0 - i)
            dzf = dc * cs[t] * f * (1.0 - f)
            dzg = dc * i * (1.0 - g * g)
            dz[t] = np.concatenate([dzi, dzf, dzg, dzo], axis=-1)
            dc = dc * f + dzi * pi + dzf * pf
            dh = np.matmul(dz[t], whT)
        # weight gradients: sums over steps as products of (B, in|H, T) and (B, T, 4H)
        dzb = dz[:, :, 0].transpose(1, 0, 2)
        d_wx = np.matmul(xs.transpose(1, 2, 0), dzb)
        d_wh = np.matmul(hs[:-1, :, 0].transpose(1, 2, 0), dzb)
        d_peep = [
            np.einsum(
                "tbh,tbh->bh", dz[:, :, 0, k * width : (k + 1) * width], cs[s : steps + s, :, 0]
            )
            for k, s in ((0, 0), (1, 0), (3, 1))  # i and f see c(t-1), o sees c(t)
        ]
        grads = [d_wx, d_wh, dzb.sum(1), *d_peep]
        return (None, None, None, *(torch.from_numpy(g) for g in grads))
