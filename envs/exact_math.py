"""numpy array versions of the scalar math Gymnasium's classic-control envs do, bit for bit.

Gymnasium's classic-control envs compute on numpy *scalars* (``np.float64``, ``np.float32``) and
Python floats; evorl's vector envs compute the same expressions on arrays. Elementwise IEEE
arithmetic (``+ - * /``, comparisons, ``np.clip``, ``%``) gives the same bits either way, and so
do ``np.cos``/``np.sin`` (an array runs the same loop as a scalar; :func:`trig_is_elementwise_exact`
and its float32 and ``math.cos`` siblings check it on the running machine, and the envs fall back
to scalar calls if a check fails). Two things do not carry over and are handled here:

* **Squares.** ``x ** 2`` of a numpy scalar calls the C library's ``pow(x, 2.0)`` (``powf`` for
  float32), which is not correctly rounded: glibc 2.36's ``pow`` returns the other neighbour of
  ``x * x`` for about 1 in 1,200 random doubles (``powf``: 1 in 1,300 floats), while an array's
  ``x ** 2`` is the correctly rounded ``x * x`` (and ``np.power`` with an array exponent uses yet
  another SIMD ``pow``). The two can only differ where the exact square lies near the midpoint
  between two representable numbers, because ``pow``'s error is barely above half an ulp (see
  :data:`MIDPOINT_MARGIN`). :func:`square_like_scalar` computes ``x * x``, reads how far the
  exact square is from that midpoint (the bits below the result's precision of the x87 80-bit
  product, or of the exact float64 square of a float32; elsewhere the error of ``x * x`` in
  quad precision or by Dekker's exact product), and calls the scalar ``pow`` for the elements
  within :data:`MIDPOINT_MARGIN` ulp of it (about 10%). :func:`pow_squares_are_exact` probes
  the rule on the running machine at import (a check, not a proof, for a C library other than
  glibc's), and the scalar loop is used for everything if it fails.
* **Weak Python scalars.** ``np.float32(a) * 0.0015`` is a float32 operation (NEP 50), and so is
  ``float32_array * 0.0015``; the vector envs keep float32 quantities in float32 arrays so that
  the same promotion happens.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable

import numpy as np

MIDPOINT_MARGIN = 0.05
"""Squares whose exact value lies within this many ulps of a rounding midpoint are computed by
the scalar ``pow``. glibc's ``pow`` (Arm's optimized-routines, glibc >= 2.28) errs by at most
0.54 ulp (0.511 from its ``exp`` plus 0.03 from its ``log`` at the largest exponents), so it
rounds any square at least 0.04 ulp from a midpoint as ``x * x`` does; the differences measured
(2,533 in 3 million random doubles) all lay within 0.006 ulp of a midpoint."""

_SPLIT = 134217729.0  # 2**27 + 1, Veltkamp's splitting constant for float64
_EXTENDED = np.finfo(np.longdouble).nmant >= 63  # x87 80-bit or quad: x * x to ~2**-64


def elementwise_exact(
    array_fn: Callable[[np.ndarray], np.ndarray],
    scalar_fn: Callable[[object], object],
    values: np.ndarray,
) -> bool:
    """Whether ``array_fn(values)`` (contiguous and strided) equals ``scalar_fn`` element by
    element, bit for bit (NaNs equal)."""
    values = np.asarray(values)
    scalars = np.array([scalar_fn(v) for v in values], dtype=values.dtype)
    strided = np.stack([values, values], axis=1)[:, 0]
    return all(
        np.array_equal(array_fn(x).astype(values.dtype), scalars, equal_nan=True)
        for x in (values, strided)
    )


def _probe_values(dtype: type, count: int, seed: int, scale: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    special = [
        0.0,
        -0.0,
        1.0,
        -2.0,
        0.5,
        1e-300,
        3e200,
        np.inf,
        np.nan,
        2.0**-75,
        12.566370614359172,
    ]
    values = np.concatenate(
        [rng.uniform(-1.0, 1.0, count), scale * rng.standard_normal(count), special]
    )
    with np.errstate(over="ignore"):
        return values.astype(dtype)


def _trig_probes(num_probes: int, seed: int) -> np.ndarray:
    """Random angles in [-1, 1] rad and over about ±50 rad, plus a few special values."""
    values = _probe_values(np.float64, num_probes, seed, 25.0)
    return values[np.abs(values) < 1e6]


def trig_is_elementwise_exact(num_probes: int = 1024, seed: int = 12345) -> bool:
    """Whether float64 ``np.cos``/``np.sin`` of an array (contiguous or strided) equal the numpy
    scalar calls bit for bit (numpy 2.x: the same C library loop)."""
    values = _trig_probes(num_probes, seed)
    return all(elementwise_exact(fn, lambda v, f=fn: f(np.float64(v)), values) for fn in _TRIG)


def float32_trig_is_elementwise_exact(num_probes: int = 1024, seed: int = 12345) -> bool:
    """The same for float32 (Acrobot's float32 start state is observed through them)."""
    values = _trig_probes(num_probes, seed).astype(np.float32)
    return all(elementwise_exact(fn, lambda v, f=fn: f(np.float32(v)), values) for fn in _TRIG)


def numpy_trig_equals_math(num_probes: int = 1024, seed: int = 12345) -> bool:
    """Whether float64 ``np.cos``/``np.sin`` equal ``math.cos``/``math.sin`` bit for bit
    (MountainCar calls ``math.cos``)."""
    values = _trig_probes(num_probes, seed)
    return elementwise_exact(np.cos, math.cos, values) and elementwise_exact(
        np.sin, math.sin, values
    )


_TRIG = (np.cos, np.sin)


def _square_scalar(x: np.ndarray) -> np.ndarray:
    """The numpy scalar ``v ** 2`` of every element (libm ``pow``/``powf``), in ``x``'s dtype.

    A Python float's ``v ** 2`` calls the same ``pow`` as ``np.float64(v) ** 2``, faster."""
    if x.dtype == np.float64:
        try:
            return np.array([v**2 for v in x.tolist()], dtype=np.float64)
        except OverflowError:  # Python raises where libm returns inf
            pass
    return np.array([v**2 for v in x], dtype=x.dtype)  # iterating gives numpy scalars


def _near_midpoint64(x: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Indices where ``x * x`` (exact) is within :data:`MIDPOINT_MARGIN` ulp of a rounding
    midpoint of ``p = fl(x * x)``, or where ``p`` is zero, subnormal, infinite or NaN."""
    if _X87:  # the 11 significand bits of the 80-bit product below double's 53
        wide = x.astype(np.longdouble)
        wide *= wide
        rest = wide.view(np.uint64)[::2] & np.uint64(0x7FF)
        rest -= np.uint64(0x400 - _WINDOW64)  # wraps around below the window
        risky = rest < np.uint64(2 * _WINDOW64)
    else:
        if _EXTENDED:  # quad precision: the error of p directly
            err = x.astype(np.longdouble)
            err *= err
            err -= p
        else:  # Dekker's exact product: x * x == p + err exactly (no overflow for |x| < 2**500)
            c = _SPLIT * x
            hi = c - (c - x)
            lo = x - hi
            err = ((hi * hi - p) + 2.0 * hi * lo) + lo * lo
        below = p - np.nextafter(p, 0.0)  # the smaller spacing around p (half at powers of two)
        below *= 0.5 - MIDPOINT_MARGIN
        risky = ~(np.abs(err) < below)  # True for NaN and zero
    risky |= ~(p >= _TINY64)  # zero, subnormal, NaN
    return np.flatnonzero(risky)


def _near_midpoint32(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``fl32(x * x)`` of float32 ``x``, and the indices where it may differ from
    ``powf(x, 2)``: the 29 significand bits of the exact (float64) square below float32's 24
    are near a midpoint, or the result is zero, subnormal or NaN."""
    exact = x.astype(np.float64)
    exact *= exact  # 48 significant bits: exact in float64
    p = exact.astype(np.float32)
    bits = exact.view(np.uint64)
    rest = bits & np.uint64(2**29 - 1)
    rest -= np.uint64(2**28 - _WINDOW32)  # wraps around below the window
    risky = rest < np.uint64(2 * _WINDOW32)
    exponent = bits >> np.uint64(52)  # with the sign bit: negative values (NaN) fall outside
    exponent -= np.uint64(1023 - 18)
    risky |= exponent > np.uint64(36)  # outside [2**-18, 2**19): see _RANGE32; NaN, inf
    return p, np.flatnonzero(risky)


_X87 = np.finfo(np.longdouble).nmant == 63 and np.dtype(np.longdouble).itemsize == 16
_X87 = _X87 and sys.byteorder == "little"  # x86-64: significand in the first 8 bytes
_WINDOW64 = int(MIDPOINT_MARGIN * 2**11)
_WINDOW32 = int(MIDPOINT_MARGIN * 2**29)
_TINY64 = np.finfo(np.float64).smallest_normal
_RANGE32 = (2.0**-18, 2.0**19)
"""Squares of float32 whose ``powf`` error is proven below ``0.5 + MIDPOINT_MARGIN`` ulp: glibc's
``powf`` (Arm's optimized-routines, glibc >= 2.28) errs by at most about
``0.5 + 0.0017 + 0.005 * |log2 x|`` ulp, so |x| in [2**-9, 2**9.5); the rest take the scalar
path."""


def _square_fast(x: np.ndarray) -> np.ndarray:
    if x.dtype == np.float32:
        p, risky = _near_midpoint32(x)
    else:
        p = x * x
        risky = _near_midpoint64(x, p)
    if risky.size:
        p[risky] = _square_scalar(x[risky])
    return p


def pow_squares_are_exact(num_probes: int = 4096, seed: int = 2024) -> bool:
    """Whether the midpoint rule of :func:`square_like_scalar` reproduces the numpy scalar
    ``v ** 2`` on this machine (float64 and float32), probed on random and special values."""
    with np.errstate(all="ignore"):
        for dtype in (np.float64, np.float32):
            values = _probe_values(dtype, num_probes, seed, 30.0)
            if not np.array_equal(_square_fast(values), _square_scalar(values), equal_nan=True):
                return False
    return True


_FAST_SQUARES = pow_squares_are_exact()


def square_like_scalar(x: np.ndarray) -> np.ndarray:
    """``x ** 2`` elementwise with the bits of the numpy scalar ``v ** 2`` (libm ``pow``).

    Args:
        x: A 1-D float64 or float32 array.

    Returns:
        A new array of ``x``'s dtype (numpy warns of overflow as the scalar ``**`` does).
    """
    return _square_fast(x) if _FAST_SQUARES else _square_scalar(x)


def clip(x: np.ndarray, low: float, high: float, out: np.ndarray | None = None) -> np.ndarray:
    """``np.clip(x, low, high)`` without its Python wrapper (a few microseconds per call, more
    than the arithmetic on a few hundred elements): ``minimum(maximum(x, low), high)``, which is
    how numpy's clip ufunc is defined (NaN propagates, Python bounds are weak scalars)."""
    out = np.maximum(x, low, out=out)
    return np.minimum(out, high, out=out)
