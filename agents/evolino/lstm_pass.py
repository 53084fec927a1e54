"""Whole LSTM passes in one call each, with hand-written backward passes: Evolino's inner loops.

Autograd records some 25 small operations per time step of
:meth:`~evorl.agents.evolino.network.Runner.teacher_force` and
:meth:`~evorl.agents.evolino.network.Runner.free_run`; over the ~2,000 teacher-forced steps
and the free runs of a Mackey-Glass polish step that bookkeeping, not the arithmetic, is most
of the time. :class:`LSTMPass` (teacher forcing) and :class:`FreeRun` (outputs fed back as
inputs) run the same one-layer cell (forget gate, peepholes optional; the equations are in
:mod:`evorl.controllers.lstm`) through the compiled loops of
:mod:`~evorl.agents.evolino.lstm_kernels`, keep every step's gates, and backpropagate through
time by hand. Without gradients, :func:`run` and :func:`free_run` alone are the search's and
the final check's passes. The tests check values and gradients against autograd on the generic
step-by-step passes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from evorl.agents.evolino import lstm_kernels as kernels

GATES = 4
"""Gate blocks i, f, g, o along the last axis of ``w_x``, ``w_h``, ``b``."""


def _arrays(*tensors: Tensor) -> list[np.ndarray]:
    """C-contiguous numpy copies (or views) of tensors, as the kernels take them."""
    return [np.ascontiguousarray(t.detach().numpy()) for t in tensors]


def _zeros_like(arrays: list[np.ndarray]) -> tuple[np.ndarray, ...]:
    return tuple(np.zeros_like(a) for a in arrays)


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
    keep: dict[str, Any] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The forward pass (arguments as :class:`LSTMPass` takes them): states h and c
    (T + 1, B, H), the start first. What the backward needs goes to ``keep`` if given."""
    arrays = _arrays(x, h0, c0, w_x, w_h, b, p_i, p_f, p_o)
    (steps, batch), width = x.shape[:2], w_h.shape[1]
    hs = np.empty((steps + 1, batch, width), dtype=arrays[4].dtype)
    cs, acts = np.empty_like(hs), np.empty((steps, batch, GATES * width), dtype=hs.dtype)
    kernels.teacher_forward(*arrays, hs, cs, acts)
    if keep is not None:
        keep.update(arrays=arrays, hs=hs, cs=cs, acts=acts)
    return hs, cs


class LSTMPass(torch.autograd.Function):
    """States after every step of B one-layer LSTMs driven by fixed inputs, from a fixed start.

    ``apply(x, h0, c0, w_x, w_h, b, p_i, p_f, p_o)``: inputs x (T, B, in), start state h0, c0
    (B, H), weights w_x (B, in, 4H), w_h (B, H, 4H), b (B, 4H) and peepholes p_* (B, H) (zeros
    for none). Returns h (T, B, H) and c (T, B, H); everything but x takes a gradient.
    """

    @staticmethod
    def forward(ctx: Any, *inputs: Tensor) -> tuple[Tensor, Tensor]:  # type: ignore[override]
        ctx.keep = {}
        hs, cs = run(*inputs, keep=ctx.keep)
        return torch.from_numpy(hs[1:]), torch.from_numpy(cs[1:])

    @staticmethod
    def backward(  # type: ignore[override]
        ctx: Any, grad_h: Tensor | None, grad_c: Tensor | None
    ) -> tuple[Tensor | None, ...]:
        k = ctx.keep
        xs, _, _, wx, wh, _, pi, pf, po = k["arrays"]
        gh, gc = (
            np.zeros_like(k["hs"][1:]) if g is None else np.ascontiguousarray(g.numpy())
            for g in (grad_h, grad_c)
        )
        start, grads = _zeros_like(k["arrays"][1:3]), _zeros_like(k["arrays"][3:])
        states = (k["hs"], k["cs"], k["acts"])
        kernels.teacher_backward(xs, wx, wh, pi, pf, po, *states, gh, gc, *start, grads)
        return (None, *(torch.from_numpy(g) for g in (*start, *grads)))


def free_run(
    u0: Tensor,
    h0: Tensor,
    c0: Tensor,
    readout: Tensor,
    weights: tuple[Tensor, ...],
    steps: int,
    clip: float,
    layout: tuple[int, bool],
    keep: dict[str, Any] | None = None,
) -> np.ndarray:
    """Free running (arguments as :class:`FreeRun` takes them): outputs (steps, B, d). What
    the backward needs goes to ``keep`` if given."""
    arrays = _arrays(u0, h0, c0, readout, *weights)
    (batch, width), dtype = h0.shape, arrays[3].dtype
    ys = np.empty((steps, batch, readout.shape[-1]), dtype=dtype)
    hs, cs = np.empty((steps, batch, width), dtype=dtype), np.empty((steps, batch, width), dtype)
    acts = np.empty((max(steps - 1, 0), batch, GATES * width), dtype=dtype)
    kernels.free_forward(*arrays, float(clip), *layout, ys, hs, cs, acts)
    if keep is not None:
        keep.update(arrays=arrays, ys=ys, hs=hs, cs=cs, acts=acts)
    return ys


class FreeRun(torch.autograd.Function):
    """Outputs of B one-layer LSTMs run free, each output fed back as the next input.

    ``apply(u0, h0, c0, readout, w_x, w_h, b, p_i, p_f, p_o, steps, clip, layout)``: the
    networks' state h0, c0 (B, H) after their last input u0 (B, d), the readout (B, F + 1, d)
    on the features [h, c if ``layout[0]`` is 1 (tanh(c) if 2), u if ``layout[1]``, 1], the
    weights as :class:`LSTMPass` takes them. Output k is the readout of the state after k
    feedback steps, clipped to ±``clip`` (no gradient where it was clipped): (steps, B, d), as
    :meth:`~evorl.agents.evolino.network.Runner.free_run` returns. Everything but u0 takes a
    gradient.
    """

    @staticmethod
    def forward(ctx: Any, *inputs: Any) -> Tensor:  # type: ignore[override]
        u0, h0, c0, readout, *weights = inputs[:10]
        ctx.keep, (ctx.steps, ctx.clip, ctx.layout) = {}, inputs[10:]
        ys = free_run(u0, h0, c0, readout, tuple(weights), *inputs[10:], keep=ctx.keep)
        return torch.from_numpy(ys)

    @staticmethod
    def backward(ctx: Any, grad_y: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        k = ctx.keep
        u0, h0, c0, readout, wx, wh, _, pi, pf, po = k["arrays"]
        dh0, dc0, dw = _zeros_like([h0, c0, readout])
        grads = _zeros_like(k["arrays"][4:])
        kernels.free_backward(
            np.ascontiguousarray(grad_y.numpy()),
            *(u0, readout, wx, wh, pi, pf, po, float(ctx.clip), *ctx.layout),
            *(k["ys"], k["hs"], k["cs"], k["acts"], dh0, dc0, dw, grads),
        )
        out = (dh0, dc0, dw, *grads)
        return (None, *(torch.from_numpy(g) for g in out), None, None, None)
