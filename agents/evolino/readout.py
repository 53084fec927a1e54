"""Evolino's linear readout: the optimal linear map from hidden-state features to targets.

Schmidhuber, Wierstra, Gagliolo & Gomez, "Training recurrent networks by Evolino", Neural
Computation 19(3), 2007, sec. 3: the output weights are not evolved; for each network they are
computed from the activations Φ collected over the training sequence (after a washout) by the
Moore-Penrose pseudo-inverse, W = Φ⁺ Y, the minimum-norm least-squares solution. A ridge term
(Tikhonov; Jaeger's ESN practice) trades a little training error for smaller, more stable
weights in free-running generation. A QR solution with a vanishing ridge gives the same W,
differentiably, and stays finite for rank-deficient features (the gradient polish needs both).
"""

from __future__ import annotations

import torch


def add_bias(phi: torch.Tensor) -> torch.Tensor:
    """Append a constant-1 feature: (..., n, F) -> (..., n, F + 1)."""
    return torch.cat([phi, phi.new_ones((*phi.shape[:-1], 1))], dim=-1)


def solve_readout(phi: torch.Tensor, target: torch.Tensor, ridge: float = 0.0) -> torch.Tensor:
    """Least-squares readout W minimising ‖Φ W - Y‖² (+ ridge ‖W‖²), batched.

    Args:
        phi: Features (n, F) or (B, n, F) (include a bias column yourself, see :func:`add_bias`).
        target: Targets (n, d) or (B, n, d).
        ridge: 0 gives the pseudo-inverse solution Φ⁺ Y (LAPACK gelsd: SVD, minimum norm, also
            for rank-deficient Φ); > 0 solves (ΦᵀΦ + ridge·I) W = ΦᵀY.

    Returns:
        W, (F, d) or (B, F, d), in phi's dtype.

    Example:
        >>> phi = add_bias(torch.randn(50, 3, dtype=torch.float64))
        >>> w = solve_readout(phi, phi @ torch.ones(4, 1, dtype=torch.float64))
        >>> bool(torch.allclose(w, torch.ones(4, 1, dtype=torch.float64)))
        True
    """
    if ridge < 0:
        raise ValueError(f"ridge must be >= 0, got {ridge}")
    target = target.to(phi.dtype)
    if ridge == 0:
        return torch.linalg.lstsq(phi, target, driver="gelsd").solution
    gram = phi.transpose(-1, -2) @ phi
    eye = torch.eye(gram.shape[-1], dtype=phi.dtype)
    return torch.linalg.solve(gram + ridge * eye, phi.transpose(-1, -2) @ target)


def solve_readout_qr(phi: torch.Tensor, target: torch.Tensor, jitter: float = 1e-7) -> torch.Tensor:
    """The least-squares readout by QR factorisation, differentiable in Φ.

    Solves the ridge problem min ‖Φ W - Y‖² + λ‖W‖² as the least-squares problem of Φ stacked
    on √λ·I (targets stacked on zeros), W = R⁻¹ Qᵀ Y, with √λ = ``jitter`` times Φ's RMS
    column norm. The stacked matrix has full column rank, so W and its gradient stay moderate
    when Φ's do not: a memory cell saturated over the whole sequence gives a constant feature,
    collinear with the bias, and plain QR then gives huge or infinite weights and a NaN
    gradient. Where Φ's singular values are far above √λ, W equals the pseudo-inverse solution
    of :func:`solve_readout` to relative order (√λ/σ)². Autograd through it gives the gradient
    of a loss that depends on the readout as well as on Φ (:mod:`~evorl.agents.evolino.polish`).

    Args:
        phi: Features (n, F) or (B, n, F), bias column included.
        target: Targets (n, d) or (B, n, d).
        jitter: √λ relative to Φ's RMS column norm (0: plain QR).
    """
    n, features = phi.shape[-2], phi.shape[-1]
    scale = jitter * phi.detach().pow(2).sum(-2).mean(-1).sqrt()  # () or (B,)
    root = torch.eye(features, dtype=phi.dtype) * scale[..., None, None]
    q, r = torch.linalg.qr(torch.cat([phi, root.expand(*phi.shape[:-2], -1, -1)], dim=-2))
    qt_y = q[..., :n, :].transpose(-1, -2) @ target.to(phi.dtype)  # the zero targets add nothing
    return torch.linalg.solve_triangular(r, qt_y, upper=True)


def apply_readout(phi: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Outputs Φ W for features without the bias column: (B, F) with W (B, F + 1, d) -> (B, d)."""
    return torch.baddbmm(w[:, -1:, :], phi.unsqueeze(1), w[:, :-1, :]).squeeze(1)
