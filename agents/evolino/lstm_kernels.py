"""Compiled loops (numba) of a one-layer LSTM run over many steps: teacher-forced and free
running, forward and backward through time.

These are the inner loops of Evolino's search and gradient polish
(:mod:`~evorl.agents.evolino.lstm_pass` wraps them for torch). They run one network at a time
and one step at a time, so Python's cost per operation, which dominates numpy and autograd at
Evolino's sizes (tens of cells, thousands of steps), is gone. The cell is the one of
:mod:`evorl.controllers.lstm` with a forget gate and peepholes (zeros for none): gate
pre-activations z = x W_x + h W_h + b in blocks i, f, g, o;

    i = σ(z_i + p_i ⊙ c),  f = σ(z_f + p_f ⊙ c),  g = tanh(z_g),
    c' = f ⊙ c + i ⊙ g,    o = σ(z_o + p_o ⊙ c'),  h' = o ⊙ tanh(c').

Shapes: steps first, then networks; weights per network (B, in | H, 4H). Every array argument
is C-contiguous and of one float type; outputs and gradients are written into arrays the caller
allocates, gradients accumulated (the caller zeroes them).
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, inline="always")
def _exp_neg(x: float, one: float) -> float:
    """exp(-x) with x clipped to ±40 (NaN stays NaN): a result that overflows, underflows or
    is subnormal sends libm down a path many times slower (saturated gates are common in
    evolved networks), and beyond ±40 the sigmoid and tanh below are 0 or ±1 within 5e-18."""
    limit = one * np.float32(40.0)  # in the type of one
    if x > limit:
        x = limit
    elif x < -limit:
        x = -limit
    return np.exp(-x)


@njit(cache=True, inline="always")
def _sigmoid(x: float, one: float) -> float:
    return one / (one + _exp_neg(x, one))


@njit(cache=True, inline="always")
def _tanh(x: float, one: float) -> float:
    """tanh by one exp: about 3 times faster than libm's tanh, the cost that bounds these
    loops; exact to a few units in the last place (absolute) near 0."""
    return (one + one) / (one + _exp_neg(x + x, one)) - one


@njit(cache=True, inline="always")
def _axpy(a, x, y):
    """y += a x (vectors), in place."""
    for j in range(y.shape[0]):
        y[j] += a * x[j]


@njit(cache=True, inline="always")
def _dot(x, y):
    s = 0.0
    for j in range(x.shape[0]):
        s += x[j] * y[j]
    return s


@njit(cache=True)
def _step(x, h, c, wx, wh, b, pi, pf, po, z, h_new, c_new, acts):
    """One cell step of one network: (x, h, c) → (h_new, c_new); squashed gates into ``acts``."""
    width, one = h.shape[0], z.dtype.type(1.0)
    z[:] = b
    for k in range(x.shape[0]):
        _axpy(x[k], wx[k], z)
    for k in range(width):
        _axpy(h[k], wh[k], z)
    for j in range(width):
        i = _sigmoid(z[j] + pi[j] * c[j], one)
        f = _sigmoid(z[width + j] + pf[j] * c[j], one)
        g = _tanh(z[2 * width + j], one)
        cj = f * c[j] + i * g
        o = _sigmoid(z[3 * width + j] + po[j] * cj, one)
        c_new[j], h_new[j] = cj, o * _tanh(cj, one)
        acts[j], acts[width + j], acts[2 * width + j], acts[3 * width + j] = i, f, g, o


@njit(cache=True)
def _step_grad(x, h, c, c_new, acts, wx, wh, pi, pf, po, dh, dc, dz, grads):
    """Backward of :func:`_step`: ``dh``, ``dc`` hold the gradients of its h_new, c_new and
    are overwritten with those of h, c; ``dz`` gets the gate gradients; the weight gradients
    ``grads`` = (d_wx, d_wh, d_b, d_pi, d_pf, d_po) are accumulated. Returns nothing; the
    gradient of x is ``dz @ wx.T`` (the caller's, where x takes one)."""
    d_wx, d_wh, d_b, d_pi, d_pf, d_po = grads
    width, one = h.shape[0], dz.dtype.type(1.0)
    for j in range(width):
        i, f, g, o = acts[j], acts[width + j], acts[2 * width + j], acts[3 * width + j]
        tc = _tanh(c_new[j], one)
        dzo = dh[j] * tc * o * (1.0 - o)
        dcj = dc[j] + dh[j] * o * (1.0 - tc * tc) + dzo * po[j]
        dzi = dcj * g * i * (1.0 - i)
        dzf = dcj * c[j] * f * (1.0 - f)
        dz[j], dz[width + j], dz[2 * width + j], dz[3 * width + j] = (
            dzi,
            dzf,
            dcj * i * (1 - g * g),
            dzo,
        )
        dc[j] = dcj * f + dzi * pi[j] + dzf * pf[j]
        d_pi[j] += dzi * c[j]
        d_pf[j] += dzf * c[j]
        d_po[j] += dzo * c_new[j]
    _axpy(1.0, dz, d_b)
    for k in range(x.shape[0]):
        _axpy(x[k], dz, d_wx[k])
    for k in range(width):
        _axpy(h[k], dz, d_wh[k])
        dh[k] = _dot(wh[k], dz)


@njit(cache=True)
def teacher_forward(xs, h0, c0, wx, wh, b, pi, pf, po, hs, cs, acts):
    """Inputs xs (T, B, in) from h0, c0 (B, H): states into hs, cs (T + 1, B, H), the start
    first, and the gates of every step into acts (T, B, 4H)."""
    z = np.empty(acts.shape[-1], dtype=acts.dtype)
    for n in range(xs.shape[1]):
        hs[0, n], cs[0, n] = h0[n], c0[n]
        for t in range(xs.shape[0]):
            args = (wx[n], wh[n], b[n], pi[n], pf[n], po[n], z)
            _step(xs[t, n], hs[t, n], cs[t, n], *args, hs[t + 1, n], cs[t + 1, n], acts[t, n])


@njit(cache=True)
def teacher_backward(xs, wx, wh, pi, pf, po, hs, cs, acts, gh, gc, dh0, dc0, grads):
    """Backward of :func:`teacher_forward` from the gradients gh, gc (T, B, H) of hs[1:],
    cs[1:]: the start state's into dh0, dc0 (B, H), the weights' (B, ...) accumulated into
    ``grads`` (as :func:`_step_grad`)."""
    dz = np.empty(acts.shape[-1], dtype=acts.dtype)
    dh, dc = np.empty(hs.shape[-1], dtype=hs.dtype), np.empty(hs.shape[-1], dtype=hs.dtype)
    for n in range(xs.shape[1]):
        dh[:], dc[:] = 0.0, 0.0
        mine = (grads[0][n], grads[1][n], grads[2][n], grads[3][n], grads[4][n], grads[5][n])
        for t in range(xs.shape[0] - 1, -1, -1):
            _axpy(1.0, gh[t, n], dh)
            _axpy(1.0, gc[t, n], dc)
            at = (xs[t, n], hs[t, n], cs[t, n], cs[t + 1, n], acts[t, n])
            _step_grad(*at, wx[n], wh[n], pi[n], pf[n], po[n], dh, dc, dz, mine)
        dh0[n], dc0[n] = dh, dc


@njit(cache=True)
def _read(w, h, c, u, clip, cells, inputs, y):
    """y = [h, g(c) if cells, u if inputs, 1] @ w, clipped to ±clip (NaN stays NaN); g(c) = c
    for cells == 1, tanh(c) for cells == 2."""
    width, rows = h.shape[0], w.shape[0] - 1
    y[:] = w[rows]
    for k in range(width):
        _axpy(h[k], w[k], y)
    off = width
    if cells:
        for k in range(width):
            _axpy(_tanh(c[k], h.dtype.type(1.0)) if cells == 2 else c[k], w[off + k], y)
        off += width
    if inputs:
        for k in range(u.shape[0]):
            _axpy(u[k], w[off + k], y)
    for j in range(y.shape[0]):
        if y[j] > clip:
            y[j] = clip
        elif y[j] < -clip:
            y[j] = -clip


@njit(cache=True)
def free_forward(u0, h0, c0, w, wx, wh, b, pi, pf, po, clip, cells, inputs, ys, hs, cs, acts):
    """Free runs of B networks from the state h0, c0 (B, H) after the input u0 (B, d): output
    k into ys[k] (steps, B, d) is the readout w (B, F + 1, d) of the state after k feedback
    steps; states into hs, cs (steps, B, H), gates into acts (steps - 1, B, 4H)."""
    z = np.empty(4 * h0.shape[1], dtype=hs.dtype)
    for n in range(u0.shape[0]):
        hs[0, n], cs[0, n] = h0[n], c0[n]
        _read(w[n], hs[0, n], cs[0, n], u0[n], clip, cells, inputs, ys[0, n])
        for k in range(1, ys.shape[0]):
            args = (wx[n], wh[n], b[n], pi[n], pf[n], po[n], z)
            _step(
                ys[k - 1, n], hs[k - 1, n], cs[k - 1, n], *args, hs[k, n], cs[k, n], acts[k - 1, n]
            )
            _read(w[n], hs[k, n], cs[k, n], ys[k - 1, n], clip, cells, inputs, ys[k, n])


@njit(cache=True)
def free_backward(
    gy, u0, w, wx, wh, pi, pf, po, clip, cells, inputs, ys, hs, cs, acts, dh0, dc0, dw, grads
):
    """Backward of :func:`free_forward` from the gradients gy (steps, B, d) of ys (none where
    an output was clipped): the start state's into dh0, dc0 (B, H), the readout's accumulated
    into dw, the weights' into ``grads`` (as :func:`_step_grad`)."""
    width, d = hs.shape[-1], ys.shape[-1]
    rows, one = w.shape[1] - 1, hs.dtype.type(1.0)
    dz = np.empty(4 * width, dtype=hs.dtype)
    dh, dc = np.empty(width, dtype=hs.dtype), np.empty(width, dtype=hs.dtype)
    dy, du, gp = (
        np.empty(d, dtype=hs.dtype),
        np.empty(d, dtype=hs.dtype),
        np.empty(d, dtype=hs.dtype),
    )
    for n in range(u0.shape[0]):
        dh[:], dc[:], dy[:] = 0.0, 0.0, 0.0
        mine = (grads[0][n], grads[1][n], grads[2][n], grads[3][n], grads[4][n], grads[5][n])
        for k in range(ys.shape[0] - 1, -1, -1):  # dy: gradient of output k through later steps
            for j in range(d):
                gp[j] = gy[k, n, j] + dy[j] if abs(ys[k, n, j]) < clip else 0.0
            u = ys[k - 1, n] if k else u0[n]
            _axpy(1.0, gp, dw[n, rows])
            for q in range(width):
                _axpy(hs[k, n, q], gp, dw[n, q])
                dh[q] += _dot(w[n, q], gp)
            off = width
            if cells:
                for q in range(width):
                    feat, slope = cs[k, n, q], one
                    if cells == 2:
                        feat = _tanh(feat, one)
                        slope = one - feat * feat
                    _axpy(feat, gp, dw[n, off + q])
                    dc[q] += slope * _dot(w[n, off + q], gp)
                off += width
            du[:] = 0.0
            if inputs:
                for q in range(d):
                    _axpy(u[q], gp, dw[n, off + q])
                    du[q] = _dot(w[n, off + q], gp)
            if k == 0:
                break
            at = (ys[k - 1, n], hs[k - 1, n], cs[k - 1, n], cs[k, n], acts[k - 1, n])
            _step_grad(*at, wx[n], wh[n], pi[n], pf[n], po[n], dh, dc, dz, mine)
            for q in range(d):
                dy[q] = _dot(wx[n, q], dz) + du[q]
        dh0[n], dc0[n] = dh, dc
